#pragma once
// Element types. Every dtype a torch checkpoint can carry is representable;
// float32 and float64 compute, the rest are storage-only (load, save, convert).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace torchless {

enum class DType : uint8_t {
  Float32, Float64, Float16, BFloat16,
  Int8, Int16, Int32, Int64, UInt8, Bool,
  Complex64, Complex128,
  Float8_e4m3fn, Float8_e5m2,
  UInt16, UInt32, UInt64,  // torch >= 2.3, saved as UntypedStorage (+ _rebuild_tensor_v3)
};

/// Bytes per element (e.g. 4 for Float32, 16 for Complex128).
size_t element_size(DType t);
/// torch's name without the prefix: "float32", "int64", "bool", ...
std::string_view dtype_name(DType t);
/// Parses dtype_name's output (also "float", "double", "half", "long", "int").
/// Throws std::invalid_argument naming the text.
DType dtype_from_name(std::string_view name);
/// torch's legacy storage class name: "FloatStorage", "BFloat16Storage", ...
/// Empty for the float8 types, which torch saves as UntypedStorage.
std::string_view storage_class_name(DType t);
/// Inverse of storage_class_name. Throws std::invalid_argument naming the class.
DType dtype_from_storage_class(std::string_view cls);
bool is_floating(DType t);
bool is_complex(DType t);

// Half-precision conversions (round-to-nearest-even), used by to(dtype) and io.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bfloat16_to_float(uint16_t b);
uint16_t float_to_bfloat16(float f);
// 8-bit floats (torch.float8_e4m3fn: no infinities, max 448, NaN 0x7f;
// torch.float8_e5m2: the top byte of a float16). Round-to-nearest-even; values
// beyond the range become NaN (e4m3fn) or infinity (e5m2), like torch.
float float8_e4m3fn_to_float(uint8_t b);
uint8_t float_to_float8_e4m3fn(float f);
float float8_e5m2_to_float(uint8_t b);
uint8_t float_to_float8_e5m2(float f);

}  // namespace torchless
