#pragma once
// The Communicator over MPI (Open MPI on Debian), for CPU ranks started with
// `mpirun -np N`. Collectives return MPI's errors instead of aborting inside
// the library (MPI_ERRORS_RETURN), and each one runs under a watchdog: a
// collective that waits longer than the timeout prints which one, on which
// rank, and ends the whole job, so a rank that hangs or died cannot leave the
// others waiting forever. (A rank that exits or is killed is also noticed by
// mpirun itself, which then ends the others and names the rank.)
#include <chrono>
#include <memory>

#include "dist/communicator.h"

namespace torchless::dist {

class Watchdog;

class MpiCommunicator final : public Communicator {
 public:
  /// MPI_Init_thread on MPI_COMM_WORLD (once per process). `timeout` bounds
  /// every collective. Throws CommError if MPI cannot start, or
  /// std::runtime_error if this build has no MPI.
  explicit MpiCommunicator(std::chrono::milliseconds timeout);
  /// MPI_Finalize: every rank must get here (after a failure, call abort()).
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override;
  void all_reduce_sum(float* data, size_t n, const char* what) override;
  void all_reduce_sum(double* data, size_t n, const char* what) override;
  void broadcast(float* data, size_t n, int root, const char* what) override;
  void broadcast_bytes(void* data, size_t n, int root, const char* what) override;
  void barrier(const char* what) override;
  [[noreturn]] void abort(int code) override;

 private:
  int rank_ = 0, size_ = 1;
  bool thread_multiple_ = false;  // MPI_Abort may be called from the watchdog's thread
  uint64_t calls_ = 0;            // numbers the collectives in messages
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace torchless::dist
