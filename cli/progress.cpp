#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace torchless::cli {

bool ProgressBar::enabled() { return isatty(STDERR_FILENO) == 1; }

ProgressBar::ProgressBar(std::string label, int64_t total) : label_(std::move(label)), total_(total), on_(enabled()) {}

void ProgressBar::update(int64_t done, double running_loss, double samples_per_s) {
  if (!on_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : kWidth;
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r%s [%s] %3d%%  loss %.4f  %.0f samples/s ", label_.c_str(), bar.c_str(),
               total_ > 0 ? static_cast<int>(100 * done / total_) : 100, running_loss, samples_per_s);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!on_) return;
  std::fprintf(stderr, "\r%*s\r", 100, "");
  std::fflush(stderr);
}

}  // namespace torchless::cli
