#pragma once
// The pieces of torch.load shared by the zip and legacy formats: turning
// persistent ids into storages and torch's rebuild calls
// (_rebuild_tensor_v2/_v3, _rebuild_parameter[_with_state],
// _rebuild_from_type_v2) and numpy's (scalar, ndarray) into tensors and
// numbers, as unpickler hooks. Nothing is ever called by name.
#include <functional>
#include <string>

#include "io/byte_order.h"
#include "io/unpickler.h"
#include "io/value.h"

namespace torchless::io {

/// Marks a tensor Value that was an nn.Parameter in the file (Value::cls).
inline constexpr const char* kParameterClass = "torch.nn.parameter.Parameter";
/// Marks a tensor Value that was a numpy.ndarray in the file (Value::cls).
inline constexpr const char* kNdarrayClass = "numpy.ndarray";

/// Given the storage pid's parts, returns the Storage value (shared per key).
using StorageLoader = std::function<ValuePtr(const std::string& key, DType dtype, int64_t numel,
                                             const std::string& location)>;

/// Sets opt.persistent_load, opt.reduce_hook and opt.build_hook so that
/// unpickle() yields tensors and numbers. `name` prefixes error messages.
void install_torch_hooks(UnpickleOptions& opt, StorageLoader load_storage, const std::string& name);

/// UnpickleOptions for a torch file's object pickle: weights_only's rules
/// when `safe`, every global's name passed to `on_global` (when set), and
/// install_torch_hooks(load_storage, name).
UnpickleOptions torch_unpickle_options(bool safe, std::function<void(const std::string& full_name)> on_global,
                                       StorageLoader load_storage, const std::string& name);

/// Storage class Global ("torch.FloatStorage") -> dtype; torch.UntypedStorage
/// -> UInt8. Throws std::runtime_error naming the class otherwise.
DType storage_global_dtype(const ValuePtr& storage_type);


}  // namespace torchless::io
