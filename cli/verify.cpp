// torchless verify: integrity check and malware scan of a checkpoint,
// without trusting it. The exit code is the verdict, so that
// `torchless verify upload.pt && python train.py` protects the script.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "io/checked_file.h"
#include "io/pickle_scan.h"
#include "io/safetensors.h"
#include "io/zip_reader.h"

namespace torchless::cli {

namespace {

using io::GlobalRisk;
using io::Value;
using io::ValuePtr;

enum Exit { kOk = 0, kDamaged = 1, kNotWeightsOnly = 3, kRunsCode = 4 };

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

  // Recursion is bounded: the unpickler refuses trees deeper than 1000.
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

// What verify found; printed as text or JSON.
struct Report {
  std::string path;
  std::string format;       // "zip", "legacy", "safetensors", or "" when unknown
  bool checksums = false;   // every record's CRC-32 checked
  std::vector<std::string> damage;
  io::PickleScan scan;
  size_t records = 0, tensors = 0;
  int64_t bytes = 0;

  // Code that would run outranks damage: Python runs a REDUCE as soon as it
  // reads it, before it reaches a later broken byte.
  int exit_code() const {
    const GlobalRisk worst = scan.worst();
    if (worst == GlobalRisk::Executes) return kRunsCode;
    if (!damage.empty()) return kDamaged;
    if (worst != GlobalRisk::Allowed) return kNotWeightsOnly;
    return kOk;
  }
  std::vector<const io::GlobalUse*> refused() const {
    std::vector<const io::GlobalUse*> out;
    for (const auto& g : scan.globals)
      if (g.risk != GlobalRisk::Allowed) out.push_back(&g);
    return out;
  }
};

const char* verdict_name(int code) {
  switch (code) {
    case kOk: return "ok";
    case kDamaged: return "damaged";
    case kNotWeightsOnly: return "not_weights_only";
    default: return "runs_code";
  }
}

// The legacy format's first pickle: protocol 2, LONG1 of 10 bytes, the magic.
bool starts_like_legacy(std::string_view b) {
  static const std::string kMagicPickle("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14);
  return b.substr(0, kMagicPickle.size()) == kMagicPickle;
}

// Scans the pickles torch.load would read: data.pkl of a zip; the legacy
// stream's five (magic, protocol, system info, object, storage keys); of
// any other file the first pickle, which torch's legacy path unpickles
// before it checks the magic number.
void scan_zip(const io::ZipReader& zip, Report& r) {
  const io::ZipEntry* pkl = zip.find_record("data.pkl");
  if (!pkl) {
    r.damage.push_back(r.path + ": no record '" + zip.archive_prefix() + "/data.pkl'");
    return;
  }
  // A stored data.pkl is scanned even when its CRC failed: torch reads it.
  std::string inflated;
  std::string_view bytes;
  if (pkl->method == 0) {
    bytes = zip.stored_view(*pkl);
  } else {
    try {
      inflated = zip.read(*pkl);
      bytes = inflated;
    } catch (const std::exception&) {
      return;  // verify_all() has reported it
    }
  }
  io::scan_pickle(bytes, "data.pkl", r.scan);
}

void scan_stream(const std::string& path, Report& r) {
  std::shared_ptr<io::MappedFile> f = io::MappedFile::open(path);
  std::string_view b(reinterpret_cast<const char*>(f->data()), f->size());
  static const char* kLegacy[] = {"magic number", "protocol version", "system info", "object", "storage keys"};
  const size_t count = starts_like_legacy(b) ? 5 : 1;
  size_t pos = 0;
  for (size_t k = 0; k < count && pos < b.size(); ++k) {
    size_t used = 0;
    const std::string label = count == 5 ? std::string("legacy ") + kLegacy[k] + " pickle" : "first pickle";
    io::scan_pickle(b.substr(pos), label + " (file byte " + std::to_string(pos) + ")", r.scan, &used);
    if (used == 0) break;
    pos += used;
  }
  // A file that is not a pickle at all says so through the load's error.
  if (count == 1 && !r.scan.problems.empty()) r.scan.problems.clear();
}

void check_structure(Report& r) {
  if (is_safetensors_file(r.path)) {
    r.format = "safetensors";
    io::SafetensorsFile f = io::load_safetensors(r.path, /*mmap=*/true);
    r.records = r.tensors = f.tensors.size();
    for (const auto& [n, t] : f.tensors) r.bytes += static_cast<int64_t>(t.nbytes());
    return;
  }
  if (io::read_head(r.path, 4) == std::string("PK\x03\x04", 4)) {
    r.format = "zip";
    io::ZipReader zip = io::ZipReader::open(r.path);
    r.records = zip.entries().size();
    try {
      zip.verify_all();
      r.checksums = true;
    } catch (const std::exception& e) {
      r.damage.push_back(e.what());
    }
    scan_zip(zip, r);
  } else {
    scan_stream(r.path, r);
  }
  if (!r.damage.empty()) return;

  // The whole load, inert: every storage record's presence and length, every
  // tensor's geometry against its storage.
  io::LoadOptions opt;
  opt.map_location = io::MapLocation::parse("cpu");
  opt.mmap = true;
  opt.verify_crc = false;  // done above
  io::Checkpoint ck = io::load_checkpoint(r.path, opt);
  r.format = ck.format;
  if (r.format != "zip") r.records = ck.storages.size();
  Walk w;
  w.go(ck.root, {nullptr, "root"});
  for (const auto& p : w.problems) r.damage.push_back(r.path + ": " + p);
  r.tensors = w.tensors.size();
  r.bytes = w.bytes;
}

std::string join_names(const std::vector<const io::GlobalUse*>& v) {
  std::string s;
  std::unordered_set<std::string> seen;
  for (const auto* g : v)
    if (seen.insert(g->name).second) s += (s.empty() ? "" : ", ") + printable(g->name);
  return s;
}

std::string where_text(const io::GlobalUse& g) {
  std::string s = "in " + printable(g.pickle) + " at byte " + std::to_string(g.offset);
  if (g.uses > 1) s += " (named " + std::to_string(g.uses) + " times)";
  if (g.paths.empty()) return s + ", its result not kept (it runs during the load all the same)";
  s += ", at ";
  for (size_t i = 0; i < g.paths.size(); ++i) s += (i ? ", " : "") + printable(g.paths[i]);
  if (g.more_paths) s += " and " + std::to_string(g.more_paths) + " more places";
  return s;
}

void print_text(const Report& r) {
  const int code = r.exit_code();
  if (!r.format.empty()) {
    const char* how = r.format == "safetensors" ? " (no checksums in this format; header, offsets and sizes checked)"
                      : r.checksums            ? " (structure and every CRC-32 checked)"
                      : r.format == "zip"      ? ""
                                               : " (no checksums in this format)";
    std::printf("format: %s%s\n", r.format.c_str(), how);
  }
  for (const auto& g : r.scan.globals) {
    if (g.risk == GlobalRisk::Allowed) continue;
    const char* tag = g.risk == GlobalRisk::Executes ? "RUNS CODE" : g.risk == GlobalRisk::Numpy ? "numpy" : "imports";
    std::printf("  %-9s %s: %s; %s\n", tag, printable(g.name).c_str(), printable(io::global_risk_reason(g.name)).c_str(),
                where_text(g).c_str());
  }
  for (const auto& p : r.scan.problems) std::printf("  not scanned: %s\n", printable(p).c_str());

  const auto refused = r.refused();
  if (r.format != "safetensors" && (r.damage.empty() || !refused.empty())) {
    const bool only_numpy = !refused.empty() && std::all_of(refused.begin(), refused.end(), [](const auto* g) {
      return g->risk == GlobalRisk::Numpy;
    });
    std::string weights_only;
    if (refused.empty()) {
      weights_only = "safe (loads with torch.load(weights_only=True))";
    } else if (only_numpy) {
      weights_only = "safe for torchless (--safe allows numpy values), but torch.load(weights_only=True) refuses the "
                     "numpy globals " + join_names(refused) +
                     ": allow them with torch.serialization.add_safe_globals, or use weights_only=False if you "
                     "trust the file";
    } else {
      weights_only = "NOT safe, needs weights_only=False: torch.load(weights_only=True) refuses the globals " +
                     join_names(refused);
    }
    std::printf("weights_only: %s\n", weights_only.c_str());
  }
  for (size_t i = 1; i < r.damage.size(); ++i) std::printf("damage: %s\n", printable(r.damage[i]).c_str());
  if (!r.damage.empty()) std::printf("FAILED: %s\n", printable(r.damage[0]).c_str());
  else
    std::printf("%s: %zu records, %zu tensors, %lld bytes\n", code == kOk ? "OK" : "intact", r.records, r.tensors,
                static_cast<long long>(r.bytes));
  if (code == kRunsCode) {
    std::vector<const io::GlobalUse*> bad;
    for (const auto* g : refused)
      if (g->risk == GlobalRisk::Executes) bad.push_back(g);
    std::printf("DANGER: torch.load(weights_only=False) of this file would run code (%s); do not load it in Python\n",
                join_names(bad).c_str());
  } else if (code == kNotWeightsOnly) {
    std::printf("NOT WEIGHTS-ONLY: torch.load(weights_only=True) refuses this file; weights_only=False would import "
                "%s\n", join_names(refused).c_str());
  }
}

void print_json(const Report& r) {
  const int code = r.exit_code();
  std::string s = "{\"file\":" + json_str(r.path) + ",\"format\":" + (r.format.empty() ? "null" : json_str(r.format)) +
                  ",\"exit_code\":" + std::to_string(code) + ",\"verdict\":\"" + verdict_name(code) + "\"" +
                  ",\"checksums_verified\":" + (r.checksums ? "true" : "false") +
                  ",\"weights_only\":" + (r.damage.empty() && r.refused().empty() ? "true" : "false") +
                  ",\"records\":" + std::to_string(r.records) + ",\"tensors\":" + std::to_string(r.tensors) +
                  ",\"bytes\":" + std::to_string(r.bytes) + ",\"damage\":[";
  for (size_t i = 0; i < r.damage.size(); ++i) s += (i ? "," : "") + json_str(r.damage[i]);
  s += "],\"globals\":[";
  for (size_t i = 0; i < r.scan.globals.size(); ++i) {
    const io::GlobalUse& g = r.scan.globals[i];
    s += std::string(i ? "," : "") + "{\"name\":" + json_str(g.name) + ",\"risk\":\"" + io::risk_name(g.risk) +
         "\",\"why\":" + json_str(io::global_risk_reason(g.name)) + ",\"pickle\":" + json_str(g.pickle) +
         ",\"offset\":" + std::to_string(g.offset) + ",\"uses\":" + std::to_string(g.uses) + ",\"paths\":[";
    for (size_t k = 0; k < g.paths.size(); ++k) s += (k ? "," : "") + json_str(g.paths[k]);
    s += "],\"more_paths\":" + std::to_string(g.more_paths) + "}";
  }
  s += "],\"not_scanned\":[";
  for (size_t i = 0; i < r.scan.problems.size(); ++i) s += (i ? "," : "") + json_str(r.scan.problems[i]);
  s += "]}\n";
  std::fputs(s.c_str(), stdout);
}

int run_verify(const std::vector<std::string>& argv) {
  Args args(argv, {}, {"--json"});
  if (args.positional().size() != 1)
    throw UsageError(args.positional().empty() ? "missing FILE" : "unexpected argument '" + args.positional()[1] + "'");
  Report r;
  r.path = args.positional()[0];
  try {
    check_structure(r);
  } catch (const std::exception& e) {
    r.damage.push_back(e.what());
  }
  if (args.has("--json")) print_json(r);
  else print_text(r);
  return r.exit_code();
}

}  // namespace

extern const Command kVerifyCommand = {
    "verify", "check a file before Python loads it: damage, and code torch.load would run",
    "usage: torchless verify [--json] FILE\n"
    "  Checks a torch checkpoint (zip or legacy) or .safetensors file without\n"
    "  trusting it or running anything in it: the zip structure (duplicate,\n"
    "  overlapping or hidden records, local headers that disagree with the\n"
    "  central directory) and every record's CRC-32, that the pickle parses,\n"
    "  that every storage record exists with the right length and every tensor\n"
    "  lies inside its storage; and every global the pickle names, with where it\n"
    "  sits in the loaded object (bytes that a named global would unpickle again\n"
    "  are scanned too).\n"
    "  --json   print the same as one JSON object\n"
    "  Exit codes:\n"
    "    0  intact, and torch.load(weights_only=True) loads it\n"
    "    1  damaged (structure, CRC, sizes), or cannot be read\n"
    "    2  bad usage\n"
    "    3  intact, but torch.load would import or call globals outside its\n"
    "       weights_only allowlist (whole-model files, numpy values, custom classes)\n"
    "    4  torch.load(weights_only=False) would run code: a global known to\n"
    "       execute, import, open files or sockets, or load a nested pickle\n"
    "       (os.system, builtins.eval, subprocess, runpy, pickle.loads, ...)\n",
    run_verify};

}  // namespace torchless::cli
