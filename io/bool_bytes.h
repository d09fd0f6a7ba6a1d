#pragma once
// Bool tensors read from files: a C++ bool holding any byte but 0 or 1 is
// undefined behaviour the moment a kernel reads it, and a file can hold any
// byte. Readers normalise such bytes to 1 (what torch reads them as).
#include <cstddef>
#include <cstdint>

namespace torchless::io {

/// True when every byte of [p, p + n) is 0 or 1.
inline bool bools_valid(const std::uint8_t* p, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k)
    if (p[k] > 1) return false;
  return true;
}

/// Turns every non-zero byte of [p, p + n) into 1.
inline void normalise_bools(std::uint8_t* p, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k) p[k] = p[k] != 0;
}

}  // namespace torchless::io
