#include "dist/launch.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace torchless::dist {
namespace {
long env_int(const char* name, long fallback, long min) {
  const char* v = std::getenv(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0 || x < min || x > 1 << 20)
    throw std::runtime_error(std::string(name) + "='" + v + "' is not a rank count/number mpirun would set");
  return x;
}
}  // namespace

int launched_world_size() { return static_cast<int>(env_int("OMPI_COMM_WORLD_SIZE", 1, 1)); }
int launched_rank() { return static_cast<int>(env_int("OMPI_COMM_WORLD_RANK", 0, 0)); }

bool mpi_built() {
#ifdef TORCHLESS_WITH_MPI
  return true;
#else
  return false;
#endif
}

}  // namespace torchless::dist

#ifndef TORCHLESS_WITH_MPI
// This build has no MPI: the class exists so that callers compile, and says so.
#include "dist/mpi_communicator.h"
#include "dist/watchdog.h"

namespace torchless::dist {

MpiCommunicator::MpiCommunicator(std::chrono::milliseconds) {
  throw std::runtime_error("this torchless was built without MPI (-DTORCHLESS_MPI=OFF): install libopenmpi-dev "
                           "(make deps) and build again to train with mpirun");
}
MpiCommunicator::~MpiCommunicator() = default;
std::string MpiCommunicator::name() const { return "MPI (not built)"; }
void MpiCommunicator::all_reduce_sum(float*, size_t, const char*) {}
void MpiCommunicator::all_reduce_sum(double*, size_t, const char*) {}
void MpiCommunicator::broadcast(float*, size_t, int, const char*) {}
void MpiCommunicator::broadcast_bytes(void*, size_t, int, const char*) {}
void MpiCommunicator::barrier(const char*) {}
void MpiCommunicator::abort(int code) { std::_Exit(code); }

}  // namespace torchless::dist
#endif
