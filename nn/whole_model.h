#pragma once
// Whole models, as torch.save(model) writes them: the pickled module objects
// of torch's own classes (torch.nn.modules.container.Sequential,
// torch.nn.modules.conv.Conv2d, ...) with their hyper-parameters, parameters
// (requires_grad included), buffers and training flags.
//
// Reading rebuilds a runnable torchless model from such a tree: every module
// must be a Sequential or one of nn/layer_factory.h's layers, because
// forward() of any other class is Python code that the file does not hold.
// Writing gives the tree that Python's torch.load(path, weights_only=False)
// turns back into a live nn.Module (weights_only=True refuses it: unpickling
// a module calls its class, which is what weights_only exists to forbid).
#include <memory>

#include "io/torch_module.h"
#include "io/value.h"
#include "nn/module.h"

namespace torchless::nn {

/// The model pickled in `root` (a loaded file's root value). Throws
/// std::invalid_argument when `root` is not a pickled module, and, naming
/// the module's path and class, for a class torchless cannot run (a custom
/// Python class, or a torch layer it does not implement) after listing what
/// the file holds (every parameter and buffer, with its shape), or for a
/// hyper-parameter, parameter or buffer that does not fit the layer.
std::shared_ptr<Module> module_from_value(const io::ValuePtr& root);
/// The same from an already walked module tree.
std::shared_ptr<Module> module_from_tree(const io::ModuleNode& root);

/// The value tree torch.save(model) would write for `model`, for
/// io::save(). Every module must be a Sequential or one of
/// nn/layer_factory.h's layers; throws std::invalid_argument naming the
/// first that is not.
io::ValuePtr module_to_value(const Module& model);

}  // namespace torchless::nn
