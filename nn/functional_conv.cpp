// conv2d as im2col + the GEMM (core/cpu/gemm.h): the whole batch's patches
// form one [C*KH*KW, N*OH*OW] matrix, so each group is one large product
// (weight @ patches) instead of N small ones, and the result reaches NCHW by
// contiguous row copies; the backward reuses the saved patch matrix.
#include <stdexcept>

#include "core/autograd.h"
#include "core/cpu/dispatch.h"
#include "core/cpu/gemm.h"
#include "core/cpu/im2col.h"
#include "nn/functional_args.h"
#include "nn/functional.h"

namespace torchless::nn::functional {
using detail::pair_str;

int64_t pooled_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (span + (ceil_mode ? stride - 1 : 0)) / stride + 1;
  // The last window must start inside the input or its left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

Tensor conv2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, std::array<int64_t, 2> stride,
              std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, int64_t groups) {
  detail::check_image(x_in, "conv2d");
  if (x_in.dim() == 3) return conv2d(x_in.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0);
  const Tensor& x = x_in;
  if (weight.dim() != 4)
    throw std::invalid_argument("conv2d: weight must be 4-D [out_channels, in_channels/groups, kH, kW], got " +
                                shape_str(weight.sizes()));
  if (groups < 1) throw std::invalid_argument("conv2d: groups must be positive, got " + std::to_string(groups));
  for (int i = 0; i < 2; ++i) {
    if (stride[i] < 1) throw std::invalid_argument("conv2d: stride must be positive, got " + pair_str(stride));
    if (padding[i] < 0) throw std::invalid_argument("conv2d: padding must not be negative, got " + pair_str(padding));
    if (dilation[i] < 1) throw std::invalid_argument("conv2d: dilation must be positive, got " + pair_str(dilation));
  }
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OC = weight.size(0), Cg = weight.size(1), KH = weight.size(2), KW = weight.size(3);
  if (C % groups != 0 || OC % groups != 0 || Cg * groups != C)
    throw std::invalid_argument("conv2d: input " + shape_str(x.sizes()) + " with groups=" + std::to_string(groups) +
                                " expects weight [" + std::to_string(OC) + ", " + std::to_string(C / groups) +
                                ", kH, kW] and out_channels divisible by groups, got weight " + shape_str(weight.sizes()));
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != OC))
    throw std::invalid_argument("conv2d: bias " + shape_str(bias.sizes()) + " does not match " + std::to_string(OC) +
                                " output channels");
  if (x.dtype() != weight.dtype() || (bias.defined() && bias.dtype() != x.dtype()))
    throw std::invalid_argument("conv2d: input, weight and bias dtypes differ");
  cpu::ConvGeometry g{N, C, H, W, KH, KW, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], 0, 0};
  g.OH = pooled_size(H, KH, stride[0], padding[0], dilation[0], false);
  g.OW = pooled_size(W, KW, stride[1], padding[1], dilation[1], false);
  if (g.OH < 1 || g.OW < 1)
    throw std::invalid_argument("conv2d: input " + shape_str(x.sizes()) + " (padded by " + pair_str(padding) +
                                ") is smaller than the dilated kernel " + pair_str({KH, KW}) + ", dilation " +
                                pair_str(dilation));
  const DType dt = x.dtype();
  const int64_t P = g.OH * g.OW, NP = g.cols(), Kg = Cg * KH * KW, OCg = OC / groups;
  const Tensor xc = x.detach().contiguous();
  Tensor cols = empty({g.rows(), NP}, dt);
  const Tensor w2 = weight.detach().contiguous().view({OC, Kg});
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor y = empty({OC, NP}, dt);
  Tensor out = empty({N, OC, g.OH, g.OW}, dt);
  cpu::dispatch_float(dt, "conv2d", [&](auto zero) {
    using T = decltype(zero);
    cpu::im2col(static_cast<const T*>(xc.raw_data()), static_cast<T*>(cols.raw_data()), g);
    for (int64_t gi = 0; gi < groups; ++gi)
      cpu::gemm(w2.narrow(0, gi * OCg, OCg), cols.narrow(0, gi * Kg, Kg), y.narrow(0, gi * OCg, OCg));
    cpu::channels_to_batch(static_cast<const T*>(y.raw_data()), static_cast<T*>(out.raw_data()), N, OC, P,
                           b.defined() ? static_cast<const T*>(b.raw_data()) : nullptr);
  });
  if (any_requires_grad({&x, &weight, &bias})) {
    record(out, "ConvolutionBackward", {x, weight, bias},
           [x, weight, bias, cols, w2, g, groups, OC, OCg, Kg, P, NP](const Tensor& grad) {
             const Tensor gc = grad.contiguous();
             Tensor G = empty({OC, NP}, grad.dtype());  // the gradient in the GEMM's layout
             Tensor dx, dw, db;
             cpu::dispatch_float(grad.dtype(), "conv2d_backward", [&](auto zero) {
               using T = decltype(zero);
               cpu::batch_to_channels(static_cast<const T*>(gc.raw_data()), static_cast<T*>(G.raw_data()), g.N, OC, P);
               if (x.requires_grad()) {
                 Tensor dcols = empty({g.rows(), NP}, grad.dtype());
                 for (int64_t gi = 0; gi < groups; ++gi)
                   cpu::gemm(w2.narrow(0, gi * OCg, OCg).t(), G.narrow(0, gi * OCg, OCg), dcols.narrow(0, gi * Kg, Kg));
                 dx = empty({g.N, g.C, g.H, g.W}, grad.dtype());
                 cpu::col2im(static_cast<const T*>(dcols.raw_data()), static_cast<T*>(dx.raw_data()), g);
               }
             });
             if (weight.requires_grad()) {
               Tensor dw2 = empty({OC, Kg}, grad.dtype());
               for (int64_t gi = 0; gi < groups; ++gi)
                 cpu::gemm(G.narrow(0, gi * OCg, OCg), cols.narrow(0, gi * Kg, Kg).t(), dw2.narrow(0, gi * OCg, OCg));
               dw = dw2.view(weight.sizes());
             }
             if (bias.defined() && bias.requires_grad()) db = sum(G, {1});
             return std::vector<Tensor>{dx, dw, db};
           });
  }
  return out;
}

}  // namespace torchless::nn::functional
