#pragma once
// A test-only fault: TORCHLESS_TEST_FAULT=KIND:RANK:STEP makes rank RANK,
// just before the gradient all-reduce of its STEP-th training step (1-based,
// counted over the whole process), either die (KIND "die": SIGKILL on
// itself, as a crash would) or hang (KIND "hang": sleep forever, as a
// deadlock would). The MPI tests use it to check that the other ranks end
// the job with a message instead of waiting. Not for users; unset, it costs
// one comparison per step.
#include <cstdint>

namespace torchless::dist {

struct TestFault {
  enum class Kind { kNone, kDie, kHang };
  Kind kind = Kind::kNone;
  int rank = -1;
  int64_t step = -1;

  /// Parses TORCHLESS_TEST_FAULT. Throws std::runtime_error naming the
  /// variable when it is set but malformed.
  static TestFault from_env();
  /// Fires if this is the rank and the step.
  void maybe_fire(int this_rank, int64_t this_step) const {
    if (kind != Kind::kNone && this_rank == rank && this_step == step) fire();
  }

 private:
  [[noreturn]] void fire() const;
};

}  // namespace torchless::dist
