#pragma once
// A one-line progress bar for terminals; silent when stderr is not a tty
// (CI logs and pipes get no carriage-return noise).
#include <chrono>
#include <cstdint>
#include <string>

namespace torchless::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  /// Redraws at most ~10 times a second.
  void update(int64_t done, double running_loss, double samples_per_s);
  /// Clears the line.
  void finish();
  static bool enabled();

 private:
  std::string label_;
  int64_t total_;
  bool on_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace torchless::cli
