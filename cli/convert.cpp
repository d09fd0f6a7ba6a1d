// torchless convert: rewrite a checkpoint as a torch zip or safetensors file.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "io/torch_save.h"

namespace torchless::cli {

namespace {

using io::Value;
using io::ValuePtr;

int run_convert(const std::vector<std::string>& argv) {
  Args args(argv, {"--map-location", "--key"}, {"--safe"});
  const auto& pos = args.positional();
  if (pos.size() < 2) throw UsageError(pos.empty() ? "missing IN and OUT" : "missing OUT");
  if (pos.size() > 2) throw UsageError("unexpected argument '" + pos[2] + "'");
  const std::string in = pos[0], out = pos[1];
  const std::string ext = file_extension(out);
  bool to_safetensors = false;
  if (ext == ".safetensors") to_safetensors = true;
  else if (ext != ".pt" && ext != ".pth" && ext != ".bin" && ext != ".ckpt")
    throw UsageError("cannot tell the output format from '" + out +
                     "': use .pt, .pth, .bin or .ckpt (torch zip) or .safetensors");

  io::LoadOptions opt;
  opt.safe = args.has("--safe");
  if (auto ml = args.opt("--map-location")) {
    try {
      opt.map_location = io::MapLocation::parse(*ml);
    } catch (const std::exception& e) {
      throw UsageError(std::string("--map-location: ") + e.what());
    }
  }
  io::Checkpoint ck = load_any(in, opt);
  ValuePtr root = ck.root;
  if (auto key = args.opt("--key")) {
    if (!root || !root->is_dict())
      throw std::runtime_error(in + ": --key " + *key + ": the checkpoint is a " + (root ? root->kind_name() : "null") +
                               ", not a dict");
    ValuePtr sub = root->get(*key);
    if (!sub) {
      std::string keys;
      for (const auto& k : root->keys()) keys += (keys.empty() ? "" : ", ") + k;
      throw std::runtime_error(in + ": no key '" + *key + "' (keys: " + (keys.empty() ? "none" : keys) + ")");
    }
    root = sub;
  }

  if (to_safetensors) {
    if (!root || !root->is_dict())
      throw std::runtime_error(in + ": safetensors holds a flat dict of tensors, but the checkpoint is a " +
                               (root ? root->kind_name() : "null"));
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& [k, v] : root->entries) {
      if (!k || k->kind != Value::Kind::Str)
        throw std::runtime_error(in + ": safetensors needs str keys, found key " + io::repr(k, 1));
      if (!v || !v->is_tensor() || !v->tensor.defined())
        throw std::runtime_error(in + ": key '" + k->s + "' is of type " + (v ? v->kind_name() : "null") +
                                 ", not a tensor; safetensors holds only tensors" +
                                 (root == ck.root ? " (pick a dict of tensors with --key, e.g. --key state_dict)" : ""));
      tensors.emplace_back(k->s, v->tensor);
    }
    io::save_safetensors(out, tensors);
    std::printf("wrote %s (safetensors, %zu tensors)\n", out.c_str(), tensors.size());
  } else {
    io::save(root, out);
    std::printf("wrote %s (torch zip, from %s)\n", out.c_str(), ck.format.c_str());
  }
  return 0;
}

}  // namespace

extern const Command kConvertCommand = {
    "convert", "rewrite a checkpoint as torch zip or safetensors",
    "usage: torchless convert IN OUT [--map-location DEV] [--safe] [--key K]\n"
    "  Reads IN (torch zip, legacy torch or safetensors) and writes OUT in the format its\n"
    "  extension names: .pt .pth .bin .ckpt -> torch zip (torch.load reads it);\n"
    "  .safetensors -> safetensors (a flat dict of tensors only). OUT is written\n"
    "  atomically: on any error it is left as it was.\n"
    "  --map-location DEV  where tensors go: cpu, cuda, cuda:N or a remap 'cuda:0=cpu'\n"
    "                      (default: the device they were saved on)\n"
    "  --safe              refuse globals outside torch's weights_only allowlist\n"
    "  --key K             write only the checkpoint's entry K (e.g. state_dict)\n",
    run_convert};

}  // namespace torchless::cli
