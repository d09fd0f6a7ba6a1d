#pragma once
// Differentiable tensor ops (float32/float64 compute). Each op checks shapes,
// broadcasts numpy-style, runs the device's kernel and records an autograd
// node when an input requires grad. Errors are std::invalid_argument naming
// the op and the offending shapes/dtypes.
#include <optional>

#include "core/tensor.h"

namespace torchless {

// ---- elementwise, broadcasting ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor pow(const Tensor& a, double exponent);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
/// max(a, b) elementwise; the gradient goes to a where a >= b.
Tensor maximum(const Tensor& a, const Tensor& b);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }

// ---- comparisons (no gradient), result dtype bool ----
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
/// True if same shape and every |a-b| <= atol + rtol*|b|.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
bool equal(const Tensor& a, const Tensor& b);  ///< same shape, dtype and values

// ---- reductions ----
Tensor sum(const Tensor& a);                                        ///< all elements, 0-dim
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim = false);
/// Index of the max along `dim` (first on ties), int64, no gradient.
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);
/// Sums `a` down to `shape` (the reverse of broadcasting); used by backward.
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---- linear algebra ----
/// torch.matmul for 1-D/2-D operands and batched (3-D) @ 2-D/3-D.
Tensor matmul(const Tensor& a, const Tensor& b);
/// x @ w^T + b  (x: [B, in], w: [out, in], b: [out] or undefined) — nn.Linear.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

// ---- factories with randomness (default generator unless one is given) ----
class Generator;
Tensor rand(Shape shape, DType dtype = DType::Float32, Generator* gen = nullptr);
Tensor randn(Shape shape, DType dtype = DType::Float32, Generator* gen = nullptr);
/// Uniform in [lo, hi) in place (torch's uniform_), returns t.
Tensor& uniform_(Tensor& t, double lo, double hi, Generator* gen = nullptr);
/// A random permutation of 0..n-1 (int64).
Tensor randperm(int64_t n, Generator* gen = nullptr);

// ---- threads ----
/// Threads used by CPU kernels (GEMMs and large elementwise loops).
void set_num_threads(int n);
int get_num_threads();
/// Flush-to-zero for denormal floats (like torch.set_flush_denormal): with
/// `on`, CPU kernels treat denormal inputs as zero and round denormal
/// results to zero (x86's FTZ and DAZ), in the calling thread and in every
/// thread the kernels use. Off (the default) keeps IEEE arithmetic, as
/// PyTorch's default does. Why it matters: Adam's exp_avg of a weight whose
/// gradient stays zero (a dead ReLU unit's) shrinks by beta1 each step and
/// turns denormal after ~700 steps; on Intel cores each operation on a
/// denormal then takes a microcode assist, and training ran 39% slower.
/// Flushing changes only values below 1.2e-38. Returns false (and changes
/// nothing) where the CPU has no such mode; never throws.
bool set_flush_denormal(bool on);
/// Whether set_flush_denormal(true) is in effect.
bool flush_denormal();
/// The SIMD instruction sets the CPU kernels were compiled for ("AVX512, FMA, ...").
const char* simd_instruction_sets();
/// Which kernel computes float32 matrix products: "AVX-512 (torchless)" when
/// the library was built for a CPU with AVX-512F, otherwise "Eigen".
const char* float32_gemm_kernel();

}  // namespace torchless
