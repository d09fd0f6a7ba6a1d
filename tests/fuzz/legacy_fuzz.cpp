// libFuzzer target: arbitrary bytes through the legacy (pre-1.6) torch.save
// reader: its stream of pickles and the raw storages after them, whose
// counts and sizes the file declares (and may lie about). The seeds are
// real legacy files, so mutations reach past the magic number. Run with
// `make fuzz`.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "io/torch_legacy.h"
#include "tests/fuzz/load_both_modes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  torchless::fuzz::load_both_modes(bytes, [](std::string_view b, const char* name, const torchless::io::LoadOptions& o) {
    return torchless::io::load_legacy(b, name, o);
  });
  return 0;
}
