// libFuzzer target: arbitrary bytes through the zip + pickle reader the way
// torch.load and `torchless verify` read them: the whole checkpoint load
// (zip container, pickle, torch rebuild; legacy and safetensors too, as the
// loader sniffs the format) in both modes, and the verify path: the zip
// structure, every CRC, and the malware scan of data.pkl (or of the bytes as
// a raw pickle). Any input may be rejected with an exception; none may
// crash, hang or blow up memory. Run with `make fuzz`.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "io/pickle_scan.h"
#include "io/torch_load.h"
#include "tests/fuzz/load_both_modes.h"
#include "io/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  torchless::fuzz::load_both_modes(bytes, [](std::string_view b, const char* name, const torchless::io::LoadOptions& o) {
    return torchless::io::load_checkpoint_bytes(b, name, o);
  });
  torchless::io::PickleScan scan;
  try {
    torchless::io::ZipReader zip(data, size, "fuzz-input");
    zip.verify_all();
    if (const torchless::io::ZipEntry* e = zip.find_record("data.pkl"))
      torchless::io::scan_pickle(zip.read(*e), "data.pkl", scan);
  } catch (const std::exception&) {
    torchless::io::scan_pickle(bytes, "raw", scan);  // never throws
  }
  (void)scan.worst();
  return 0;
}
