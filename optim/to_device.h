#pragma once
// Moving a model and its optimizer to a device (train --device cuda).
#include "core/device.h"
#include "nn/module.h"
#include "optim/adam.h"

namespace torchless::optim {

/// Moves every parameter and buffer of `model`, and every state tensor of
/// `opt` (when given), to `device`, in place: each tensor keeps its identity,
/// so the optimizer's and the modules' handles see the moved data. Gradients
/// are dropped. Tensors already there are left alone; two parameters that
/// shared one storage are moved separately (no longer shared). Throws
/// std::runtime_error when the device cannot be used (no CUDA device, or a
/// build without CUDA); on a throw some tensors may have moved already.
void to_device(nn::Module& model, Adam* opt, Device device);

/// The device of the model's first parameter (the CPU when it has none).
Device model_device(const nn::Module& model);

}  // namespace torchless::optim
