// Matrix products (Eigen GEMM on the CPU) and the fused nn.Linear op.
#include "core/autograd.h"
#include "core/cpu/gemm.h"
#include "core/ops.h"
#ifdef TORCHLESS_WITH_CUDA
#include "cuda/ops.h"
#endif

namespace torchless {
namespace {

Tensor gemm_operand(const Tensor& t) { return cpu::gemm_compatible(t) ? t : t.contiguous(); }

// out = a @ b (+ bias) on a's CUDA device (cuBLASLt); k == 0 fills instead.
void gemm_cuda(const Tensor& a, const Tensor& b, Tensor& out, const Tensor& bias) {
  if (a.device() != b.device() || (bias.defined() && bias.device() != a.device()))
    throw std::invalid_argument("matmul: operands on " + a.device().str() + " and " + b.device().str() +
                                " (expected one device)");
  if (a.size(1) == 0) {
    if (bias.defined()) out.copy_(bias.unsqueeze(0).expand(out.sizes()));
    else out.zero_();
    return;
  }
#ifdef TORCHLESS_WITH_CUDA
  cuda::gemm(a, b, out, bias.defined() ? bias.contiguous() : bias);
#else
  throw std::invalid_argument("matmul: CUDA tensors need the CUDA backend");
#endif
}

// a: [m, k]  b: [k, n]  ->  [m, n]   (no autograd)
Tensor mm_raw(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw std::invalid_argument("matmul: dtypes differ (" + std::string(dtype_name(a.dtype())) + " and " +
                                std::string(dtype_name(b.dtype())) + ")");
  if (a.device().is_cuda() || b.device().is_cuda()) {
    Tensor out = empty({a.size(0), b.size(1)}, a.dtype(), a.device());
    gemm_cuda(a, b, out, Tensor());
    return out;
  }
  Tensor out = empty({a.size(0), b.size(1)}, a.dtype());
  if (a.size(1) == 0) return out.zero_();
  cpu::gemm(gemm_operand(a), gemm_operand(b), out);
  return out;
}

Tensor mm(const Tensor& a, const Tensor& b) {
  if (a.size(1) != b.size(0))
    throw std::invalid_argument("matmul: shapes " + shape_str(a.sizes()) + " and " + shape_str(b.sizes()) +
                                " cannot be multiplied (" + std::to_string(a.size(1)) + " != " +
                                std::to_string(b.size(0)) + ")");
  Tensor out = mm_raw(a.detach(), b.detach());
  if (any_requires_grad({&a, &b})) {
    Tensor ad = a.detach(), bd = b.detach();
    record(out, "MmBackward", {a, b}, [a, b, ad, bd](const Tensor& g) {
      return std::vector<Tensor>{a.requires_grad() ? mm_raw(g, bd.t()) : Tensor(),
                                 b.requires_grad() ? mm_raw(ad.t(), g) : Tensor()};
    });
  }
  return out;
}

// a: [B, m, k]  b: [B, k, n]  ->  [B, m, n]   (no autograd)
Tensor bmm_raw(const Tensor& a, const Tensor& b) {
  Tensor out = empty({a.size(0), a.size(1), b.size(2)}, a.dtype());
  if (a.size(2) == 0) return out.zero_();
  for (int64_t i = 0; i < a.size(0); ++i)
    cpu::gemm(gemm_operand(a.select(0, i)), gemm_operand(b.select(0, i)), out.select(0, i));
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  if (a.size(0) != b.size(0) || a.size(2) != b.size(1))
    throw std::invalid_argument("matmul: shapes " + shape_str(a.sizes()) + " and " + shape_str(b.sizes()) +
                                " cannot be multiplied");
  if (a.dtype() != b.dtype() || !a.device().is_cpu() || !b.device().is_cpu())
    throw std::invalid_argument("matmul: operands must be CPU tensors of one dtype");
  Tensor out = bmm_raw(a.detach(), b.detach());
  if (any_requires_grad({&a, &b})) {
    Tensor ad = a.detach(), bd = b.detach();
    record(out, "BmmBackward", {a, b}, [a, b, ad, bd](const Tensor& g) {
      return std::vector<Tensor>{a.requires_grad() ? bmm_raw(g, bd.transpose(1, 2)) : Tensor(),
                                 b.requires_grad() ? bmm_raw(ad.transpose(1, 2), g) : Tensor()};
    });
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (a.dim() == 0 || b.dim() == 0)
    throw std::invalid_argument("matmul: both arguments need at least 1 dimension");
  if (a.dim() == 1 && b.dim() == 1) return mm(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 1 && b.dim() == 2) return mm(a.unsqueeze(0), b).squeeze(0);
  if (b.dim() == 1 && a.dim() == 2) return mm(a, b.unsqueeze(1)).squeeze(1);
  if (a.dim() == 2 && b.dim() == 2) return mm(a, b);
  if (a.dim() == 3 && b.dim() == 2) {
    // [B, m, k] @ [k, n]: fold the batch into rows.
    const int64_t B = a.size(0), m = a.size(1);
    return mm(a.reshape({B * m, a.size(2)}), b).reshape({B, m, b.size(1)});
  }
  if (a.dim() == 3 && b.dim() == 3) return bmm(a, b);
  throw std::invalid_argument("matmul: unsupported shapes " + shape_str(a.sizes()) + " and " + shape_str(b.sizes()));
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  // x: [B, in]  w: [out, in]  b: [out]  ->  y: [B, out]
  if (x.dim() != 2 || w.dim() != 2 || x.size(1) != w.size(1))
    throw std::invalid_argument("linear: input " + shape_str(x.sizes()) + " does not match weight " +
                                shape_str(w.sizes()) + " (expected input [B, " +
                                std::to_string(w.dim() == 2 ? w.size(1) : -1) + "])");
  if (b.defined() && (b.dim() != 1 || b.size(0) != w.size(0)))
    throw std::invalid_argument("linear: bias " + shape_str(b.sizes()) + " does not match weight " +
                                shape_str(w.sizes()));
  if (x.dtype() != w.dtype()) throw std::invalid_argument("linear: input and weight dtypes differ");
  Tensor y = empty({x.size(0), w.size(0)}, x.dtype(), x.device());
  const Tensor bias = b.defined() ? b.detach() : Tensor();
  if (x.device().is_cuda() || w.device().is_cuda()) gemm_cuda(x.detach(), w.detach().t(), y, bias);
  else if (x.size(1) > 0) cpu::gemm(gemm_operand(x.detach()), w.detach().t(), y, bias);
  else if (bias.defined()) y.copy_(bias.unsqueeze(0).expand(y.sizes()));
  else y.zero_();
  if (any_requires_grad({&x, &w, &b})) {
    Tensor xd = x.detach(), wd = w.detach();
    record(y, "LinearBackward", {x, w, b}, [x, w, b, xd, wd](const Tensor& g) {
      // dx = g @ w    dw = g^T @ x    db = sum_rows(g)
      return std::vector<Tensor>{x.requires_grad() ? mm_raw(g, wd) : Tensor(),
                                 w.requires_grad() ? mm_raw(g.t(), xd) : Tensor(),
                                 b.defined() && b.requires_grad() ? sum(g, {0}) : Tensor()};
    });
  }
  return y;
}

}  // namespace torchless
