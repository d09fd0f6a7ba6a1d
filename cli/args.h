#pragma once
// A small command-line flag parser: --name VALUE, --name=VALUE and boolean
// --switch; "--" ends the options (everything after it is positional). Unknown
// flags, missing values and malformed numbers throw UsageError, which the
// program turns into a usage message and exit code 2.
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/device.h"

namespace torchless::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  /// `valued` flags take a value, `switches` do not; anything else is positional.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
       const std::set<std::string>& switches);
  bool has(const std::string& flag) const { return values_.count(flag) || switches_.count(flag); }
  std::string str(const std::string& flag, const std::string& def) const;
  std::optional<std::string> opt(const std::string& flag) const;
  int64_t integer(const std::string& flag, int64_t def, int64_t min, int64_t max) const;
  double real(const std::string& flag, double def, double min, double max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_;
  std::vector<std::string> positional_;
};

/// The value of --device: "cpu", "cuda" or "cuda:N". Throws UsageError
/// naming --device when it is malformed, when this build has no CUDA
/// backend, or when no such CUDA device is visible (so the mistake is
/// reported before any file is read).
Device device_flag(const std::string& text);

}  // namespace torchless::cli
