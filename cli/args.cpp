#include "cli/args.h"

#include <charconv>
#include <cmath>

namespace torchless::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
           const std::set<std::string>& switches) {
  bool options_ended = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (options_ended || a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    if (a == "--") {  // POSIX: everything after "--" is positional, even "--foo"
      options_ended = true;
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (switches.count(name)) {
      if (inline_value) throw UsageError(name + " takes no value");
      switches_.insert(name);
    } else if (valued.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) throw UsageError(name + " needs a value");
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      throw UsageError("unknown option " + name);
    }
  }
}

std::string Args::str(const std::string& flag, const std::string& def) const {
  auto it = values_.find(flag);
  return it == values_.end() ? def : it->second;
}

std::optional<std::string> Args::opt(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

int64_t Args::integer(const std::string& flag, int64_t def, int64_t min, int64_t max) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return def;
  const std::string& s = it->second;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    throw UsageError(flag + " expects an integer, got '" + s + "'");
  if (v < min || v > max)
    throw UsageError(flag + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
  return v;
}

double Args::real(const std::string& flag, double def, double min, double max) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return def;
  const std::string& s = it->second;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty() || !std::isfinite(v)) throw UsageError(flag + " expects a number, got '" + s + "'");
  if (v < min || v > max)
    throw UsageError(flag + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
  return v;
}

Device device_flag(const std::string& text) {
  Device d;
  try {
    d = Device::parse(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--device: ") + e.what());
  }
  if (d.is_cpu()) return d;
  if (!cuda_built()) throw UsageError("--device " + text + ": this torchless was built without CUDA; use --device cpu");
  const int n = cuda_device_count();
  if (d.index >= n)
    throw UsageError("--device " + text + ": " +
                     (n == 0 ? cuda_summary() : "only " + std::to_string(n) + " CUDA device(s) are visible") +
                     "; use --device cpu");
  return d;
}

}  // namespace torchless::cli
