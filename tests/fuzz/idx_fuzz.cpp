// libFuzzer target: arbitrary bytes through the idx reader (plain and
// gzip-compressed: magic, dtype, dimension counts and sizes the header
// declares, truncated and concatenated gzip members). Run with `make fuzz`.
#include <cstddef>
#include <cstdint>
#include <exception>

#include "io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    torchless::io::IdxArray a = torchless::io::parse_idx(data, size, "fuzz-input");
    (void)a;
  } catch (const std::exception&) {
  }
  return 0;
}
