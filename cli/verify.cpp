// torchless verify: integrity check of a checkpoint without trusting it.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "io/unpickler.h"
#include "io/zip_reader.h"

namespace torchless::cli {

namespace {

using io::Value;
using io::ValuePtr;

// Checks every tensor once. Pickle's memo lets a 1 KB file reference one
// node from many places (a list of itself, 40 levels deep, is 2^40 paths), so
// each node is visited once, by pointer: linear in the file, never exponential.
struct Walk {
  // Where a node was reached: a chain of path pieces on the stack, joined
  // only when a problem is reported (eager paths would cost depth per node).
  struct Where {
    const Where* parent;
    std::string piece;
    std::string str() const { return (parent ? parent->str() : std::string()) + piece; }
  };
  std::set<const void*> tensors, storages;
  std::unordered_set<const Value*> visited;
  int64_t bytes = 0;
  std::vector<std::string> problems;

  void go(const ValuePtr& v, const Where& where) {
    if (!v || !visited.insert(v.get()).second) return;
    if (v->kind == Value::Kind::Tensor) {
      if (!v->tensor.defined()) return;
      const Tensor& t = v->tensor;
      if (tensors.insert(t.impl_ptr().get()).second) {
        // Every element's position must lie inside the storage.
        const int64_t elems = static_cast<int64_t>(t.storage().nbytes() / element_size(t.dtype()));
        int64_t lo = t.storage_offset(), hi = t.storage_offset();
        bool empty = false;
        for (int64_t d = 0; d < t.dim(); ++d) {
          if (t.size(d) == 0) empty = true;
          const int64_t span = (t.size(d) - 1) * t.stride(d);
          if (span < 0) lo += span; else hi += span;
        }
        if (!empty && (lo < 0 || hi >= elems))
          problems.push_back("tensor at " + where.str() + " reaches outside its storage of " + std::to_string(elems) +
                             " elements");
      }
      if (storages.insert(t.storage().id()).second) bytes += static_cast<int64_t>(t.storage().nbytes());
      return;
    }
    if (v->kind == Value::Kind::Storage) {
      if (storages.insert(v->storage.id()).second) bytes += static_cast<int64_t>(v->storage.nbytes());
      return;
    }
    for (size_t i = 0; i < v->items.size(); ++i) go(v->items[i], {&where, "[" + std::to_string(i) + "]"});
    for (const auto& [k, x] : v->entries) go(x, {&where, "[" + printable(io::repr(k, 1, 64)) + "]"});
    if (v->args) go(v->args, {&where, ".args"});
    if (v->state) go(v->state, {&where, ".state"});
  }
};

// torch.load(weights_only=True)'s default allowlist is ours without the numpy
// names, which torchless allows on purpose (see io/unpickler.h).
bool is_numpy_global(const std::string& g) { return g == "numpy" || g.rfind("numpy.", 0) == 0; }

// Collects, in order of first use, the globals a pickle names that
// torch.load(weights_only=True) refuses.
struct TorchRefusals {
  std::unordered_set<std::string> torch_allows, seen;
  std::vector<std::string> refused;

