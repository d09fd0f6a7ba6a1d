// libFuzzer target: arbitrary bytes through the whole checkpoint reader
// (zip container, pickle, torch rebuild, legacy format, safetensors). Any
// input may be rejected with an exception; none may crash, hang or blow up
// memory. Run with `make fuzz`.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "io/torch_load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (bool safe : {false, true}) {
    torchless::io::LoadOptions opt;
    opt.safe = safe;
    opt.map_location = torchless::io::MapLocation::parse("cpu");
    try {
      torchless::io::Checkpoint ck = torchless::io::load_checkpoint_bytes(bytes, "fuzz-input", opt);
      (void)torchless::io::repr(ck.root, 6);
    } catch (const std::exception&) {
    }
  }
  return 0;
}
