#pragma once
// The inert value tree that pickles become: None, bool, int (and big ints),
// float, str, bytes, list, tuple, dict (insertion order), global references,
// reduced/built objects, and — after the torch layer resolves storages —
// storages and tensors. Nothing in it ever runs code.
//
// Values are shared (ValuePtr): pickle's memo can reference one list from two
// places, and a mutation through one reference must show through the other.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace torchless::io {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind : uint8_t {
    None, Bool, Int, BigInt, Float, Str, Bytes,
    List, Tuple, Dict,
    Global,   // a reference to module.name (never imported, never called)
    Object,   // callable(*args) [+ BUILD state] [+ appended items], kept inert
    Storage,  // a torch storage (resolved persistent id)
    Tensor,
  };
  Kind kind = Kind::None;

  bool b = false;                 // Bool
  int64_t i = 0;                  // Int
  double f = 0.0;                 // Float
  std::string s;                  // Str, Bytes; BigInt: little-endian two's complement; Global: module
  std::string name;               // Global: qualified name
  std::vector<ValuePtr> items;    // List, Tuple; Object: list items appended
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // Dict; Object: dict items set
  std::string cls;                // Dict: "collections.OrderedDict" etc. when not a plain dict
  ValuePtr callable;              // Object: the Global (or other value) that was called
  ValuePtr args;                  // Object: argument tuple
  ValuePtr state;                 // Object or Dict: BUILD state (e.g. OrderedDict._metadata)
  torchless::Storage storage;     // Storage
  DType storage_dtype = DType::Float32;  // Storage
  torchless::Tensor tensor;       // Tensor

  // ---- construction ----
  static ValuePtr none();
  static ValuePtr boolean(bool v);
  static ValuePtr integer(int64_t v);
  static ValuePtr big_integer(std::string le_twos_complement);
  static ValuePtr floating(double v);
  static ValuePtr str(std::string v);
  static ValuePtr bytes(std::string v);
  static ValuePtr list(std::vector<ValuePtr> v = {});
  static ValuePtr tuple(std::vector<ValuePtr> v = {});
  static ValuePtr dict(std::string cls = "");
  static ValuePtr global(std::string module, std::string name);
  static ValuePtr object(ValuePtr callable, ValuePtr args);
  static ValuePtr from_storage(torchless::Storage s, DType dtype);
  static ValuePtr from_tensor(torchless::Tensor t);

  // ---- inspection ----
  bool is_none() const { return kind == Kind::None; }
  bool is_dict() const { return kind == Kind::Dict; }
  bool is_tensor() const { return kind == Kind::Tensor; }
  bool is_global(std::string_view module, std::string_view qualname) const;
  /// Int, Bool or Float as double; numpy scalars too (see numpy.cpp). Throws otherwise.
  double as_number() const;
  /// Int/Bool as int64. Throws std::runtime_error naming the kind otherwise.
  int64_t as_int() const;
  /// Str's text. Throws otherwise.
  const std::string& as_str() const;
  /// "dict", "list", "int", "tensor", "object collections.Foo" ...
  std::string kind_name() const;

  // ---- dict access (Dict values; keys compared as str/int) ----
  /// Value for a str key, or nullptr.
  ValuePtr get(std::string_view key) const;
  /// Value for a str key. Throws std::out_of_range naming the key and the keys present.
  ValuePtr at(std::string_view key) const;
  ValuePtr operator[](std::string_view key) const { return at(key); }
  /// Inserts or replaces (keeps first-insertion position).
  void set(ValuePtr key, ValuePtr value);
  void set(std::string_view key, ValuePtr value) { set(Value::str(std::string(key)), std::move(value)); }
  /// Keys that are strings, in order.
  std::vector<std::string> keys() const;
};

/// Frees everything reachable from `root` and resets it, without recursion,
/// cycles included: a pickle can build a list that holds itself, which
/// dropping the last ValuePtr would leak. Every reachable node is emptied,
/// so call it only on a tree no one else still uses a part of.
void release(ValuePtr& root) noexcept;

/// Python-like repr, for error messages and `torchless inspect`: containers
/// below max_depth print as "...", tensors of more than 16 values as their
/// dtype and shape, and text longer than max_chars (>= 4) is cut to fit,
/// ending in "...".
/// Costs O(max_chars) whatever the value (shared or huge subtrees included).
std::string repr(const ValuePtr& v, int max_depth = 8, size_t max_chars = size_t{4} << 20);

}  // namespace torchless::io
