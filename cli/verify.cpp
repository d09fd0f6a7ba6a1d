// torchless verify: integrity check of a checkpoint without trusting it.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "io/zip_reader.h"

namespace torchless::cli {

namespace {

using io::Value;
using io::ValuePtr;

struct Walk {
  std::set<const void*> tensors, storages;
  int64_t bytes = 0;
  std::vector<std::string> problems;

  void go(const ValuePtr& v, const std::string& where, std::set<const Value*>& active) {
    if (!v || active.count(v.get())) return;
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
          problems.push_back("tensor at " + where + " reaches outside its storage of " + std::to_string(elems) +
                             " elements");
      }
      if (storages.insert(t.storage().id()).second) bytes += static_cast<int64_t>(t.storage().nbytes());
      return;
    }
    if (v->kind == Value::Kind::Storage) {
      if (storages.insert(v->storage.id()).second) bytes += static_cast<int64_t>(v->storage.nbytes());
      return;
    }
    active.insert(v.get());
    for (size_t i = 0; i < v->items.size(); ++i) go(v->items[i], where + "[" + std::to_string(i) + "]", active);
    for (const auto& [k, x] : v->entries) go(x, where + "[" + io::repr(k, 1) + "]", active);
    if (v->args) go(v->args, where + ".args", active);
    if (v->state) go(v->state, where + ".state", active);
    active.erase(v.get());
  }
};

int fail(const std::string& msg) {
  std::printf("FAILED: %s\n", msg.c_str());
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
      if (!f) throw std::runtime_error(path + ": cannot open");
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
  io::LoadOptions opt;
  opt.map_location = io::MapLocation::parse("cpu");
  opt.mmap = true;
  opt.verify_crc = false;  // done above
  opt.safe = true;
  io::Checkpoint ck;
  std::string unsafe_reason;
  try {
    ck = io::load_checkpoint(path, opt);
  } catch (const std::exception& safe_error) {
    opt.safe = false;
    try {
      ck = io::load_checkpoint(path, opt);
      unsafe_reason = safe_error.what();
    } catch (const std::exception& e) {
      return fail(e.what());
    }
  }
  if (!is_zip) records = ck.storages.size();

  Walk w;
  std::set<const Value*> active;
  w.go(ck.root, "root", active);
  if (!w.problems.empty()) return fail(path + ": " + w.problems[0]);

  std::printf("format: %s%s\n", ck.format.c_str(), is_zip ? " (structure and every CRC-32 checked)" : " (no checksums in this format)");
  if (unsafe_reason.empty()) std::printf("weights_only: safe (loads with torch.load(weights_only=True))\n");
  else std::printf("weights_only: NOT safe, needs weights_only=False: %s\n", unsafe_reason.c_str());
  std::printf("OK: %zu records, %zu tensors, %lld bytes\n", records, w.tensors.size(), static_cast<long long>(w.bytes));
  return 0;
}

}  // namespace

extern const Command kVerifyCommand = {
    "verify", "check a checkpoint's integrity (zip, CRCs, pickle, storages)",
    "usage: torchless verify FILE\n"
    "  Checks a torch checkpoint without trusting it: the zip structure and every\n"
    "  record's CRC-32, that data.pkl parses (and whether it is weights_only-safe),\n"
    "  that every storage record exists with the right length and every tensor lies\n"
    "  inside its storage. Legacy files (no CRCs) and .safetensors files are checked\n"
    "  as far as their format allows. Prints 'OK: N records, M tensors, K bytes' and\n"
    "  exits 0, or 'FAILED: ...' naming the problem and exits 1.\n",
    run_verify};

}  // namespace torchless::cli
