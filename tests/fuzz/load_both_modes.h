#pragma once
// The part of the checkpoint fuzz targets they share: one input through a
// torch.load-like reader in both modes (weights_only and not), printing what
// loads (repr walks the whole tree) and freeing it. Any input may be refused
// with an exception; none may crash, hang or blow up memory.
#include <exception>
#include <string_view>

#include "io/torch_load.h"

namespace torchless::fuzz {

/// load: (bytes, name, LoadOptions) -> io::Checkpoint.
template <class Load> void load_both_modes(std::string_view bytes, Load load) {
  for (bool safe : {false, true}) {
    io::LoadOptions opt;
    opt.safe = safe;
    opt.map_location = io::MapLocation::parse("cpu");
    try {
      io::Checkpoint ck = load(bytes, "fuzz-input", opt);
      (void)io::repr(ck.root, 6);
      io::release(ck.root);  // a pickle may build cycles
    } catch (const std::exception&) {
    }
  }
}

}  // namespace torchless::fuzz
