#pragma once
// Value tree -> pickle protocol 2, written the way CPython's C pickler writes
// torch.save's data.pkl, so that a tree read by unpickle() from a torch file
// is written back byte-identically (see pickler.cpp for where that holds).
//
// Encodings (the inverse of unpickler.h's mapping):
//   Int -> BININT1/BININT2/BININT/LONG1; BigInt -> LONG1/LONG4; Float -> BINFLOAT
//   Str -> BINUNICODE; Bytes -> _codecs.encode(latin1 text, 'latin1') REDUCE
//   (protocol 2 has no bytes opcode; b'' is builtins.bytes() like CPython)
//   List -> EMPTY_LIST + APPEND(S); Tuple -> EMPTY_TUPLE/TUPLE1-3/MARK TUPLE
//   Dict -> EMPTY_DICT + SETITEM(S); a Dict with cls (OrderedDict, ...) ->
//   GLOBAL cls, EMPTY_TUPLE, REDUCE, SETITEM(S), then BUILD of its state
//   List cls builtins.set/frozenset and Bytes cls builtins.bytearray -> their
//   constructor REDUCE; Global -> GLOBAL (memoized by name)
//   Object -> callable args REDUCE (NEWOBJ when cls is "__newobj__"),
//   then APPENDS of items, SETITEMS of entries, BUILD of state.
// Python 3 names are written as Python 2 names where CPython does so for
// protocol 2 (builtins -> __builtin__).
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "io/value.h"

namespace torchless::io {

/// Every error from pickle(): "pickle: cannot write <what>".
struct PickleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct PickleOptions {
  /// Asked first for every value (not for the id it returns). An id is written
  /// instead of the value, followed by BINPERSID. torch's layer maps storages
  /// to ('storage', StorageClass, key, location, numel) here.
  std::function<std::optional<ValuePtr>(const ValuePtr&)> persistent_id;
  /// Replaces a Tensor value by a picklable value (e.g. an Object calling
  /// torch._utils._rebuild_tensor_v2). Called once per distinct Tensor value;
  /// a Tensor seen again is written as a memo reference to the first.
  std::function<ValuePtr(const ValuePtr&)> tensor_hook;
  /// Deepest nesting written; deeper (or cyclic through tuples) trees throw.
  size_t max_depth = 1000;
};

/// The pickle (PROTO 2 ... STOP) of `v`. Throws PickleError for a Tensor with
/// no tensor_hook, a Storage no persistent_id claimed, a null value, or
/// nesting deeper than opt.max_depth.
std::string pickle(const ValuePtr& v, const PickleOptions& opt = {});

}  // namespace torchless::io
