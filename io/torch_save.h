#pragma once
// torch.save without Python: writes a value tree (io/value.h) as the zip
// checkpoint format torch 2.x writes, byte layout included (64-byte aligned
// STORED records), so that Python's torch.load — also with
// weights_only=True — reads it. Tensors sharing one Storage are written as
// views of one storage record, as torch does.
#include <string>

#include "io/checked_file.h"
#include "io/value.h"

namespace torchless::io {

struct SaveOptions {
  /// The archive folder inside the zip (torch uses the file's stem; any name loads).
  std::string archive_name = "archive";
  /// Where each record's data starts (torch: 64).
  size_t alignment = 64;
};

/// Saves atomically: a temp file in the same folder, fsync, rename. If it
/// throws, whatever was at `path` is untouched. Throws std::runtime_error
/// naming the path (I/O) or std::invalid_argument naming what cannot be
/// written (e.g. a value kind pickle cannot express).
void save(const ValuePtr& root, const std::string& path, const SaveOptions& opt = {});
/// The checkpoint's bytes, for in-memory use and tests.
std::string save_to_bytes(const ValuePtr& root, const SaveOptions& opt = {});
/// Writes the checkpoint to any sink.
void write_checkpoint(ByteSink& sink, const ValuePtr& root, const SaveOptions& opt = {});

}  // namespace torchless::io
