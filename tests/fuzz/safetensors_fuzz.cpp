// libFuzzer target: arbitrary bytes through the safetensors reader (the u64
// header length, the JSON header: nesting, lengths, data_offsets, dtypes,
// shapes, duplicate keys, __metadata__). Rejections are exceptions; a
// crash, hang or runaway allocation is a finding. Run with `make fuzz`.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    torchless::io::SafetensorsFile f =
        torchless::io::parse_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz-input");
    size_t bytes = 0;
    for (const auto& [name, t] : f.tensors) bytes += t.nbytes();
    (void)bytes;
  } catch (const std::exception&) {
  }
  return 0;
}
