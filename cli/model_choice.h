#pragma once
// Which model the train, eval and predict commands run: the tutorials'
// FashionClassifier by default, a `--model SPEC` (nn/model_spec.h), the spec
// a torchless checkpoint recorded, or a whole model saved by torch.save(model).
#include <memory>
#include <optional>
#include <string>

#include "nn/module.h"

namespace torchless {
class Generator;
}

namespace torchless::cli {

/// The text of a --model flag: the value itself, or the contents of FILE for
/// "@FILE". The spec is parsed once to check it. Throws UsageError naming
/// the flag and what is wrong (an unreadable file, a bad spec).
std::string read_model_flag(const std::string& value);

/// A fresh model: the FashionClassifier with `dropout` when `spec` is empty,
/// else the spec's model, initialised from `gen`. Throws
/// std::invalid_argument for a bad spec.
std::shared_ptr<nn::Module> make_model(const std::string& spec, double dropout, Generator* gen);

/// The model stored in `path`, in eval mode, for eval and predict. A file
/// written by torch.save(model) (or torchless's whole-model writer) is
/// rebuilt from itself; otherwise the architecture is `spec` when given,
/// else the 'model_spec' the checkpoint's hparams recorded, else the
/// FashionClassifier, and the file's state_dict is loaded into it strictly.
/// Throws std::runtime_error naming the file (a custom class torchless
/// cannot run, a wrong model's missing keys and shapes).
std::shared_ptr<nn::Module> load_model_file(const std::string& path, const std::optional<std::string>& spec);

/// Images as [N, 784] rows shaped the way `model` takes them: [N, 1, 28, 28]
/// for a model whose first layer takes image planes, unchanged otherwise.
Tensor images_for(const nn::Module& model, const Tensor& rows);

}  // namespace torchless::cli
