#pragma once
// Pickle (protocols 0-5) -> inert Value tree. Nothing is imported or called:
// GLOBAL becomes a Global value, REDUCE/NEWOBJ/INST/OBJ become Objects, except
// for a few inert builtins that are turned into plain values:
//
//   collections.OrderedDict()           -> Dict, cls "collections.OrderedDict"
//   collections.OrderedDict([(k, v)..]) -> same, filled
//   collections.Counter({..})           -> Dict, cls "collections.Counter"
//   builtins.set([..]) / EMPTY_SET      -> List, cls "builtins.set"
//   builtins.frozenset([..]) / FROZENSET-> List, cls "builtins.frozenset"
//   _codecs.encode(str, 'latin1')       -> Bytes (py2-compatible bytes, numpy buffers)
//   builtins.bytes() / bytes(b'..')     -> Bytes
//   builtins.bytearray(..) / BYTEARRAY8 -> Bytes, cls "builtins.bytearray"
//   builtins.complex(re, im)            -> stays an Object
//
// Objects made by NEWOBJ carry cls "__newobj__" (args = the NEWOBJ args), by
// NEWOBJ_EX cls "__newobj_ex__" (args = (args, kwargs)); REDUCE/INST/OBJ leave
// cls empty. The pickler uses this to write them back the same way.
//
// Python 2 names in GLOBAL/INST are mapped like CPython's _compat_pickle (and
// like torch's weights_only unpickler): "__builtin__ set" -> builtins.set.
//
// Hostile input: every length is checked against the remaining bytes before
// anything is allocated; nesting is bounded (opt.max_depth); memo indices are
// checked; decimal ints are limited to 4300 digits as in Python. Work and
// memory stay linear in the input size (each opcode makes at most one Value).
// Cyclic structures that a pickle can legitimately build (a list appended to
// itself through the memo) are returned as-is: they leak when dropped, like
// any shared_ptr cycle.
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>

#include "io/value.h"

namespace torchless::io {

/// Every error from unpickle(): "pickle: <what> at byte <offset>".
struct UnpickleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The globals torch 2.11's weights_only unpickler allows by default
/// (collections.OrderedDict/Counter, torch.Size/device/Tensor, nn.Parameter,
/// every dtype as "torch.<name>", every legacy tensor and storage class,
/// torch.storage.TypedStorage/UntypedStorage, the qschemes, every
/// torch._utils._rebuild_* function, torch._tensor._rebuild_from_type_v2,
/// torch.serialization._get_layout, _codecs.encode, builtins.set/bytearray/
/// complex), plus what numpy scalars and arrays need (numpy.core.multiarray.
/// scalar/_reconstruct, numpy._core.multiarray.scalar/_reconstruct,
/// numpy.dtype, numpy.ndarray). torch needs add_safe_globals for the numpy
/// names; we allow them because here they only build inert data (nothing is
/// ever called), and training scripts routinely save numpy scalars.
const std::unordered_set<std::string>& default_safe_globals();

struct UnpickleOptions {
  /// PERSID/BINPERSID: the persistent id (a Tuple for torch) -> its value.
  /// Without it, a persistent id is an error.
  std::function<ValuePtr(const ValuePtr& pid)> persistent_load;
  /// Called for every REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ before the builtin
  /// mapping. A non-null result replaces the call (torch rebuilds tensors here).
  std::function<ValuePtr(const ValuePtr& callable, const ValuePtr& args)> reduce_hook;
  /// Called for every BUILD. A non-null result replaces the object; null means
  /// "not mine" and the default applies (state stored on Dict/Object).
  std::function<ValuePtr(const ValuePtr& obj, const ValuePtr& state)> build_hook;
  /// Refuse every global not in allowed_globals (like torch.load(weights_only=True)).
  /// Modules sys, os, posix and nt are refused even if listed.
  bool safe = false;
  /// "module.name" after the Python 2 name mapping. Add to it to allow more.
  std::unordered_set<std::string> allowed_globals = default_safe_globals();
  /// Called with every global the pickle names ("module.name" after the
  /// Python 2 name mapping) and the byte offset of its GLOBAL/STACK_GLOBAL
  /// opcode, before the safe check: lets a caller list what a file would
  /// import without refusing it.
  std::function<void(const std::string& full_name, size_t offset)> on_global;
  /// Deepest container nesting (and MARK nesting) accepted.
  size_t max_depth = 1000;
  /// Bytes after STOP are ignored when true (as pickle.loads does), an error otherwise.
  bool allow_trailing_data = true;
};

/// True for globals of modules sys, os, posix and nt, which safe mode refuses
/// even when allowed (torch's weights_only blocks them the same way).
bool blocked_global(const std::string& full_name);

/// Decodes one pickle. Throws UnpickleError on malformed, truncated, hostile
/// or (in safe mode) refused input. Exceptions thrown by the hooks propagate
/// unchanged. When `consumed` is given it receives the offset just past STOP,
/// so that concatenated pickles (the legacy torch format) can be read in turn.
ValuePtr unpickle(std::string_view bytes, const UnpickleOptions& opt = {}, size_t* consumed = nullptr);

}  // namespace torchless::io
