#pragma once
// The Communicator over NCCL, for GPU ranks: one rank per GPU, started by
// mpirun like the CPU ranks; the MPI communicator bootstraps it (rank 0's
// ncclUniqueId is broadcast over MPI). Buffers passed to the collectives are
// GPU memory. Built when the CUDA backend is and NCCL is found
// (nccl_built()); this header needs no CUDA headers.
//
// A collective is enqueued on the communicator's stream and waited for with a
// deadline (dist/nccl_host.h's poll_until over cudaStreamQuery and
// ncclCommGetAsyncError): when it fails or times out, the NCCL communicator
// is aborted (ncclCommAbort) and CommError names the collective.
#include <chrono>
#include <memory>

#include "dist/communicator.h"

namespace torchless::dist {

/// Whether this build has the NCCL communicator.
bool nccl_built();

class NcclCommunicator final : public Communicator {
 public:
  /// Joins every rank of `bootstrap` (collective over it) on GPU `device`
  /// (see nccl_device_for). `bootstrap` must outlive this. Throws CommError
  /// (NCCL or CUDA failed), or std::runtime_error when this build has no NCCL.
  NcclCommunicator(Communicator& bootstrap, int device, std::chrono::milliseconds timeout);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override;
  int size() const override;
  std::string name() const override;
  /// `data` is device memory, as for every collective here.
  void all_reduce_sum(float* data, size_t n, const char* what) override;
  void all_reduce_sum(double* data, size_t n, const char* what) override;
  void broadcast(float* data, size_t n, int root, const char* what) override;
  void broadcast_bytes(void* data, size_t n, int root, const char* what) override;
  /// An all-reduce of one float on the device.
  void barrier(const char* what) override;
  /// ncclCommAbort, then the bootstrap communicator's abort.
  [[noreturn]] void abort(int code) override;
  /// The cudaStream_t the collectives run on (work enqueued on it before a
  /// collective is ordered before it).
  void* stream() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace torchless::dist
