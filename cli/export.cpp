// torchless export: a model as a whole-model file (torch.save(model)'s
// form) that Python's torch.load(path, weights_only=False) returns as a
// live nn.Module.
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "cli/model_choice.h"
#include "io/torch_save.h"
#include "nn/model_spec.h"
#include "nn/whole_model.h"
#include "optim/training_checkpoint.h"

namespace torchless::cli {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

int run_export(const std::vector<std::string>& argv) {
  Args args(argv, {"--model", "--freeze"}, {"--train"});
  const auto& pos = args.positional();
  if (pos.size() < 2) throw UsageError(pos.empty() ? "missing FILE and OUT" : "missing OUT");
  if (pos.size() > 2) throw UsageError("unexpected argument '" + pos[2] + "'");
  const std::string in = pos[0], out = pos[1];
  if (out.empty()) throw UsageError("OUT needs a path, got ''");
  std::optional<std::string> spec;
  if (auto m = args.opt("--model")) spec = read_model_flag(*m);
  const std::shared_ptr<nn::Module> model = load_model_file(in, spec);
  // A training checkpoint's frozen modules stay frozen, and --freeze adds more.
  std::vector<std::string> frozen;
  io::LoadOptions lo;
  lo.map_location = io::MapLocation::parse("cpu");
  if (const io::ValuePtr root = load_any(in, lo).root; !io::is_pickled_module(root))
    frozen = optim::read_hparams(root).frozen;
  if (auto f = args.opt("--freeze"))
    for (const auto& m : split_commas(*f)) frozen.push_back(m);
  try {
    optim::freeze(*model, frozen);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--freeze: ") + e.what());
  }
  model->train(args.has("--train"));
  io::ValuePtr tree;
  try {
    tree = nn::module_to_value(*model);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(naming_file(in, e.what()));
  }
  io::save(tree, out);
  int64_t frozen_count = 0, params = 0;
  for (const auto& [n, t] : model->named_parameters()) {
    ++params;
    frozen_count += !t.requires_grad();
  }
  std::printf("%s: wrote the whole model (%lld parameter tensor(s), %lld frozen, %s mode): %s\n", out.c_str(),
              static_cast<long long>(params), static_cast<long long>(frozen_count),
              args.has("--train") ? "training" : "eval", nn::model_spec(*model).c_str());
  return 0;
}

}  // namespace

extern const Command kExportCommand = {
    "export", "write a model as a whole-model file that Python loads as a live nn.Module",
    "usage: torchless export FILE OUT [--model SPEC] [--freeze LIST] [--train]\n"
    "  FILE is what eval and predict take: a checkpoint or state_dict of a --model SPEC\n"
    "  architecture (or of the spec its hparams recorded), or a whole model. OUT is written\n"
    "  the way torch.save(model) writes one: objects of torch's own classes\n"
    "  (torch.nn.modules.container.Sequential, torch.nn.modules.conv.Conv2d, ...) with their\n"
    "  hyper-parameters, parameters, buffers, training flags and requires_grad flags, so that\n"
    "  in Python torch.load(OUT, weights_only=False) returns the model itself. It needs\n"
    "  weights_only=False because rebuilding a module calls its class, which is exactly what\n"
    "  weights_only=True forbids (only load such files from sources you trust); the\n"
    "  state_dict checkpoints train writes are the safe default. The FashionClassifier is not\n"
    "  one of torch's classes and cannot be exported.\n"
    "  --model SPEC  the architecture of a state_dict FILE (see torchless train --help)\n"
    "  --freeze LIST comma-separated modules or parameters written with requires_grad=False,\n"
    "                besides those a training checkpoint's hparams list as frozen\n"
    "  --train       write the model in training mode (default: eval mode)\n",
    run_export};

}  // namespace torchless::cli
