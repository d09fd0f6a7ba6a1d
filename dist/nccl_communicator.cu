// The NCCL communicator (see nccl_communicator.h). Host code only: no
// kernels, the collectives are NCCL's.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "dist/nccl_communicator.h"
#include "dist/nccl_host.h"

namespace torchless::dist {

bool nccl_built() { return true; }

struct NcclCommunicator::Impl {
  Communicator& bootstrap;
  int device = 0;
  std::chrono::milliseconds timeout;
  int rank = 0, size = 1;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  float* scratch = nullptr;  // the barrier's one float
  uint64_t calls = 0;

  Impl(Communicator& b, int d, std::chrono::milliseconds t) : bootstrap(b), device(d), timeout(t) {}

  ~Impl() {
    if (comm) {
      ncclCommFinalize(comm);
      ncclResult_t async = ncclInProgress;
      // Finalising flushes outstanding work; bounded like any collective.
      const PollState s = poll_until(
          [&] {
            if (ncclCommGetAsyncError(comm, &async) != ncclSuccess) return PollState::kFailed;
            return async == ncclInProgress ? PollState::kPending
                                           : (async == ncclSuccess ? PollState::kDone : PollState::kFailed);
          },
          timeout);
      if (s == PollState::kDone)
        ncclCommDestroy(comm);
      else
        ncclCommAbort(comm);
    }
    if (scratch) cudaFree(scratch);
    if (stream) cudaStreamDestroy(stream);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::string where(const char* what) const {
    return "rank " + std::to_string(rank) + ": the " + what + " (NCCL collective #" + std::to_string(calls) + ")";
  }

  [[noreturn]] void fail(const char* what, const std::string& why) {
    // After an error or a timeout the communicator's state is unknown:
    // abort it so that no later call waits on it.
    if (comm) ncclCommAbort(comm);
    comm = nullptr;
    throw CommError(where(what) + " " + why);
  }

  void check(ncclResult_t r, const char* what, const char* call) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    const char* last = comm ? ncclGetLastError(comm) : nullptr;
    fail(what, std::string("failed in ") + call + ": " + ncclGetErrorString(r) + (last && *last ? std::string(" (") + last + ")" : ""));
  }

  void check(cudaError_t e, const char* what, const char* call) {
    if (e != cudaSuccess) fail(what, std::string("failed in ") + call + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  }

  // Waits for what was enqueued on the stream (and, on a non-blocking
  // communicator, for NCCL to finish enqueueing it) until the deadline.
  void wait(const char* what) {
    ncclResult_t async = ncclSuccess;
    cudaError_t cuda = cudaSuccess;
    const PollState s = poll_until(
        [&] {
          if (ncclCommGetAsyncError(comm, &async) != ncclSuccess) return PollState::kFailed;
          if (async == ncclInProgress) return PollState::kPending;
          if (async != ncclSuccess) return PollState::kFailed;
          cuda = cudaStreamQuery(stream);
          if (cuda == cudaSuccess) return PollState::kDone;
          return cuda == cudaErrorNotReady ? PollState::kPending : PollState::kFailed;
        },
        timeout);
    if (s == PollState::kDone) return;
    if (s == PollState::kPending)
      fail(what, "did not finish within " + std::to_string(timeout.count() / 1000.0) +
                     " s (--dist-timeout): a rank died, hung, or is not running the same steps");
    if (async != ncclSuccess && async != ncclInProgress)
      fail(what, std::string("failed: ") + ncclGetErrorString(async));
    check(cuda, what, "cudaStreamQuery");
    fail(what, "failed");
  }
};

NcclCommunicator::NcclCommunicator(Communicator& bootstrap, int device, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(bootstrap, device, timeout)) {
  Impl& m = *impl_;
  m.rank = bootstrap.rank();
  m.size = bootstrap.size();
  const char* what = "NCCL bootstrap";
  ncclUniqueId id{};
  if (m.rank == 0) m.check(ncclGetUniqueId(&id), what, "ncclGetUniqueId");
  bootstrap.broadcast_bytes(&id, sizeof id, 0, what);
  m.check(cudaSetDevice(device), what, "cudaSetDevice");
  m.check(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), what, "cudaStreamCreateWithFlags");
  m.check(cudaMalloc(reinterpret_cast<void**>(&m.scratch), sizeof(float)), what, "cudaMalloc");
  // Non-blocking: a rank that never joins cannot hang the others inside
  // ncclCommInitRank; wait() gives up at the deadline.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  m.check(ncclCommInitRankConfig(&m.comm, m.size, id, m.rank, &config), what, "ncclCommInitRankConfig");
  m.wait(what);
}

// Impl's destructor releases what the constructor got, also when it throws half-way.
NcclCommunicator::~NcclCommunicator() = default;

int NcclCommunicator::rank() const { return impl_->rank; }
int NcclCommunicator::size() const { return impl_->size; }
void* NcclCommunicator::stream() const { return impl_->stream; }

std::string NcclCommunicator::name() const {
  int v = 0;
  ncclGetVersion(&v);
  return "NCCL " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

void NcclCommunicator::all_reduce_sum(float* data, size_t n, const char* what) {
  Impl& m = *impl_;
  ++m.calls;
  m.check(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, m.comm, m.stream), what, "ncclAllReduce");
  m.wait(what);
}

void NcclCommunicator::all_reduce_sum(double* data, size_t n, const char* what) {
  Impl& m = *impl_;
  ++m.calls;
  m.check(ncclAllReduce(data, data, n, ncclFloat64, ncclSum, m.comm, m.stream), what, "ncclAllReduce");
  m.wait(what);
}

void NcclCommunicator::broadcast(float* data, size_t n, int root, const char* what) {
  Impl& m = *impl_;
  ++m.calls;
  m.check(ncclBroadcast(data, data, n, ncclFloat32, root, m.comm, m.stream), what, "ncclBroadcast");
  m.wait(what);
}

void NcclCommunicator::broadcast_bytes(void* data, size_t n, int root, const char* what) {
  Impl& m = *impl_;
  ++m.calls;
  m.check(ncclBroadcast(data, data, n, ncclUint8, root, m.comm, m.stream), what, "ncclBroadcast");
  m.wait(what);
}

void NcclCommunicator::barrier(const char* what) {
  Impl& m = *impl_;
  ++m.calls;
  m.check(ncclAllReduce(m.scratch, m.scratch, 1, ncclFloat32, ncclSum, m.comm, m.stream), what, "ncclAllReduce");
  m.wait(what);
}

void NcclCommunicator::abort(int code) {
  if (impl_->comm) ncclCommAbort(impl_->comm);
  impl_->comm = nullptr;
  impl_->bootstrap.abort(code);
  std::_Exit(code);  // not reached: the bootstrap's abort ends the job
}

}  // namespace torchless::dist
