#include "dist/test_fault.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace torchless::dist {

TestFault TestFault::from_env() {
  TestFault f;
  const char* v = std::getenv("TORCHLESS_TEST_FAULT");
  if (!v || !*v) return f;
  char kind[8] = {};
  long long rank = -1, step = -1;
  char extra = 0;
  if (std::sscanf(v, "%7[a-z]:%lld:%lld%c", kind, &rank, &step, &extra) != 3 || rank < 0 || step < 1 ||
      (std::string(kind) != "die" && std::string(kind) != "hang"))
    throw std::runtime_error(std::string("TORCHLESS_TEST_FAULT='") + v + "': expected die:RANK:STEP or hang:RANK:STEP");
  f.kind = std::string(kind) == "die" ? Kind::kDie : Kind::kHang;
  f.rank = static_cast<int>(rank);
  f.step = step;
  return f;
}

void TestFault::fire() const {
  std::fprintf(stderr, "torchless: rank %d: TORCHLESS_TEST_FAULT: %s at step %lld (test hook)\n", rank,
               kind == Kind::kDie ? "dying" : "hanging", static_cast<long long>(step));
  std::fflush(stderr);
  if (kind == Kind::kDie) std::raise(SIGKILL);
  for (;;) pause();
}

}  // namespace torchless::dist
