#include "core/dtype.h"

#include <bit>
#include <cmath>
#include <limits>
#include <cstring>
#include <stdexcept>

namespace torchless {
namespace {

struct DTypeInfo {
  DType type;
  size_t size;
  std::string_view name;
  std::string_view storage;
};

constexpr DTypeInfo kInfo[] = {
    {DType::Float32, 4, "float32", "FloatStorage"},
    {DType::Float64, 8, "float64", "DoubleStorage"},
    {DType::Float16, 2, "float16", "HalfStorage"},
    {DType::BFloat16, 2, "bfloat16", "BFloat16Storage"},
    {DType::Int8, 1, "int8", "CharStorage"},
    {DType::Int16, 2, "int16", "ShortStorage"},
    {DType::Int32, 4, "int32", "IntStorage"},
    {DType::Int64, 8, "int64", "LongStorage"},
    {DType::UInt8, 1, "uint8", "ByteStorage"},
    {DType::Bool, 1, "bool", "BoolStorage"},
    {DType::Complex64, 8, "complex64", "ComplexFloatStorage"},
    {DType::Complex128, 16, "complex128", "ComplexDoubleStorage"},
    {DType::Float8_e4m3fn, 1, "float8_e4m3fn", ""},
    {DType::Float8_e5m2, 1, "float8_e5m2", ""},
    {DType::UInt16, 2, "uint16", ""},
    {DType::UInt32, 4, "uint32", ""},
    {DType::UInt64, 8, "uint64", ""},
};

const DTypeInfo& info(DType t) { return kInfo[static_cast<size_t>(t)]; }

}  // namespace

size_t element_size(DType t) { return info(t).size; }
std::string_view dtype_name(DType t) { return info(t).name; }
std::string_view storage_class_name(DType t) { return info(t).storage; }

DType dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.name == name) return i.type;
  struct Alias { std::string_view alias; DType type; };
  static constexpr Alias kAliases[] = {
      {"float", DType::Float32}, {"double", DType::Float64}, {"half", DType::Float16},
      {"long", DType::Int64},    {"int", DType::Int32},      {"short", DType::Int16},
      {"cfloat", DType::Complex64}, {"cdouble", DType::Complex128},
  };
  for (const auto& a : kAliases)
    if (a.alias == name) return a.type;
  throw std::invalid_argument("unknown dtype '" + std::string(name) + "'");
}

DType dtype_from_storage_class(std::string_view cls) {
  for (const auto& i : kInfo)
    if (!i.storage.empty() && i.storage == cls) return i.type;
  throw std::invalid_argument("unsupported storage class '" + std::string(cls) + "'");
}

bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16 ||
         t == DType::Float8_e4m3fn || t == DType::Float8_e5m2;
}
bool is_complex(DType t) { return t == DType::Complex64 || t == DType::Complex128; }

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) { mant <<= 1; --exp; }
      mant &= 0x3FF;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t absx = x & 0x7FFFFFFF;
  if (absx >= 0x7F800000)  // inf or nan
    return sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 : 0);
  if (absx >= 0x477FF000) return sign | 0x7C00;  // rounds to inf
  if (absx < 0x38800000) {  // subnormal half (or zero)
    const float scaled = std::bit_cast<float>(absx) * 16777216.0f;  // * 2^24
    // round-to-nearest-even via float rounding of the integer part
    const uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return sign | static_cast<uint16_t>(m);
  }
  // normal: round mantissa from 23 to 10 bits, nearest even
  const uint32_t rounded = absx + 0xFFF + ((absx >> 13) & 1);
  return sign | static_cast<uint16_t>((rounded - 0x38000000) >> 13);
}

float bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

uint16_t float_to_bfloat16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet nan
  return static_cast<uint16_t>((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

namespace {
// The code in [0, end) whose value is nearest to a >= 0, ties to the even
// code (= round-to-nearest-even). A scan: float8 conversion is for loading
// and converting checkpoints, not a hot path.
uint8_t nearest_code(float a, uint8_t end, float (*decode)(uint8_t)) {
  uint8_t best = 0;
  float best_err = a;
  for (uint8_t c = 1; c < end; ++c) {
    const float err = std::fabs(decode(c) - a);
    if (err < best_err || (err == best_err && (c & 1) == 0)) {
      best = c;
      best_err = err;
    }
  }
  return best;
}
}  // namespace

float float8_e4m3fn_to_float(uint8_t b) {
  const float sign = (b & 0x80) ? -1.0f : 1.0f;
  const int exp = (b >> 3) & 0xF, mant = b & 0x7;
  if (exp == 0xF && mant == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant) / 8.0f, -6);
  return sign * std::ldexp(1.0f + static_cast<float>(mant) / 8.0f, exp - 7);
}

uint8_t float_to_float8_e4m3fn(float f) {
  if (std::isnan(f)) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 464.0f) return sign | 0x7F;  // beyond 448 + half an ulp: NaN, as torch
  return sign | nearest_code(a, 0x7F, float8_e4m3fn_to_float);
}

float float8_e5m2_to_float(uint8_t b) { return half_to_float(static_cast<uint16_t>(b) << 8); }

uint8_t float_to_float8_e5m2(float f) {
  if (std::isnan(f)) return 0x7E;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 61440.0f) return sign | 0x7C;  // beyond 57344 + half an ulp: infinity
  return sign | nearest_code(a, 0x7C, float8_e5m2_to_float);
}

}  // namespace torchless
