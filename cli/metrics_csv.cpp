#include "cli/metrics_csv.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace torchless::cli {

void check_metrics_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return;  // created later, after the checkpoint folder
  if (S_ISDIR(st.st_mode)) throw std::runtime_error("--metrics " + path + ": is a directory");
  if (!S_ISREG(st.st_mode) || st.st_size == 0) return;  // /dev/stdout, a pipe: nothing to read back
  std::ifstream in(path, std::ios::binary);
  std::string first;
  if (!in || !std::getline(in, first)) throw std::runtime_error("--metrics " + path + ": cannot read it");
  if (!first.empty() && first.back() == '\r') first.pop_back();
  if (first != kMetricsHeader) {
    if (first.size() > 60) first = first.substr(0, 60) + "...";
    throw std::runtime_error("--metrics " + path + ": the file is not empty and is not a metrics CSV (its first " +
                             "line is '" + first + "', not '" + kMetricsHeader +
                             "'); refusing to append to it: name a new file, or one an earlier run wrote");
  }
}

MetricsCsv::MetricsCsv(const std::string& path) : path_(path) {
  if (path.empty()) return;
  check_metrics_file(path);
  struct stat st {};
  const bool has_rows = stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
  bool ends_in_newline = true;
  if (has_rows) {
    std::ifstream in(path, std::ios::binary);
    char last = '\n';
    in.seekg(-1, std::ios::end);
    in.get(last);
    ends_in_newline = last == '\n';
  }
  out_.open(path, std::ios::app);
  if (!out_) throw std::runtime_error("--metrics " + path + ": cannot open for appending: " + std::strerror(errno));
  if (!has_rows) out_ << kMetricsHeader << "\n";
  else if (!ends_in_newline) out_ << "\n";  // a last row cut short would swallow the first new one
  out_.flush();
  if (!out_) throw std::runtime_error("--metrics " + path_ + ": write failed");
}

void MetricsCsv::row(int64_t epoch, double train_loss, double valid_loss, double acc, double sps) {
  if (path_.empty()) return;
  char line[200];
  std::snprintf(line, sizeof line, "%lld,%.6f,%.6f,%.4f,%.1f\n", static_cast<long long>(epoch), train_loss,
                valid_loss, acc, sps);
  out_ << line;
  out_.flush();
  if (!out_) throw std::runtime_error("--metrics " + path_ + ": write failed");
}

}  // namespace torchless::cli
