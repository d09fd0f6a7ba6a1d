#pragma once
// The parts of the NCCL communicator that need no GPU, so that they are
// built and tested everywhere (CI has nvcc but no GPU): which GPU a rank
// drives, and the wait on a collective with a deadline.
#include <chrono>
#include <functional>

namespace torchless::dist {

/// OMPI_COMM_WORLD_LOCAL_RANK (this rank's index among the ranks on its
/// machine), or 0 when not set. Throws std::runtime_error if malformed.
int launched_local_rank();

/// The GPU for the rank with `local_rank` on a machine with `device_count`
/// GPUs: one rank per GPU. Throws std::runtime_error when there is no GPU or
/// more ranks on the machine than GPUs (NCCL cannot put two ranks of one
/// communicator on one GPU).
int nccl_device_for(int local_rank, int device_count);

/// What one look at an enqueued collective finds.
enum class PollState { kPending, kDone, kFailed };

/// Calls `poll` until it reports kDone or kFailed, or until `timeout` has
/// passed (then kPending). Sleeps between looks, starting at a few
/// microseconds (a fast collective is seen at once) and backing off to 1 ms.
PollState poll_until(const std::function<PollState()>& poll, std::chrono::milliseconds timeout);

}  // namespace torchless::dist
