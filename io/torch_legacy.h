#pragma once
// The legacy torch.save format (before torch 1.6, or
// _use_new_zipfile_serialization=False): a stream of pickles (magic number,
// protocol version, sys info, the object, the storage keys) followed by
// each storage's raw bytes.
#include <string>
#include <string_view>

#include "io/torch_load.h"

namespace torchless::io {

/// Reads a legacy-format checkpoint from `bytes`. Throws std::runtime_error
/// starting with `name` on anything malformed (and "not a torch checkpoint"
/// when the magic number is absent).
Checkpoint load_legacy(std::string_view bytes, const std::string& name, const LoadOptions& opt);

}  // namespace torchless::io
