#pragma once
// Seedable random numbers. One default generator, like torch's; its whole
// state can be saved (e.g. into a checkpoint) and restored so that a resumed
// run draws exactly the numbers the uninterrupted run would have drawn.
#include <cstdint>
#include <string>

namespace torchless {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x853c49e6748fea9bULL) { manual_seed(seed); }
  void manual_seed(uint64_t seed);
  uint64_t seed() const { return seed_; }
  /// Next 64 random bits (xoshiro256**: fast, 2^256 period, tiny state).
  uint64_t next_u64();
  /// Uniform in [0, 1), 24 bits of mantissa.
  float uniform_float() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }
  /// Uniform in [0, 1), 53 bits of mantissa.
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  /// Standard normal (Box–Muller).
  double normal();
  /// Uniform integer in [0, n).
  uint64_t below(uint64_t n);

  /// The full state as 40 bytes (seed + 4 words), for checkpoints.
  std::string get_state() const;
  /// Restores get_state()'s output. Throws std::invalid_argument if malformed.
  void set_state(const std::string& state);

 private:
  uint64_t seed_ = 0;
  uint64_t s_[4] = {};
};

/// The process-wide default generator (torch.manual_seed's).
Generator& default_generator();
inline void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace torchless
