#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dist/watchdog.h"

namespace torchless::dist {
namespace {

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(len));
}

// MPI counts are int: a longer buffer goes in pieces.
template <typename F>
void in_chunks(size_t n, F&& f) {
  size_t at = 0;
  do {
    const size_t count = std::min<size_t>(INT_MAX, n - at);
    f(at, static_cast<int>(count));
    at += count;
  } while (at < n);
}

}  // namespace

MpiCommunicator::MpiCommunicator(std::chrono::milliseconds timeout) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) throw CommError("MPI: already initialised in this process");
  int provided = 0;
  // MULTIPLE so that the watchdog's thread may call MPI_Abort while the main
  // thread waits inside a collective.
  if (const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided); rc != MPI_SUCCESS)
    throw CommError("MPI_Init_thread failed: " + mpi_error_text(rc));
  thread_multiple_ = provided >= MPI_THREAD_MULTIPLE;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  watchdog_ = std::make_unique<Watchdog>(timeout, [this](const char* what, uint64_t seq, double waited) {
    std::fprintf(stderr,
                 "torchless: rank %d of %d: the %s (collective #%llu) has waited %.1f s for the other ranks "
                 "(limit %.1f s, --dist-timeout): a rank died, hung, or is not running the same steps; "
                 "ending the job\n",
                 rank_, size_, what, static_cast<unsigned long long>(seq), waited,
                 static_cast<double>(watchdog_->timeout().count()) / 1000.0);
    std::fflush(stderr);
    if (thread_multiple_) MPI_Abort(MPI_COMM_WORLD, 1);
    // Without MPI_THREAD_MULTIPLE: mpirun ends the job when a rank exits
    // with a failure status before MPI_Finalize.
    std::_Exit(1);
  });
}

MpiCommunicator::~MpiCommunicator() {
  watchdog_.reset();
  MPI_Finalize();
}

std::string MpiCommunicator::name() const {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, static_cast<size_t>(len));
  if (const size_t cut = v.find(','); cut != std::string::npos) v.resize(cut);
  return "MPI (" + v + ")";
}

#define TORCHLESS_MPI_CALL(call, what)                                                                      \
  do {                                                                                                      \
    const int rc_ = (call);                                                                                 \
    if (rc_ != MPI_SUCCESS)                                                                                 \
      throw CommError("rank " + std::to_string(rank_) + ": the " + (what) + " (collective #" +              \
                      std::to_string(calls_) + ", " #call ") failed: " + mpi_error_text(rc_));              \
  } while (0)

void MpiCommunicator::all_reduce_sum(float* data, size_t n, const char* what) {
  const WatchdogScope guard(watchdog_.get(), what, ++calls_);
  in_chunks(n, [&](size_t at, int count) {
    TORCHLESS_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, data + at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), what);
  });
}

void MpiCommunicator::all_reduce_sum(double* data, size_t n, const char* what) {
  const WatchdogScope guard(watchdog_.get(), what, ++calls_);
  in_chunks(n, [&](size_t at, int count) {
    TORCHLESS_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, data + at, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), what);
  });
}

void MpiCommunicator::broadcast(float* data, size_t n, int root, const char* what) {
  const WatchdogScope guard(watchdog_.get(), what, ++calls_);
  in_chunks(n, [&](size_t at, int count) {
    TORCHLESS_MPI_CALL(MPI_Bcast(data + at, count, MPI_FLOAT, root, MPI_COMM_WORLD), what);
  });
}

void MpiCommunicator::broadcast_bytes(void* data, size_t n, int root, const char* what) {
  const WatchdogScope guard(watchdog_.get(), what, ++calls_);
  char* bytes = static_cast<char*>(data);
  in_chunks(n, [&](size_t at, int count) {
    TORCHLESS_MPI_CALL(MPI_Bcast(bytes + at, count, MPI_BYTE, root, MPI_COMM_WORLD), what);
  });
}

void MpiCommunicator::barrier(const char* what) {
  const WatchdogScope guard(watchdog_.get(), what, ++calls_);
  TORCHLESS_MPI_CALL(MPI_Barrier(MPI_COMM_WORLD), what);
}

void MpiCommunicator::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; should it, end this rank anyway
}

}  // namespace torchless::dist
