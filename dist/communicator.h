#pragma once
// The seam between data-parallel training and the library that moves its
// numbers between processes: MPI for CPU ranks (dist/mpi_communicator.h),
// NCCL for GPU ranks (dist/nccl_communicator.h). Training code sees only this
// interface, so it never depends on a transport; there is no transport of
// torchless's own.
//
// Every collective must be called by every rank, in the same order, with the
// same count. `what` names the call in error and timeout messages ("gradient
// all-reduce"); it must outlive the call (a string literal).
#include <cstddef>
#include <stdexcept>
#include <string>

namespace torchless::dist {

/// A collective failed (the library reported an error) or timed out.
class CommError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process's rank, 0 <= rank() < size().
  virtual int rank() const = 0;
  /// The number of ranks in the job.
  virtual int size() const = 0;
  /// "MPI (Open MPI v4.1.4)", "NCCL 2.27.3": for messages.
  virtual std::string name() const = 0;

  /// In place: data[i] becomes the sum of every rank's data[i]. Throws CommError.
  virtual void all_reduce_sum(float* data, size_t n, const char* what) = 0;
  /// The same for doubles (counts and sums that must be exact). Throws CommError.
  virtual void all_reduce_sum(double* data, size_t n, const char* what) = 0;
  /// Every rank's data[0..n) becomes `root`'s. Throws CommError.
  virtual void broadcast(float* data, size_t n, int root, const char* what) = 0;
  /// The same for raw bytes. Throws CommError.
  virtual void broadcast_bytes(void* data, size_t n, int root, const char* what) = 0;
  /// Returns once every rank has called it. Throws CommError.
  virtual void barrier(const char* what) = 0;
  /// Ends every rank of the job now with exit status `code`, after this
  /// rank's error has been printed. Does not return.
  [[noreturn]] virtual void abort(int code) = 0;
};

}  // namespace torchless::dist
