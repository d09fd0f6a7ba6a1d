#pragma once
// torch's layers by name: builds one from its constructor arguments, bound
// to torch's own signature the way Python binds them (positional, then
// keywords, defaults for the rest), and gives back the arguments that
// rebuild a layer. The model spec parser (nn/model_spec.h), the whole-model
// reader and writer (nn/whole_model.h) share it, so a layer means the same
// thing in all three.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace torchless {
class Generator;
}

namespace torchless::nn {

/// A constructor argument: None, bool, int, float, str, or a tuple of them.
struct LayerArg {
  enum class Kind { None, Bool, Int, Float, Str, Tuple };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<LayerArg> items;

  static LayerArg none() { return {}; }
  static LayerArg boolean(bool v);
  static LayerArg integer(int64_t v);
  static LayerArg real(double v);
  static LayerArg str(std::string v);
  static LayerArg tuple(std::vector<LayerArg> v);
  /// As Python prints it: None, True, 3, 0.1, 'same', (3, 3).
  std::string repr() const;
};

struct LayerArgs {
  std::vector<LayerArg> positional;
  std::vector<std::pair<std::string, LayerArg>> keyword;
};

/// Builds the layer `type` (a name from layer_types(): "Conv2d", "ReLU", ...)
/// with torch's defaults for arguments not given; parameters are initialised
/// from `gen` as torch initialises them. Throws std::invalid_argument naming
/// the layer and what is wrong: an unknown type (listing the known ones),
/// too many positional arguments, an unknown, repeated or missing argument
/// (listing the signature), a value of the wrong kind, or one the layer
/// refuses (e.g. a negative kernel size).
std::shared_ptr<Module> make_layer(const std::string& type, const LayerArgs& args, Generator* gen = nullptr);

/// The layer types make_layer builds, in a fixed order.
const std::vector<std::string>& layer_types();

/// torch's constructor signature of `type`: argument names in order (empty
/// for an unknown type).
std::vector<std::string> layer_signature(const std::string& type);

/// Every constructor argument of `m` by torch's name, in signature order,
/// with the values that rebuild it (make_layer(m.type_name(), {{}, result})
/// gives an equal layer). Throws std::invalid_argument for a module that is
/// not one of layer_types() (Sequential included: it has children, not
/// arguments).
std::vector<std::pair<std::string, LayerArg>> layer_arguments(const Module& m);

/// `m` as a spec layer, the way torch prints it: required arguments
/// positionally, the others as keywords where they differ from torch's
/// defaults ("Conv2d(1, 16, (3, 3), padding=(1, 1))", "ReLU"). Throws like
/// layer_arguments.
std::string layer_spec(const Module& m);

}  // namespace torchless::nn
