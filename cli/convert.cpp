// torchless convert: rewrite a checkpoint as a torch zip or safetensors file.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <new>
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

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), size = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(size) : 0;
}

std::string bytes_str(long double n) {
  char b[64];
  std::snprintf(b, sizeof b, "%.0Lf bytes", n);
  return b;
}

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
  io::Checkpoint ck;
  std::vector<std::pair<std::string, std::string>> metadata;  // safetensors "__metadata__"
  try {
    ck = load_any(in, opt, &metadata);
  } catch (const std::bad_alloc& e) {
    throw std::runtime_error(in + ": " + e.what() + " while loading");
  } catch (const std::exception& e) {
    std::string msg = naming_file(in, e.what());
    // The user never asked for cuda:0: the file did. Say how to load it here.
    if (opt.map_location.empty() && msg.find("CUDA") != std::string::npos)
      msg += " (the file holds CUDA tensors; use --map-location cpu to load them on the CPU)";
    throw std::runtime_error(msg);
  }
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
        throw std::runtime_error(in + ": safetensors needs str keys, found key " + printable(io::repr(k, 1, 200)));
      if (!v || !v->is_tensor() || !v->tensor.defined())
        throw std::runtime_error(in + ": key '" + k->s + "' is of type " + (v ? v->kind_name() : "null") +
                                 ", not a tensor; safetensors holds only tensors" +
                                 (root == ck.root ? " (pick a dict of tensors with --key, e.g. --key state_dict)" : ""));
      tensors.emplace_back(k->s, v->tensor);
    }
    // safetensors stores every tensor contiguously: an expanded (stride-0) view
    // of a few bytes grows to numel * element size. Refuse, naming the tensor,
    // when that cannot fit in memory, rather than fail in an allocation.
    const uint64_t memory = physical_memory_bytes();
    const std::pair<std::string, Tensor>* largest = nullptr;
    long double largest_need = 0;
    for (const auto& kt : tensors) {
      const Tensor& t = kt.second;
      const long double need = static_cast<long double>(t.numel()) * element_size(t.dtype());
      if (need > largest_need) largest = &kt, largest_need = need;
      if (need > static_cast<long double>(t.storage().nbytes()) && memory && need > static_cast<long double>(memory))
        throw std::runtime_error(in + ": tensor '" + printable(kt.first) + "' of shape " + shape_str(t.sizes()) + " (" +
                                 std::string(dtype_name(t.dtype())) + ", a view of " +
                                 std::to_string(t.storage().nbytes()) + " bytes) would need " + bytes_str(need) +
                                 " as the contiguous data safetensors stores, more than this machine's memory (" +
                                 std::to_string(memory) + " bytes); write a torch file (.pt) instead, which keeps "
                                 "the view");
    }
    try {
      io::save_safetensors(out, tensors, metadata);
    } catch (const std::bad_alloc& e) {
      std::string msg = out + ": " + e.what() + " while writing safetensors (every tensor is stored contiguously)";
      if (largest)
        msg += "; the largest, '" + printable(largest->first) + "' of shape " + shape_str(largest->second.sizes()) +
               ", needs " + bytes_str(largest_need);
      throw std::runtime_error(msg);
    }
    std::printf("wrote %s (safetensors, %zu tensors%s)\n", out.c_str(), tensors.size(),
                metadata.empty() ? "" : ", __metadata__ kept");
  } else {
    if (!metadata.empty())
      std::fprintf(stderr, "note: %s's safetensors __metadata__ (%zu entries) has no place in a torch file; dropped\n",
                   in.c_str(), metadata.size());
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
    "  .safetensors -> safetensors (a flat dict of tensors only; a safetensors IN's\n"
    "  __metadata__ is kept, and dropped with a note for a torch OUT). Views are\n"
    "  written contiguously to safetensors (an expanded view too large for memory is\n"
    "  refused, naming it). OUT is written atomically: on any error it is left as it was.\n"
    "  --map-location DEV  where tensors go: cpu, cuda, cuda:N or a remap 'cuda:0=cpu'\n"
    "                      (default: the device they were saved on; use cpu for a CUDA\n"
    "                      checkpoint on a machine without a GPU)\n"
    "  --safe              refuse globals outside torch's weights_only allowlist\n"
    "  --key K             write only the checkpoint's entry K (e.g. state_dict)\n",
    run_convert};

}  // namespace torchless::cli
