// Matrix products through cuBLASLt (loaded on first use: cuda/cublaslt_api.h),
// with its bias epilogue for nn.Linear. FP32 compute for float32
// (CUBLAS_COMPUTE_32F: no TF32, so results stay within float32 rounding of
// the CPU's).
//
// Row-major tensors are column-major matrices transposed, so out = a @ b is
// computed as the column-major out^T = b^T a^T: no copies for contiguous or
// transposed operands.
#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>

#include "cuda/cublaslt_api.h"
#include "cuda/launch.h"
#include "cuda/ops.h"

namespace torchless::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

// The handle and workspace of one device, made on its first product and
// kept for the process (the workspace through the caching allocator).
struct LtContext {
  cublasLtHandle_t handle = nullptr;
  Storage workspace;
};

LtContext& context(int device) {
  static std::mutex mu;
  static auto* contexts = new LtContext[64]();  // never destroyed: products may run at exit
  if (device < 0 || device >= 64) throw std::invalid_argument("gemm: device index out of range");
  std::lock_guard lock(mu);
  LtContext& c = contexts[device];
  if (!c.handle) {
    TORCHLESS_CUBLASLT_CHECK(cublaslt().Create(&c.handle));
    c.workspace = Storage::allocate(kWorkspaceBytes, Device::cuda(device));
  }
  return c;
}

// How a row-major tensor t [r, c] reads as the column-major t^T (c x r):
// its own layout (op N) when rows are contiguous, or a column-major t under
// op T when columns are. Other strides need a copy first (the caller makes one).
struct Operand {
  cublasOperation_t op;
  uint64_t rows, cols;  // of the stored column-major matrix
  int64_t ld;
};

bool as_transposed(const Tensor& t, Operand& o) {
  const int64_t r = t.size(0), c = t.size(1);
  if (t.stride(1) == 1 && t.stride(0) >= std::max<int64_t>(c, 1)) {
    o = {CUBLAS_OP_N, static_cast<uint64_t>(c), static_cast<uint64_t>(r), t.stride(0)};
    return true;
  }
  if (t.stride(0) == 1 && t.stride(1) >= std::max<int64_t>(r, 1)) {
    o = {CUBLAS_OP_T, static_cast<uint64_t>(r), static_cast<uint64_t>(c), t.stride(1)};
    return true;
  }
  return false;
}

// RAII for the descriptors of one product.
struct Descriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~Descriptors() {
    const CublasLtApi& lt = cublaslt();
    if (pref) lt.MatmulPreferenceDestroy(pref);
    if (c) lt.MatrixLayoutDestroy(c);
    if (b) lt.MatrixLayoutDestroy(b);
    if (a) lt.MatrixLayoutDestroy(a);
    if (op) lt.MatmulDescDestroy(op);
  }
};

}  // namespace

