// Max, average and adaptive average pooling over [N, C, H, W], one input
// plane per loop iteration (planes are independent, so they split across
// threads without sharing an output element).
#include <algorithm>
#include <memory>
#include <stdexcept>

#include "core/autograd.h"
#include "core/cpu/dispatch.h"
#include "core/cpu/max_pool.h"
#include "nn/functional_args.h"
#include "nn/functional.h"

namespace torchless::nn::functional {
namespace {

using detail::pair_str;

void check_input(const Tensor& x, const char* op) {
  detail::check_image(x, op);
  if (x.size(-1) < 1 || x.size(-2) < 1)
    throw std::invalid_argument(std::string(op) + ": input " + shape_str(x.sizes()) + " has an empty plane");
}

void check_window(const char* op, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                  std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation) {
  for (int i = 0; i < 2; ++i) {
    if (kernel[i] < 1) throw std::invalid_argument(std::string(op) + ": kernel_size must be positive, got " + pair_str(kernel));
    if (stride[i] < 1) throw std::invalid_argument(std::string(op) + ": stride must be positive, got " + pair_str(stride));
    if (dilation[i] < 1) throw std::invalid_argument(std::string(op) + ": dilation must be positive, got " + pair_str(dilation));
    if (padding[i] < 0 || padding[i] > kernel[i] / 2)
      throw std::invalid_argument(std::string(op) + ": padding " + pair_str(padding) +
                                  " must be between 0 and half the kernel size " + pair_str(kernel));
  }
}

std::array<int64_t, 2> out_size(const char* op, const Tensor& x, std::array<int64_t, 2> kernel,
                                std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                std::array<int64_t, 2> dilation, bool ceil_mode) {
  const std::array<int64_t, 2> o{pooled_size(x.size(2), kernel[0], stride[0], padding[0], dilation[0], ceil_mode),
                                 pooled_size(x.size(3), kernel[1], stride[1], padding[1], dilation[1], ceil_mode)};
  if (o[0] < 1 || o[1] < 1)
    throw std::invalid_argument(std::string(op) + ": input " + shape_str(x.sizes()) + " is too small for kernel " +
                                pair_str(kernel) + " (output would be " + pair_str(o) + ")");
  return o;
}

// Unbatched input: run on a batch of one and drop the batch dim again.
template <class F> Tensor batched(const Tensor& x, F&& f) {
  return x.dim() == 3 ? f(x.unsqueeze(0)).squeeze(0) : f(x);
}

// Applies the backward `scatter(grad, dx)` (both contiguous) as the op's
// gradient; scatter writes all of dx, zeroing each plane itself, where the
// plane is about to be in cache anyway.
template <class F> void record_plane_op(Tensor& out, const char* name, const Tensor& x, F scatter) {
  if (!any_requires_grad({&x})) return;
  const Shape shape = x.sizes();
  record(out, name, {x}, [shape, scatter](const Tensor& g) {
    Tensor dx = empty(shape, g.dtype());
    scatter(g.contiguous(), dx);
    return std::vector<Tensor>{dx};
  });
}

// Window k of every plane of an average pooling: rows [h0, h1) and columns
// [w0, w1) of the input, and the divisor.
struct Window { int64_t h0, h1, w0, w1; double div; };

// out[plane, k] = the sum of window k of the (4-D) input plane / its divisor,
// with the gradient spread back evenly over each window.
Tensor average_windows(const Tensor& x, int64_t OH, int64_t OW, std::shared_ptr<const std::vector<Window>> windows,
                       const char* op, const char* backward_name) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), HW = H * W, OHW = OH * OW;
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty({x.size(0), x.size(1), OH, OW}, x.dtype());
  cpu::dispatch_float(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(xc.raw_data());
    T* o = static_cast<T*>(out.raw_data());
#pragma omp parallel for schedule(static) if (planes * HW >= 65536)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t k = 0; k < OHW; ++k) {
        const Window& wnd = (*windows)[k];
        T s = 0;
        for (int64_t h = wnd.h0; h < wnd.h1; ++h)
          for (int64_t w = wnd.w0; w < wnd.w1; ++w) s += in[p * HW + h * W + w];
        o[p * OHW + k] = static_cast<T>(s / static_cast<T>(wnd.div));
      }
  });
  record_plane_op(out, backward_name, x, [windows, planes, HW, W, OHW](const Tensor& g, Tensor& dx) {
    cpu::dispatch_float(g.dtype(), "avg_pool2d_backward", [&](auto zero) {
      using T = decltype(zero);
      const T* gv = static_cast<const T*>(g.raw_data());
      T* d = static_cast<T*>(dx.raw_data());
#pragma omp parallel for schedule(static) if (planes * HW >= 65536)
      for (int64_t p = 0; p < planes; ++p) {
        std::fill(d + p * HW, d + (p + 1) * HW, T(0));
        for (int64_t k = 0; k < OHW; ++k) {
          const Window& wnd = (*windows)[k];
          const T v = static_cast<T>(gv[p * OHW + k] / static_cast<T>(wnd.div));
          for (int64_t h = wnd.h0; h < wnd.h1; ++h)
            for (int64_t w = wnd.w0; w < wnd.w1; ++w) d[p * HW + h * W + w] += v;
        }
      }
    });
  });
  return out;
}

}  // namespace