  TorchRefusals() {
    for (const auto& g : io::default_safe_globals())
      if (!is_numpy_global(g)) torch_allows.insert(g);
  }
  void clear() {
    seen.clear();
    refused.clear();
  }
  void note(const std::string& g) {
    if ((io::blocked_global(g) || !torch_allows.count(g)) && seen.insert(g).second) refused.push_back(g);
  }
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + printable(x);
  return s;
}

int fail(const std::string& msg) {
  std::printf("FAILED: %s\n", printable(msg).c_str());
  return 1;
}

int run_verify(const std::vector<std::string>& argv) {
  Args args(argv, {}, {});
  if (args.positional().size() != 1)
    throw UsageError(args.positional().empty() ? "missing FILE" : "unexpected argument '" + args.positional()[1] + "'");
  const std::string path = args.positional()[0];

  if (is_safetensors_file(path)) {
    try {
      io::SafetensorsFile f = io::load_safetensors(path, /*mmap=*/true);
      int64_t bytes = 0;
      for (const auto& [n, t] : f.tensors) bytes += static_cast<int64_t>(t.nbytes());
      std::printf("format: safetensors (no checksums in this format; header, offsets and sizes checked)\n");
      std::printf("OK: %zu records, %zu tensors, %lld bytes\n", f.tensors.size(), f.tensors.size(),
                  static_cast<long long>(bytes));
      return 0;
    } catch (const std::exception& e) {
      return fail(e.what());
    }
  }

  // 1. Zip structure and every record's CRC (legacy files have neither).
  size_t records = 0;
  bool is_zip = false;
  try {
    std::string head;
    {
      FILE* f = std::fopen(path.c_str(), "rb");
      if (!f) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
      char b[4];
      const size_t n = std::fread(b, 1, 4, f);
      std::fclose(f);
      head.assign(b, n);
    }
    if (head == std::string("PK\x03\x04", 4)) {
      is_zip = true;
      io::ZipReader zip = io::ZipReader::open(path);
      zip.verify_all();
      records = zip.entries().size();
      const std::string prefix = zip.archive_prefix();
      if (!zip.find(prefix + "/data.pkl")) return fail(path + ": no record '" + prefix + "/data.pkl'");
    }
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  // 2. data.pkl in safe mode (weights_only), then unrestricted if refused;
  //    loading checks each storage record's presence and length and each
  //    tensor's geometry against its storage.
  //    The load that succeeds also lists the globals torch would refuse.
  TorchRefusals torch_refusals;
  io::LoadOptions opt;
  opt.map_location = io::MapLocation::parse("cpu");
  opt.mmap = true;
  opt.verify_crc = false;  // done above
  opt.safe = true;
  opt.on_global = [&](const std::string& g) { torch_refusals.note(g); };
  io::Checkpoint ck;
  std::string unsafe_reason;
  try {
    ck = io::load_checkpoint(path, opt);
  } catch (const std::exception& safe_error) {
    opt.safe = false;
    torch_refusals.clear();
    try {
      ck = io::load_checkpoint(path, opt);
      unsafe_reason = safe_error.what();
    } catch (const std::exception& e) {
      return fail(e.what());
    }
  }
  if (!is_zip) records = ck.storages.size();

  Walk w;
  w.go(ck.root, {nullptr, "root"});
  if (!w.problems.empty()) return fail(path + ": " + w.problems[0]);

  // torchless's safe mode allows numpy scalars and arrays, torch's does not:
  // say what torch.load(weights_only=True) itself will do.
  const std::vector<std::string>& refused = torch_refusals.refused;
  const bool only_numpy = !refused.empty() && std::all_of(refused.begin(), refused.end(), is_numpy_global);
  std::string weights_only;
  if (unsafe_reason.empty() && refused.empty()) {
    weights_only = "safe (loads with torch.load(weights_only=True))";
  } else if (unsafe_reason.empty() && only_numpy) {
    weights_only = "safe for torchless (--safe allows numpy values), but torch.load(weights_only=True) refuses the "
                   "numpy globals " + join(refused) +
                   ": allow them with torch.serialization.add_safe_globals, or use weights_only=False if you "
                   "trust the file";
  } else if (!refused.empty()) {
    weights_only = "NOT safe, needs weights_only=False: torch.load(weights_only=True) refuses the globals " +
                   join(refused);
  } else {
    weights_only = "NOT safe, needs weights_only=False: " + printable(unsafe_reason);
  }

  std::printf("format: %s%s\n", ck.format.c_str(), is_zip ? " (structure and every CRC-32 checked)" : " (no checksums in this format)");
  std::printf("weights_only: %s\n", weights_only.c_str());
  std::printf("OK: %zu records, %zu tensors, %lld bytes\n", records, w.tensors.size(), static_cast<long long>(w.bytes));
  return 0;
}

}  // namespace

extern const Command kVerifyCommand = {
    "verify", "check a checkpoint's integrity (zip, CRCs, pickle, storages)",
    "usage: torchless verify FILE\n"
    "  Checks a torch checkpoint without trusting it: the zip structure and every\n"
    "  record's CRC-32, that data.pkl parses, that every storage record exists with\n"
    "  the right length and every tensor lies inside its storage. Legacy files (no\n"
    "  CRCs) and .safetensors files are checked as far as their format allows.\n"
    "  For torch files it also says whether torch.load(weights_only=True) accepts the\n"
    "  file, listing the globals it would refuse; numpy scalars and arrays pass\n"
    "  torchless's --safe but need torch.serialization.add_safe_globals in torch.\n"
    "  Prints 'OK: N records, M tensors, K bytes' and exits 0, or 'FAILED: ...'\n"
    "  naming the problem and exits 1.\n",
    run_verify};

}  // namespace torchless::cli
