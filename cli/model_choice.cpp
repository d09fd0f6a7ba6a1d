#include "cli/model_choice.h"

#include <cstdio>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "io/checked_file.h"
#include "io/torch_module.h"
#include "nn/fashion_classifier.h"
#include "nn/model_spec.h"
#include "nn/whole_model.h"
#include "optim/training_checkpoint.h"

namespace torchless::cli {

std::string read_model_flag(const std::string& value) {
  std::string spec = value;
  if (!value.empty() && value[0] == '@') {
    try {
      spec = io::read_file(value.substr(1));
    } catch (const std::exception& e) {
      throw UsageError("--model " + value + ": " + e.what());
    }
  }
  try {
    nn::parse_model_spec(spec);
  } catch (const std::invalid_argument& e) {
    throw UsageError("--model: " + std::string(e.what()));
  }
  return spec;
}

std::shared_ptr<nn::Module> make_model(const std::string& spec, double dropout, Generator* gen) {
  if (spec.empty()) return std::make_shared<nn::FashionClassifier>(dropout, gen);
  return nn::parse_model_spec(spec, gen);
}

std::shared_ptr<nn::Module> load_model_file(const std::string& path, const std::optional<std::string>& spec) {
  io::LoadOptions opt;
  opt.map_location = io::MapLocation::parse("cpu");
  const io::Checkpoint ck = load_any(path, opt);
  if (io::is_pickled_module(ck.root)) {
    if (spec) std::fprintf(stderr, "note: %s holds a whole model; --model is not needed and was ignored\n", path.c_str());
    std::shared_ptr<nn::Module> m;
    try {
      m = nn::module_from_value(ck.root);
    } catch (const std::exception& e) {
      throw std::runtime_error(naming_file(path, e.what()));
    }
    m->eval();
    return m;
  }
  std::string arch = spec.value_or("");
  if (!spec) {
    try {
      arch = optim::read_hparams(ck.root).model_spec;
    } catch (const std::exception& e) {
      throw std::runtime_error(naming_file(path, e.what()));
    }
  }
  std::shared_ptr<nn::Module> model;
  try {
    model = make_model(arch, 0.0, nullptr);
  } catch (const std::exception& e) {
    throw std::runtime_error(naming_file(path, std::string("hparams 'model_spec': ") + e.what()));
  }
  bool stripped = false;
  nn::StateDict sd;
  try {
    sd = nn::model_state_dict_of(ck.root, path + ": state_dict", &stripped);
  } catch (const std::exception& e) {
    throw std::runtime_error(naming_file(path, e.what()));
  }
  if (stripped) std::fprintf(stderr, "note: stripped the 'module.' prefix (a DataParallel checkpoint)\n");
  try {
    model->load_state_dict(sd, /*strict=*/true);
  } catch (const std::exception& e) {
    // load_state_dict knows the keys, not the file: a wrong model must say which file it was.
    throw std::runtime_error(naming_file(path, std::string(e.what()) +
                                                   (arch.empty() ? " (is this a FashionClassifier checkpoint? "
                                                                   "for another model pass --model SPEC)"
                                                                 : " (the model: " + arch + ")")));
  }
  model->eval();
  return model;
}

Tensor images_for(const nn::Module& model, const Tensor& rows) {
  if (!nn::takes_image_planes(model)) return rows;
  return rows.reshape({rows.size(0), 1, 28, 28});
}

}  // namespace torchless::cli
