#pragma once
// torch.load without Python: reads a torch.save file (the zip format of
// torch >= 1.6, or the legacy pre-1.6 pickle stream) into the inert value
// tree of io/value.h, with every tensor rebuilt over its storage.
//
// Tensors that shared one storage in Python share one Storage here (views of
// one buffer stay views). Nothing in the file is ever executed; in safe mode
// (torch's weights_only=True) any global outside the allowlist is refused.
#include <optional>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/device.h"
#include "io/value.h"

namespace torchless::io {

/// torch.load's map_location: where each saved location ("cpu", "cuda:0")
/// goes. Empty = keep the saved device.
struct MapLocation {
  std::optional<Device> all;                                   ///< everything to one device
  std::vector<std::pair<std::string, std::string>> remap;      ///< saved location -> target
  /// "cpu", "cuda", "cuda:N", or a remap list "cuda:0=cpu,cuda:1=cuda:0".
  /// Throws std::invalid_argument naming the text.
  static MapLocation parse(std::string_view spec);
  /// The device a storage saved at `location` is restored to.
  /// Throws std::invalid_argument for an unknown location.
  Device resolve(const std::string& location) const;
  bool empty() const { return !all && remap.empty(); }
};

struct LoadOptions {
  /// Refuse globals outside the allowlist (torch.load(weights_only=True)).
  bool safe = false;
  MapLocation map_location;
  /// Point CPU tensors straight into the mapped file instead of copying
  /// (torch.load(mmap=True)); the mapping lives as long as any tensor does,
  /// and the file is not kept open. The load reads no byte of tensor data
  /// (no CRC check of mapped records). The mapping is copy-on-write: the
  /// tensors may be written in place, privately; the file never changes.
  bool mmap = false;
  /// Check every record's CRC-32 (torch never does; a flipped byte is then
  /// reported instead of silently loaded).
  bool verify_crc = true;
  /// Called with every global the object pickle names (UnpickleOptions::on_global).
  std::function<void(const std::string& full_name)> on_global;
};

/// One storage as the file describes it.
struct StorageInfo {
  std::string key;        ///< record name under data/ ("0", "1", ...)
  DType dtype = DType::Float32;
  int64_t numel = 0;
  std::string location;   ///< as saved: "cpu", "cuda:0"
  Device device;          ///< where it was loaded
};

struct Checkpoint {
  ValuePtr root;
  std::vector<StorageInfo> storages;  ///< in order of first use
  std::string format;                 ///< "zip" or "legacy"
  std::string path;
};

/// Reads `path`. Throws std::runtime_error whose message starts with the
/// path and says what is wrong (truncated, CRC mismatch, not a checkpoint,
/// refused global, storage size mismatch, tensor outside its storage...).
Checkpoint load_checkpoint(const std::string& path, const LoadOptions& opt = {});
/// The same over bytes in memory; `name` stands for the path in errors.
Checkpoint load_checkpoint_bytes(std::string_view bytes, const std::string& name, const LoadOptions& opt = {});
/// load_checkpoint(path, opt).root
ValuePtr load(const std::string& path, const LoadOptions& opt = {});

}  // namespace torchless::io
