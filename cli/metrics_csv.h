#pragma once
// The per-epoch metrics CSV that `torchless train --metrics FILE` appends to
// and `torchless plot` draws.
#include <cstdint>
#include <fstream>
#include <string>

namespace torchless::cli {

inline constexpr const char* kMetricsHeader = "epoch,train_loss,valid_loss,valid_accuracy,samples_per_s";

/// Rows are only ever appended, so a FILE that is there must be empty or one
/// of these CSVs (or not a regular file: /dev/stdout, a pipe). Throws
/// std::runtime_error naming "--metrics FILE" and what is wrong otherwise;
/// a missing FILE passes (it is created later).
void check_metrics_file(const std::string& path);

/// Appends one row per epoch to FILE (nothing at all for an empty path).
class MetricsCsv {
 public:
  /// Checks FILE (check_metrics_file) and opens it for appending; the header
  /// goes first only into a new or empty file. Throws std::runtime_error.
  explicit MetricsCsv(const std::string& path);
  /// Writes and flushes one row. Throws std::runtime_error if the write fails.
  void row(int64_t epoch, double train_loss, double valid_loss, double acc, double sps);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace torchless::cli
