// torchless plot: training curves from the trainer's metrics CSV, as SVG.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "io/checked_file.h"

namespace torchless::cli {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) out.push_back(trim(cell));
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

double parse_cell(const std::string& s) {
  if (s.empty()) return NAN;
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    return used == s.size() ? v : NAN;
  } catch (const std::exception&) {
    // stod throws out_of_range for e.g. 1e999 and invalid_argument for text: skip the value.
    return NAN;
  }
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') o += '?';  // not XML 1.0
    else o += c;
  }
  return o;
}

std::string fmt(long double v) {
  char b[48];
  std::snprintf(b, sizeof b, "%.6Lg", v);
  return b;
}

std::string px(long double v) {
  char b[48];
  std::snprintf(b, sizeof b, "%.2Lf", v);
  return b;
}

// "Nice" tick positions covering [lo, hi]. In long double: the span of two
// finite doubles (1e308 - -1e308) overflows a double, not a long double.
std::vector<long double> ticks(long double& lo, long double& hi, int target = 5) {
  if (!(hi > lo)) {
    long double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1L;
    if (!(lo - pad < lo + pad)) pad = 1;  // denormals: 0.1*lo underflows
    lo -= pad;
    hi += pad;
  }
  const long double raw = (hi - lo) / target;
  const long double mag = std::pow(10.0L, std::floor(std::log10(raw)));
  const long double norm = raw / mag;
  const long double step = (norm < 1.5L ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  std::vector<long double> t;
  if (!std::isfinite(step) || step <= 0 || !(lo + step > lo)) {
    t = {lo, hi};  // a span too narrow for its magnitude: just the ends
    return t;
  }
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  // Bounded: a step lost in rounding must not loop forever.
  for (long double v = lo; v <= hi + step * 1e-6L && t.size() < 64; v += step)
    t.push_back(std::fabs(v) < step * 1e-9L ? 0.0L : v);
  return t;
}

struct Series {
  std::string label, color;
  std::vector<double> x, y;  // finite points only
};

struct Panel {
  double left, top, width, height;
  std::string title, ylabel;
};

void draw_panel(std::string& svg, const Panel& p, const std::vector<Series>& series, long double xlo,
                long double xhi, bool integer_x) {
  long double ylo = INFINITY, yhi = -INFINITY;
  for (const auto& s : series)
    for (double y : s.y) ylo = std::min<long double>(ylo, y), yhi = std::max<long double>(yhi, y);
  if (!std::isfinite(ylo)) ylo = 0, yhi = 1;
  if (yhi > ylo) {
    const long double pad = (yhi - ylo) * 0.05L;
    ylo -= pad;
    yhi += pad;
  }
  const std::vector<long double> yt = ticks(ylo, yhi);
  std::vector<long double> xt;
  if (integer_x) {
    const long double span = xhi - xlo;
    const long double step = std::max(1.0L, std::ceil(span / 10));
    for (long double v = xlo; v <= xhi + 1e-9L && xt.size() < 64; v += step) {
      xt.push_back(v);
      if (!(v + step > v)) break;  // 1 lost next to 1e17
    }
  } else {
    xt = ticks(xlo, xhi);
  }
  // Positions in long double too, so every coordinate written is finite.
  auto X = [&](long double x) { return p.left + (xhi > xlo ? (x - xlo) / (xhi - xlo) : 0.5L) * p.width; };
  auto Y = [&](long double y) { return p.top + p.height - (yhi > ylo ? (y - ylo) / (yhi - ylo) : 0.5L) * p.height; };

  svg += "<g class=\"panel\">\n";
  svg += "<rect x=\"" + px(p.left) + "\" y=\"" + px(p.top) + "\" width=\"" + px(p.width) + "\" height=\"" +
         px(p.height) + "\" fill=\"#ffffff\" stroke=\"#444444\"/>\n";
  for (long double t : yt) {
    const std::string y = px(Y(t));
    svg += "<line x1=\"" + px(p.left) + "\" y1=\"" + y + "\" x2=\"" + px(p.left + p.width) + "\" y2=\"" + y +
           "\" stroke=\"#e5e5e5\"/>\n";
    svg += "<line x1=\"" + px(p.left - 5) + "\" y1=\"" + y + "\" x2=\"" + px(p.left) + "\" y2=\"" + y +
           "\" stroke=\"#444444\"/>\n";
    svg += "<text x=\"" + px(p.left - 8) + "\" y=\"" + px(Y(t) + 4) + "\" text-anchor=\"end\">" + fmt(t) + "</text>\n";
  }
  for (long double t : xt) {
    const std::string x = px(X(t));
    svg += "<line x1=\"" + x + "\" y1=\"" + px(p.top + p.height) + "\" x2=\"" + x + "\" y2=\"" +
           px(p.top + p.height + 5) + "\" stroke=\"#444444\"/>\n";
    svg += "<text x=\"" + x + "\" y=\"" + px(p.top + p.height + 18) + "\" text-anchor=\"middle\">" + fmt(t) +
           "</text>\n";
  }
  svg += "<text x=\"" + px(p.left + p.width / 2) + "\" y=\"" + px(p.top - 10) +
         "\" text-anchor=\"middle\" font-weight=\"bold\">" + esc(p.title) + "</text>\n";
  svg += "<text x=\"" + px(p.left + p.width / 2) + "\" y=\"" + px(p.top + p.height + 36) +
         "\" text-anchor=\"middle\">epoch</text>\n";
  svg += "<text transform=\"translate(" + px(p.left - 52) + "," + px(p.top + p.height / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + esc(p.ylabel) + "</text>\n";
  for (const auto& s : series) {
    if (s.x.empty()) continue;
    if (s.x.size() > 1) {
      svg += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"2\" points=\"";
      for (size_t i = 0; i < s.x.size(); ++i) svg += (i ? " " : "") + px(X(s.x[i])) + "," + px(Y(s.y[i]));
      svg += "\"/>\n";
    }
    for (size_t i = 0; i < s.x.size(); ++i)
      svg += "<circle cx=\"" + px(X(s.x[i])) + "\" cy=\"" + px(Y(s.y[i])) + "\" r=\"3\" fill=\"" + s.color + "\"/>\n";
  }
  // legend, top right inside the panel
  double ly = p.top + 16;
  for (const auto& s : series) {
    const double lx = p.left + p.width - 150;
    svg += "<line x1=\"" + px(lx) + "\" y1=\"" + px(ly - 4) + "\" x2=\"" + px(lx + 24) + "\" y2=\"" + px(ly - 4) +
           "\" stroke=\"" + s.color + "\" stroke-width=\"2\"/>\n";
    svg += "<text x=\"" + px(lx + 30) + "\" y=\"" + px(ly) + "\">" + esc(s.label) +
           (s.x.empty() ? " (no data)" : "") + "</text>\n";
    ly += 18;
  }
  svg += "</g>\n";
}

int run_plot(const std::vector<std::string>& argv) {
  Args args(argv, {"--title"}, {});
  const auto& pos = args.positional();
  if (pos.size() != 2)
    throw UsageError(pos.size() < 2 ? "need METRICS.csv and OUT.svg" : "unexpected argument '" + pos[2] + "'");
  const std::string csv_path = pos[0], out_path = pos[1];
  // The output is SVG: refuse other names, and never write over the input.
  if (file_extension(out_path) != ".svg") throw UsageError("OUT must be an .svg file, got '" + out_path + "'");
  std::error_code ec;
  if (std::filesystem::exists(out_path, ec) && std::filesystem::equivalent(csv_path, out_path, ec))
    throw UsageError("OUT '" + out_path + "' is the input file '" + csv_path +
                     "'; writing it would destroy the metrics");
  const std::string text = io::read_file(csv_path);

  std::vector<std::vector<std::string>> rows;
  {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (trim(line).empty()) continue;
      rows.push_back(split(line));
    }
  }
  if (rows.empty()) throw std::runtime_error(csv_path + ": empty file (expected a header line)");
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < rows[0].size(); ++i) col[rows[0][i]] = i;
  for (const char* need : {"epoch", "train_loss", "valid_loss", "valid_accuracy"})
    if (!col.count(need)) throw std::runtime_error(csv_path + ": missing column '" + std::string(need) + "'");
  if (rows.size() < 2) throw std::runtime_error(csv_path + ": no data rows");

  // A run resumed from an older checkpoint appends epochs the file already
  // has: its rows supersede the earlier run's from that epoch on (the file
  // keeps both; the plot shows the run that continued).
  struct Row {
    double epoch, train_loss, valid_loss, valid_accuracy;
  };
  std::vector<Row> kept;
  size_t superseded = 0;
  for (size_t r = 1; r < rows.size(); ++r) {
    auto cell = [&](const char* name) {
      const size_t c = col.at(name);
      return c < rows[r].size() ? parse_cell(rows[r][c]) : NAN;
    };
    const Row row{cell("epoch"), cell("train_loss"), cell("valid_loss"), cell("valid_accuracy")};
    if (!std::isfinite(row.epoch)) continue;
    while (!kept.empty() && kept.back().epoch >= row.epoch) kept.pop_back(), ++superseded;
    kept.push_back(row);
  }
  Series train{"train loss", "#1f77b4", {}, {}}, valid{"valid loss", "#ff7f0e", {}, {}},
      acc{"valid accuracy", "#2ca02c", {}, {}};
  double xlo = INFINITY, xhi = -INFINITY;
  for (const Row& row : kept) {
    const double e = row.epoch;
    xlo = std::min(xlo, e);
    xhi = std::max(xhi, e);
    auto add = [&](Series& s, double y) {
      if (std::isfinite(y)) s.x.push_back(e), s.y.push_back(y);
    };
    add(train, row.train_loss);
    add(valid, row.valid_loss);
    add(acc, row.valid_accuracy);
  }
  if (!std::isfinite(xlo)) throw std::runtime_error(csv_path + ": no row has a numeric epoch");
  bool integer_x = true;
  for (const auto* s : {&train, &valid, &acc})
    for (double x : s->x) integer_x = integer_x && x == std::floor(x);
  if (xhi == xlo) xlo -= 1, xhi += 1;
  if (integer_x) xlo = std::floor(xlo), xhi = std::ceil(xhi);

  const double W = 1000, H = 440;
  const std::string title = args.str("--title", "Training curves (" + csv_path.substr(csv_path.find_last_of('/') + 1) + ")");
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + px(W) + "\" height=\"" + px(H) + "\" viewBox=\"0 0 " +
         px(W) + " " + px(H) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n";
  svg += "<text x=\"" + px(W / 2) + "\" y=\"28\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">" +
         esc(title) + "</text>\n";
  draw_panel(svg, {80, 70, 380, 310, "Loss", "cross-entropy loss"}, {train, valid}, xlo, xhi, integer_x);
  draw_panel(svg, {580, 70, 380, 310, "Validation accuracy", "accuracy"}, {acc}, xlo, xhi, integer_x);
  svg += "</svg>\n";
  io::write_file_atomic(out_path, [&](int fd) { io::write_all(fd, svg.data(), svg.size(), out_path); });
  std::printf("wrote %s (%zu epochs", out_path.c_str(), kept.size());
  if (superseded)
    std::printf("; %zu earlier row%s superseded by a run resumed from an older checkpoint", superseded,
                superseded == 1 ? "" : "s");
  std::printf(")\n");
  return 0;
}

}  // namespace

extern const Command kPlotCommand = {
    "plot", "draw training curves from a metrics CSV as SVG",
    "usage: torchless plot METRICS.csv OUT.svg [--title TEXT]\n"
    "  Reads the CSV that 'torchless train' writes (header\n"
    "  epoch,train_loss,valid_loss,valid_accuracy[,samples_per_s]; one row per epoch)\n"
    "  and draws two panels: train and valid loss vs epoch, and validation accuracy vs\n"
    "  epoch. Non-numeric, NaN and infinite values are skipped. Where a run resumed\n"
    "  from an older checkpoint appended epochs the file already had, its rows\n"
    "  replace the earlier ones from that epoch on. OUT must end in .svg\n"
    "  and must not be METRICS.csv itself; it is written atomically.\n"
    "  --title TEXT  the title (default: 'Training curves (METRICS.csv)')\n",
    run_plot};

}  // namespace torchless::cli
