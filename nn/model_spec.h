#pragma once
// A model described in one line of text, for `torchless train/eval/predict
// --model SPEC`:
//
//   Conv2d(1, 16, 3, padding=1) ReLU MaxPool2d(2) Flatten Linear(3136, 10)
//
// Layers are separated by spaces and written as torch's constructors
// (nn/layer_factory.h: the same names, argument names, order and defaults;
// a layer without arguments needs no parentheses). Values are ints, floats,
// True/False/None, quoted strings ('same') and tuples ((3, 2)). A layer may
// be named, `fc:Linear(1568, 10)`, and `[ ... ]` is a nested Sequential, so
// that state_dict keys come out as a Python class's would:
//
//   layer1:[Conv2d(1, 16, 5, padding=2) BatchNorm2d(16) ReLU MaxPool2d(2)]
//   layer2:[Conv2d(16, 32, 5, padding=2) BatchNorm2d(32) ReLU MaxPool2d(2)]
//   Flatten fc:Linear(1568, 10)
//
// gives layer1.0.weight, layer1.1.running_mean, ..., fc.weight. Unnamed
// layers are named by their index, as in nn.Sequential. '#' starts a comment
// that runs to the end of the line (for specs kept in files).
#include <memory>
#include <string>

#include "nn/sequential.h"

namespace torchless {
class Generator;
}

namespace torchless::nn {

/// Builds the model `spec` describes, its parameters initialised from `gen`
/// as torch initialises them. Throws std::invalid_argument starting with
/// "model spec" and naming the column and what is wrong (an unknown layer,
/// a bad argument, unbalanced brackets, a duplicate name, an empty spec).
std::shared_ptr<Sequential> parse_model_spec(const std::string& spec, Generator* gen = nullptr);

/// The spec that rebuilds `model`'s architecture (parse_model_spec of it
/// gives the same layers, hyper-parameters and state_dict keys). Throws
/// std::invalid_argument naming the first module that is neither a
/// Sequential nor one of nn/layer_factory.h's layers.
std::string model_spec(const Module& model);

/// True when the first layer `model` applies takes image planes [N, C, H, W]
/// (Conv2d, the 2-D poolings, BatchNorm2d) rather than flat features: the
/// command line feeds 28x28 images as [N, 1, 28, 28] to such a model and as
/// [N, 784] to any other.
bool takes_image_planes(const Module& model);

}  // namespace torchless::nn
