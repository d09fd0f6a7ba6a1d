#include <Eigen/Core>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/device.h"
#include "core/ops.h"

namespace torchless::cli {

namespace {

int run_info(const std::vector<std::string>& argv) {
  Args args(argv, {}, {});
  if (!args.positional().empty()) throw UsageError("unexpected argument '" + args.positional()[0] + "'");
  std::printf("torchless %s\n", TORCHLESS_VERSION);
  if (cuda_built()) std::printf("CUDA: yes, %s\n", cuda_summary().c_str());
  else std::printf("CUDA: not built\n");
  std::printf("Eigen %d.%d.%d, SIMD: %s\n", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
              simd_instruction_sets());
  std::printf("float32 GEMM: %s\n", float32_gemm_kernel());
  std::printf("CPU threads: %d\n", get_num_threads());
  return 0;
}

}  // namespace

extern const Command kInfoCommand = {"info", "show version, CUDA backend, SIMD, GEMM kernel and threads",
                                     "usage: torchless info\n  Version, CUDA backend, Eigen SIMD, float32 GEMM kernel and threads.\n",
                                     run_info};

}  // namespace torchless::cli