void gemm(const Tensor& a_in, const Tensor& b_in, const Tensor& out, const Tensor& bias) {
  const char* name = "matmul";
  require_cuda(a_in, name, "a");
  require_cuda(b_in, name, "b");
  require_cuda(out, name, "out");
  const DType dt = a_in.dtype();
  if (a_in.dim() != 2 || b_in.dim() != 2 || out.dim() != 2 || a_in.size(1) != b_in.size(0) ||
      out.size(0) != a_in.size(0) || out.size(1) != b_in.size(1) || !out.is_contiguous() || b_in.dtype() != dt ||
      out.dtype() != dt || a_in.device() != out.device() || b_in.device() != out.device())
    throw std::invalid_argument("matmul on CUDA: expected a [m, k] @ b [k, n] into a contiguous out [m, n] of one "
                                "dtype and device, got " + shape_str(a_in.sizes()) + " @ " + shape_str(b_in.sizes()));
  if (dt != DType::Float32 && dt != DType::Float64)
    throw std::invalid_argument("matmul on CUDA: float32 or float64 only, got " + std::string(dtype_name(dt)));
  const int64_t m = a_in.size(0), k = a_in.size(1), n = b_in.size(1);
  if (k == 0) throw std::invalid_argument("matmul on CUDA: k == 0 (the caller fills the output)");
  if (bias.defined() && (bias.dtype() != dt || bias.numel() != n || !bias.is_contiguous() ||
                         bias.device() != out.device()))
    throw std::invalid_argument("matmul on CUDA: bias must be contiguous [" + std::to_string(n) + "] of the dtype");
  if (m == 0 || n == 0) return;

  Tensor a = a_in, b = b_in;
  Operand oa{}, ob{};
  if (!as_transposed(a, oa)) {
    a = a.contiguous();
    as_transposed(a, oa);
  }
  if (!as_transposed(b, ob)) {
    b = b.contiguous();
    as_transposed(b, ob);
  }
  DeviceGuard guard(out.device().index);
  LtContext& ctx = context(out.device().index);
  const CublasLtApi& lt = cublaslt();
  const cudaDataType_t type = dt == DType::Float32 ? CUDA_R_32F : CUDA_R_64F;
  const cublasComputeType_t compute = dt == DType::Float32 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_64F;

  // Column-major: D (n x m) = op(B^T stored) (n x k) * op(A^T stored) (k x m).
  Descriptors d;
  TORCHLESS_CUBLASLT_CHECK(lt.MatmulDescCreate(&d.op, compute, type));
  TORCHLESS_CUBLASLT_CHECK(lt.MatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &ob.op, sizeof ob.op));
  TORCHLESS_CUBLASLT_CHECK(lt.MatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &oa.op, sizeof oa.op));
  if (bias.defined()) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;  // bias[row of D] = bias[n]: one per output feature
    const void* bias_ptr = bias.raw_data();
    TORCHLESS_CUBLASLT_CHECK(lt.MatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    TORCHLESS_CUBLASLT_CHECK(
        lt.MatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof bias_ptr));
  }
  TORCHLESS_CUBLASLT_CHECK(lt.MatrixLayoutCreate(&d.a, type, ob.rows, ob.cols, ob.ld));
  TORCHLESS_CUBLASLT_CHECK(lt.MatrixLayoutCreate(&d.b, type, oa.rows, oa.cols, oa.ld));
  TORCHLESS_CUBLASLT_CHECK(lt.MatrixLayoutCreate(&d.c, type, static_cast<uint64_t>(n), static_cast<uint64_t>(m), n));
  TORCHLESS_CUBLASLT_CHECK(lt.MatmulPreferenceCreate(&d.pref));
  const uint64_t ws = kWorkspaceBytes;
  TORCHLESS_CUBLASLT_CHECK(
      lt.MatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  TORCHLESS_CUBLASLT_CHECK(lt.MatmulAlgoGetHeuristic(ctx.handle, d.op, d.a, d.b, d.c, d.c, d.pref, 1, &heuristic, &found));
  if (found == 0)
    throw std::runtime_error("matmul on CUDA: cuBLASLt has no algorithm for " + shape_str(a_in.sizes()) + " @ " +
                             shape_str(b_in.sizes()));
  const float alpha32 = 1.0f, beta32 = 0.0f;
  const double alpha64 = 1.0, beta64 = 0.0;
  const void* alpha = dt == DType::Float32 ? static_cast<const void*>(&alpha32) : &alpha64;
  const void* beta = dt == DType::Float32 ? static_cast<const void*>(&beta32) : &beta64;
  TORCHLESS_CUBLASLT_CHECK(lt.Matmul(ctx.handle, d.op, alpha, b.raw_data(), d.a, a.raw_data(), d.b, beta,
                                     out.raw_data(), d.c, out.raw_data(), d.c, &heuristic.algo,
                                     ctx.workspace.data(), kWorkspaceBytes, stream()));
}

}  // namespace torchless::cuda
