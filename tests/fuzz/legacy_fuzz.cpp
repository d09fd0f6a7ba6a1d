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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (bool safe : {false, true}) {
    torchless::io::LoadOptions opt;
    opt.safe = safe;
    opt.map_location = torchless::io::MapLocation::parse("cpu");
    try {
      torchless::io::Checkpoint ck = torchless::io::load_legacy(bytes, "fuzz-input", opt);
      (void)torchless::io::repr(ck.root, 6);
      torchless::io::release(ck.root);  // a pickle may build cycles
    } catch (const std::exception&) {
    }
  }
  return 0;
}
