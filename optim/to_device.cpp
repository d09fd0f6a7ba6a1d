#include "optim/to_device.h"

#include "core/autograd.h"

namespace torchless::optim {
namespace {

// Replaces t's storage with a copy on `device`; t's TensorImpl stays the
// same object, which is what every holder of the handle shares.
void move_in_place(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return;
  const Tensor moved = t.detach().to(device);
  TensorImpl& impl = t.impl();
  impl.storage = moved.storage();
  impl.strides = moved.strides();
  impl.offset = moved.storage_offset();
  impl.grad.reset();
}

}  // namespace

void to_device(nn::Module& model, Adam* opt, Device device) {
  NoGradGuard no_grad;
  for (const auto& [name, p] : model.named_parameters()) move_in_place(p, device);
  for (const auto& [name, b] : model.named_buffers()) move_in_place(b, device);
  if (!opt) return;
  for (size_t i = 0; i < opt->num_params(); ++i) {
    AdamParamState& s = opt->state(i);
    for (const Tensor* t : {&s.exp_avg, &s.exp_avg_sq, &s.max_exp_avg_sq}) move_in_place(*t, device);
  }
}

Device model_device(const nn::Module& model) {
  const auto params = model.named_parameters();
  return params.empty() ? Device::cpu() : params.front().second.device();
}

}  // namespace torchless::optim
