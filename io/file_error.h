#pragma once
// The one way the file readers report bad input.
#include <stdexcept>
#include <string>

namespace torchless::io {

/// Throws std::runtime_error("<file>: <what>"): every reader's error names
/// the file first, then what is wrong with it.
[[noreturn]] inline void fail_in(const std::string& file, const std::string& what) {
  throw std::runtime_error(file + ": " + what);
}

}  // namespace torchless::io
