#include "dist/agreement.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace torchless::dist {
namespace {

// Bytes of one rank's first differing entry that travel to the others
// (longer values are cut: they are fingerprints and numbers, not essays).
constexpr size_t kSlot = 256;

uint64_t mix(uint64_t h, uint64_t w) {
  h ^= w + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 31);
}

}  // namespace

void RunDescription::add(const std::string& name, const std::string& value) {
  if (name.find_first_of("\n\t") != std::string::npos || value.find('\n') != std::string::npos)
    throw std::invalid_argument("RunDescription: entry '" + name + "' has a tab or newline");
  entries_.emplace_back(name, value);
}

std::string RunDescription::serialize() const {
  std::string out;
  for (const auto& [k, v] : entries_) out += k + "\t" + v + "\n";
  return out;
}

RunDescription RunDescription::parse(const std::string& text) {
  RunDescription d;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) throw std::invalid_argument("RunDescription: line without a tab: " + line);
    d.entries_.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return d;
}

int64_t RunDescription::first_difference(const RunDescription& a, const RunDescription& b) {
  const size_t n = std::min(a.entries_.size(), b.entries_.size());
  for (size_t i = 0; i < n; ++i)
    if (a.entries_[i] != b.entries_[i]) return static_cast<int64_t>(i);
  return a.entries_.size() == b.entries_.size() ? -1 : static_cast<int64_t>(n);
}

void check_agreement(Communicator& comm, const RunDescription& mine) {
  // Rank 0's description, to everyone: its length first, so every rank
  // posts a broadcast of the same size.
  std::string text = comm.rank() == 0 ? mine.serialize() : std::string();
  uint64_t len = text.size();
  comm.broadcast_bytes(&len, sizeof len, 0, "agreement check (length)");
  text.resize(len);
  comm.broadcast_bytes(text.data(), len, 0, "agreement check (description)");
  const RunDescription root = RunDescription::parse(text);

  // Each rank's first differing "name\tvalue", as bytes in its slot of one
  // sum (the other ranks contribute zeros there).
  const size_t world = static_cast<size_t>(comm.size());
  std::vector<double> slots(world * kSlot, 0.0);
  if (const int64_t i = RunDescription::first_difference(mine, root); i >= 0) {
    std::string entry = static_cast<size_t>(i) < mine.entries().size()
                            ? mine.entries()[i].first + "\t" + mine.entries()[i].second
                            : root.entries()[i].first + "\t(missing)";
    entry.resize(std::min(entry.size(), kSlot - 1));
    for (size_t j = 0; j < entry.size(); ++j)
      slots[comm.rank() * kSlot + j] = static_cast<double>(static_cast<unsigned char>(entry[j]));
  }
  comm.all_reduce_sum(slots.data(), slots.size(), "agreement check (differences)");

  std::string message;
  int listed = 0, differing = 0;
  for (size_t r = 0; r < world; ++r) {
    std::string entry;
    for (size_t j = 0; j < kSlot && slots[r * kSlot + j] != 0.0; ++j)
      entry.push_back(static_cast<char>(static_cast<unsigned char>(slots[r * kSlot + j])));
    if (entry.empty()) continue;
    ++differing;
    if (++listed > 4) continue;
    const size_t tab = entry.find('\t');
    const std::string name = entry.substr(0, tab), value = tab == std::string::npos ? "" : entry.substr(tab + 1);
    std::string root_value = "(missing)";
    for (const auto& [k, v] : root.entries())
      if (k == name) root_value = v;
    message += (message.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + " has " + name + " " +
               value + " where rank 0 has " + root_value;
  }
  if (differing == 0) return;
  if (differing > 4) message += "; and " + std::to_string(differing - 4) + " more rank(s)";
  throw DisagreementError("the ranks disagree, so they cannot train one model (every rank must be started with "
                          "the same flags, data and checkpoint): " + message);
}

uint64_t fingerprint(const void* data, size_t n, uint64_t h) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = mix(h, w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, n - i);
  return mix(mix(h, tail), n);
}

uint64_t fingerprint(const Tensor& t, uint64_t h) {
  if (!t.defined()) return mix(h, 0);
  h = mix(h, static_cast<uint64_t>(t.dtype()));
  for (const int64_t s : t.sizes()) h = mix(h, static_cast<uint64_t>(s));
  const Tensor c = t.contiguous();
  return fingerprint(c.raw_data(), c.nbytes(), h);
}

std::string hex64(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(x));
  return buf;
}

}  // namespace torchless::dist