Tensor max_pool2d(const Tensor& x_in, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                  std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, bool ceil_mode) {
  check_input(x_in, "max_pool2d");
  check_window("max_pool2d", kernel, stride, padding, dilation);
  return batched(x_in, [&](const Tensor& x) {
    const auto [OH, OW] = out_size("max_pool2d", x, kernel, stride, padding, dilation, ceil_mode);
    const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
    const Tensor xc = x.detach().contiguous();
    Tensor out = empty({x.size(0), x.size(1), OH, OW}, x.dtype());
    // Per output element, the flat index in its plane of the maximum (torch's
    // indices); a tensor, so that training steps reuse its cached block.
    const Tensor argmax = empty({planes * OH * OW}, DType::Int64);
    const cpu::ConvGeometry geo{x.size(0), x.size(1), H, W, kernel[0], kernel[1], stride[0], stride[1],
                                padding[0], padding[1], dilation[0], dilation[1], OH, OW};
    cpu::dispatch_float(x.dtype(), "max_pool2d", [&](auto zero) {
      using T = decltype(zero);
      cpu::max_pool2d(static_cast<const T*>(xc.raw_data()), static_cast<T*>(out.raw_data()), argmax.data_ptr<int64_t>(),
                      geo);
    });
    record_plane_op(out, "MaxPool2DWithIndicesBackward", x, [argmax, geo](const Tensor& g, Tensor& dx) {
      cpu::dispatch_float(g.dtype(), "max_pool2d_backward", [&](auto zero) {
        using T = decltype(zero);
        cpu::max_pool2d_backward(static_cast<const T*>(g.raw_data()), argmax.data_ptr<int64_t>(),
                                 static_cast<T*>(dx.raw_data()), geo);
      });
    });
    return out;
  });
}

Tensor avg_pool2d(const Tensor& x_in, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                  std::array<int64_t, 2> padding, bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  check_input(x_in, "avg_pool2d");
  check_window("avg_pool2d", kernel, stride, padding, {1, 1});
  if (divisor_override < 0)
    throw std::invalid_argument("avg_pool2d: divisor_override must be positive, got " + std::to_string(divisor_override));
  return batched(x_in, [&](const Tensor& x) {
    const auto [OH, OW] = out_size("avg_pool2d", x, kernel, stride, padding, {1, 1}, ceil_mode);
    const int64_t H = x.size(2), W = x.size(3);
    // As torch computes them: the padded extent counts, the part past the
    // padding never does.
    auto windows = std::make_shared<std::vector<Window>>();
    windows->reserve(static_cast<size_t>(OH * OW));
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t h0 = oh * stride[0] - padding[0], w0 = ow * stride[1] - padding[1];
        int64_t h1 = std::min(h0 + kernel[0], H + padding[0]), w1 = std::min(w0 + kernel[1], W + padding[1]);
        const int64_t padded = (h1 - h0) * (w1 - w0);
        h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
        h1 = std::min(h1, H), w1 = std::min(w1, W);
        const double div = divisor_override ? static_cast<double>(divisor_override)
                                            : static_cast<double>(count_include_pad ? padded : (h1 - h0) * (w1 - w0));
        windows->push_back({h0, h1, w0, w1, div});
      }
    return average_windows(x, OH, OW, std::move(windows), "avg_pool2d", "AvgPool2DBackward");
  });
}

Tensor adaptive_avg_pool2d(const Tensor& x_in, std::array<int64_t, 2> output_size) {
  check_input(x_in, "adaptive_avg_pool2d");
  if (output_size[0] < 1 || output_size[1] < 1)
    throw std::invalid_argument("adaptive_avg_pool2d: output_size must be positive, got " + pair_str(output_size));
  return batched(x_in, [&](const Tensor& x) {
    const int64_t OH = output_size[0], OW = output_size[1], H = x.size(2), W = x.size(3);
    // torch's start/end: floor(i*in/out), ceil((i+1)*in/out).
    const auto start = [](int64_t i, int64_t in, int64_t o) { return (i * in) / o; };
    const auto end = [](int64_t i, int64_t in, int64_t o) { return ((i + 1) * in + o - 1) / o; };
    auto windows = std::make_shared<std::vector<Window>>();
    windows->reserve(static_cast<size_t>(OH * OW));
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t h0 = start(oh, H, OH), h1 = end(oh, H, OH), w0 = start(ow, W, OW), w1 = end(ow, W, OW);
        windows->push_back({h0, h1, w0, w1, static_cast<double>((h1 - h0) * (w1 - w0))});
      }
    return average_windows(x, OH, OW, std::move(windows), "adaptive_avg_pool2d", "AdaptiveAvgPool2DBackward");
  });
}

}  // namespace torchless::nn::functional
