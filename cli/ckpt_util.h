#pragma once
// Helpers shared by the checkpoint subcommands (inspect, convert, verify,
// eval, predict): format sniffing, loading any supported file as a value
// tree, the FashionClassifier's weights out of a checkpoint, JSON escaping.
#include <string>

#include "io/torch_load.h"
#include "io/value.h"
#include "nn/fashion_classifier.h"

namespace torchless::cli {

/// True if `path` ends in ".safetensors" or starts like a safetensors file
/// (u64 header length that fits the file, then '{').
bool is_safetensors_file(const std::string& path);

/// Loads a torch checkpoint (zip or legacy) or a safetensors file (as a dict
/// of CPU tensors, format "safetensors", no storages). Throws on errors.
io::Checkpoint load_any(const std::string& path, const io::LoadOptions& opt);

/// Loads the FashionClassifier's weights from a checkpoint dict with a
/// 'state_dict' entry, or from a bare state_dict; strips a 'module.' prefix
/// (printing a note on stderr). The model is left in eval mode.
void load_fashion_model(const std::string& path, nn::FashionClassifier& model);

/// JSON string literal (with quotes) for UTF-8 text; control characters and
/// invalid bytes are escaped (\u00XX), so the output is always valid JSON.
std::string json_str(const std::string& s);
/// JSON number for a double, in its shortest round-trip form, or with
/// `fixed_digits` digits after the point when that is >= 0; NaN and inf,
/// which JSON lacks, become null.
std::string json_num(double x, int fixed_digits = -1);

/// Lower-cased extension including the dot (".pt"), or "" if none.
std::string file_extension(const std::string& path);

}  // namespace torchless::cli
