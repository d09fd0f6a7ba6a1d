#include "dist/nccl_host.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace torchless::dist {

int launched_local_rank() {
  const char* v = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (!v) return 0;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0 || x < 0 || x > 1 << 20)
    throw std::runtime_error(std::string("OMPI_COMM_WORLD_LOCAL_RANK='") + v + "' is not a rank number");
  return static_cast<int>(x);
}

int nccl_device_for(int local_rank, int device_count) {
  if (device_count <= 0) throw std::runtime_error("NCCL: this machine has no CUDA GPU");
  if (local_rank < 0 || local_rank >= device_count)
    throw std::runtime_error("NCCL: local rank " + std::to_string(local_rank) + " has no GPU of its own (" +
                             std::to_string(device_count) +
                             " on this machine); start at most one rank per GPU on each machine");
  return local_rank;
}

PollState poll_until(const std::function<PollState()>& poll, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto nap = std::chrono::microseconds(2);
  for (;;) {
    const PollState s = poll();
    if (s != PollState::kPending) return s;
    if (std::chrono::steady_clock::now() >= deadline) return PollState::kPending;
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(1000));
  }
}

}  // namespace torchless::dist

#ifndef TORCHLESS_WITH_NCCL
// This build has no NCCL: the class exists so that callers compile, and says so.
#include "dist/nccl_communicator.h"

namespace torchless::dist {

bool nccl_built() { return false; }

struct NcclCommunicator::Impl {};

NcclCommunicator::NcclCommunicator(Communicator&, int, std::chrono::milliseconds) {
  throw std::runtime_error("NCCL: this torchless was built without NCCL (it needs the CUDA backend and NCCL's "
                           "headers and library at configure time)");
}
NcclCommunicator::~NcclCommunicator() = default;
int NcclCommunicator::rank() const { return 0; }
int NcclCommunicator::size() const { return 1; }
std::string NcclCommunicator::name() const { return "NCCL (not built)"; }
void NcclCommunicator::all_reduce_sum(float*, size_t, const char*) {}
void NcclCommunicator::all_reduce_sum(double*, size_t, const char*) {}
void NcclCommunicator::broadcast(float*, size_t, int, const char*) {}
void NcclCommunicator::broadcast_bytes(void*, size_t, int, const char*) {}
void NcclCommunicator::barrier(const char*) {}
void NcclCommunicator::abort(int code) { std::_Exit(code); }
void* NcclCommunicator::stream() const { return nullptr; }

}  // namespace torchless::dist
#endif
