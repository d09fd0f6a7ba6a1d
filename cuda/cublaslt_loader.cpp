#include "cuda/cublaslt_loader.h"

#include <dlfcn.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/cublaslt_api.h"

#ifndef TORCHLESS_CUBLASLT_DIR
#define TORCHLESS_CUBLASLT_DIR ""
#endif

namespace torchless::cuda {
namespace {

// The soname of the major version the backend was compiled against: another
// major version's ABI differs, so it is not tried.
const std::string kSoname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);

struct Loaded {
  std::mutex mu;
  void* handle = nullptr;
  CublasLtApi api{};
};

Loaded& state() {
  static Loaded* s = new Loaded();  // never destroyed: kernels may run from static destructors
  return *s;
}

// The loader's search path first (LD_LIBRARY_PATH, ldconfig), then the
// toolkit this torchless was built with: the binary has no RPATH to it now
// that cuBLAS is not linked.
void* open_library(std::string& tried) {
  std::vector<std::string> candidates{kSoname};
  if (const std::string dir = TORCHLESS_CUBLASLT_DIR; !dir.empty()) candidates.push_back(dir + "/" + kSoname);
  for (const std::string& path : candidates) {
    if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    const char* why = dlerror();
    tried += "\n  " + path + ": " + (why ? why : "unknown error");
  }
  return nullptr;
}

template <typename F>
void resolve(void* handle, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
  if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
}

}  // namespace

const CublasLtApi& cublaslt() {
  Loaded& s = state();
  std::lock_guard lock(s.mu);
  if (s.handle) return s.api;
  std::string tried;
  void* h = open_library(tried);
  if (!h)
    throw std::runtime_error("the CUDA backend needs cuBLASLt (" + kSoname +
                             ") for matrix products, and it could not be loaded; tried:" + tried +
                             "\n(install the CUDA toolkit's cuBLAS, or add its lib directory to LD_LIBRARY_PATH)");
  CublasLtApi api{};
  std::string missing;
  resolve(h, "cublasLtGetVersion", api.GetVersion, missing);
  resolve(h, "cublasLtGetStatusName", api.GetStatusName, missing);
  resolve(h, "cublasLtGetStatusString", api.GetStatusString, missing);
  resolve(h, "cublasLtCreate", api.Create, missing);
  resolve(h, "cublasLtDestroy", api.Destroy, missing);
  resolve(h, "cublasLtMatmul", api.Matmul, missing);
  resolve(h, "cublasLtMatmulDescCreate", api.MatmulDescCreate, missing);
  resolve(h, "cublasLtMatmulDescDestroy", api.MatmulDescDestroy, missing);
  resolve(h, "cublasLtMatmulDescSetAttribute", api.MatmulDescSetAttribute, missing);
  resolve(h, "cublasLtMatrixLayoutCreate", api.MatrixLayoutCreate, missing);
  resolve(h, "cublasLtMatrixLayoutDestroy", api.MatrixLayoutDestroy, missing);
  resolve(h, "cublasLtMatmulPreferenceCreate", api.MatmulPreferenceCreate, missing);
  resolve(h, "cublasLtMatmulPreferenceDestroy", api.MatmulPreferenceDestroy, missing);
  resolve(h, "cublasLtMatmulPreferenceSetAttribute", api.MatmulPreferenceSetAttribute, missing);
  resolve(h, "cublasLtMatmulAlgoGetHeuristic", api.MatmulAlgoGetHeuristic, missing);
  if (!missing.empty()) {
    dlclose(h);
    throw std::runtime_error("cuBLASLt (" + kSoname + ") was loaded but lacks " + missing +
                             ": is it older than the toolkit torchless was built with?");
  }
  s.api = api;
  s.handle = h;
  return s.api;
}

std::string cublaslt_version() {
  const size_t v = cublaslt().GetVersion();  // major * 10000 + minor * 100 + patch
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

bool cublaslt_loaded() {
  Loaded& s = state();
  std::lock_guard lock(s.mu);
  return s.handle != nullptr;
}

}  // namespace torchless::cuda
