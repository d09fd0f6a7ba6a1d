#pragma once
// Helpers shared by the checkpoint subcommands (inspect, convert, verify,
// eval, predict): format sniffing, loading any supported file as a value
// tree, the FashionClassifier's weights out of a checkpoint, JSON escaping.
#include <string>
#include <utility>
#include <vector>

#include "io/torch_load.h"
#include "io/value.h"
#include "nn/fashion_classifier.h"

namespace torchless::cli {

/// True if `path` ends in ".safetensors" or starts like a safetensors file
/// (u64 header length that fits the file, then '{').
bool is_safetensors_file(const std::string& path);

/// Loads a torch checkpoint (zip or legacy) or a safetensors file (as a dict
/// of CPU tensors, format "safetensors", no storages). A safetensors file's
/// "__metadata__" goes to `metadata` when given (torch files have none).
/// Throws on errors; the message starts with `path`.
io::Checkpoint load_any(const std::string& path, const io::LoadOptions& opt,
                        std::vector<std::pair<std::string, std::string>>* metadata = nullptr);

/// Loads the FashionClassifier's weights from a checkpoint dict with a
/// 'state_dict' entry, or from a bare state_dict; strips a 'module.' prefix
/// (printing a note on stderr). The model is left in eval mode. Every error
/// names `path` (a wrong model's "size mismatch", "missing key(s)" too).
void load_fashion_model(const std::string& path, nn::FashionClassifier& model);

/// `msg` prefixed with "path: " unless it already starts with the path.
std::string naming_file(const std::string& path, const std::string& msg);

/// Text from a file made safe for a terminal, as Python's repr escapes it
/// (without the quotes): C0/C1 control characters, DEL and bytes that are not
/// UTF-8 become \xNN (\n, \r, \t for those three); other text is unchanged.
std::string printable(const std::string& s);


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
