#pragma once
// Checks, before any training step, that every rank is about to train the
// same model on the same data with the same recipe. Ranks that disagree
// (different flags, data files or checkpoints) would otherwise train
// silently different things, or call collectives of different sizes and
// hang; here they stop together with a message naming the rank and what differs.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "dist/communicator.h"

namespace torchless::dist {

/// Thrown by check_agreement, with the same message, on every rank.
class DisagreementError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What must be the same on every rank, as ordered (name, value) entries;
/// names say which flag or file decides the value ("--batch-size").
class RunDescription {
 public:
  /// Adds an entry; `name` must not contain '\n' or '\t' (nor `value` '\n').
  /// Throws std::invalid_argument otherwise.
  void add(const std::string& name, const std::string& value);
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  /// "name\tvalue\n" per entry.
  std::string serialize() const;
  /// serialize()'s inverse. Throws std::invalid_argument on a malformed text.
  static RunDescription parse(const std::string& text);
  /// The index of the first entry where the two differ (names or values),
  /// or -1 when they are the same.
  static int64_t first_difference(const RunDescription& a, const RunDescription& b);

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

/// Collective. Rank 0's description goes to every rank; each compares it with
/// its own, and the first entry that differs on each rank is shared. When any
/// rank differs, every rank throws DisagreementError with one message naming
/// each such rank (up to four), the entry, and both values. Throws CommError
/// when a collective fails.
void check_agreement(Communicator& comm, const RunDescription& mine);

/// A 64-bit hash of bytes (not cryptographic: it tells copies apart from
/// different files, it does not resist forgery). `h` chains calls.
uint64_t fingerprint(const void* data, size_t n, uint64_t h = 0x6a09e667f3bcc908ULL);
/// Of a tensor's dtype, shape and values (0 for an undefined tensor).
uint64_t fingerprint(const Tensor& t, uint64_t h = 0x6a09e667f3bcc908ULL);
/// 16 hex digits.
std::string hex64(uint64_t x);

}  // namespace torchless::dist
