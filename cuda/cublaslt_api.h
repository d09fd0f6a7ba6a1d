#pragma once
// The cuBLASLt functions the backend calls, resolved from the library that
// cuda/cublaslt_loader.cpp loads on first use. For the CUDA sources only (it
// includes the toolkit's cublasLt.h for the declarations; nothing is linked).
#include <cublasLt.h>

#include <stdexcept>
#include <string>

namespace torchless::cuda {

struct CublasLtApi {
  decltype(&cublasLtGetVersion) GetVersion;
  decltype(&cublasLtGetStatusName) GetStatusName;
  decltype(&cublasLtGetStatusString) GetStatusString;
  decltype(&cublasLtCreate) Create;
  decltype(&cublasLtDestroy) Destroy;
  decltype(&cublasLtMatmul) Matmul;
  decltype(&cublasLtMatmulDescCreate) MatmulDescCreate;
  decltype(&cublasLtMatmulDescDestroy) MatmulDescDestroy;
  decltype(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute;
  decltype(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate;
  decltype(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy;
  decltype(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate;
  decltype(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute;
  decltype(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic;
};

/// The loaded library's functions (loading it on the first call). Throws
/// std::runtime_error as cublaslt_version() does (cuda/cublaslt_loader.h).
const CublasLtApi& cublaslt();

}  // namespace torchless::cuda

// Checked cuBLASLt call: throws std::runtime_error naming the file, line,
// expression and cuBLAS status.
#define TORCHLESS_CUBLASLT_CHECK(expr)                                                                  \
  do {                                                                                                  \
    const cublasStatus_t torchless_lt_status_ = (expr);                                                 \
    if (torchless_lt_status_ != CUBLAS_STATUS_SUCCESS)                                                  \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + #expr + \
                               " failed: " + ::torchless::cuda::cublaslt().GetStatusName(torchless_lt_status_) + \
                               " (" + ::torchless::cuda::cublaslt().GetStatusString(torchless_lt_status_) + ")"); \
  } while (0)
