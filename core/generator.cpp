#include "core/generator.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace torchless {
namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  uint64_t x = seed;
  for (auto& w : s_) w = splitmix64(x);
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::normal() {
  double u1 = uniform_double();
  while (u1 <= 0.0) u1 = uniform_double();
  const double u2 = uniform_double();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

uint64_t Generator::below(uint64_t n) {
  if (n == 0) throw std::invalid_argument("Generator::below(0)");
  // Rejection sampling: no modulo bias.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do r = next_u64(); while (r >= limit);
  return r % n;
}

std::string Generator::get_state() const {
  std::string out(40, '\0');
  std::memcpy(out.data(), &seed_, 8);
  std::memcpy(out.data() + 8, s_, 32);
  return out;
}

void Generator::set_state(const std::string& state) {
  if (state.size() != 40)
    throw std::invalid_argument("generator state must be 40 bytes, got " + std::to_string(state.size()));
  uint64_t s[4];
  std::memcpy(s, state.data() + 8, 32);
  if ((s[0] | s[1] | s[2] | s[3]) == 0) throw std::invalid_argument("generator state is all zero");
  std::memcpy(&seed_, state.data(), 8);
  std::memcpy(s_, s, 32);
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

}  // namespace torchless
