#pragma once
// Maps a runtime DType to a C++ element type for kernels.
#include <complex>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/dtype.h"

namespace torchless::cpu {

struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };
struct Float8E4M3 { uint8_t bits; };
struct Float8E5M2 { uint8_t bits; };

/// Converts between any two element types (complex→real keeps the real part).
template <typename To, typename From> inline To convert(From v);

namespace detail {
template <typename T> inline double to_double(T v) {
  if constexpr (std::is_same_v<T, Half>) return half_to_float(v.bits);
  else if constexpr (std::is_same_v<T, BFloat16>) return bfloat16_to_float(v.bits);
  else if constexpr (std::is_same_v<T, Float8E4M3>) return float8_e4m3fn_to_float(v.bits);
  else if constexpr (std::is_same_v<T, Float8E5M2>) return float8_e5m2_to_float(v.bits);
  else if constexpr (std::is_same_v<T, std::complex<float>> || std::is_same_v<T, std::complex<double>>) return v.real();
  else return static_cast<double>(v);
}
}  // namespace detail

template <typename To, typename From> inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, Half>) {
    return Half{float_to_half(static_cast<float>(detail::to_double(v)))};
  } else if constexpr (std::is_same_v<To, BFloat16>) {
    return BFloat16{float_to_bfloat16(static_cast<float>(detail::to_double(v)))};
  } else if constexpr (std::is_same_v<To, Float8E4M3>) {
    return Float8E4M3{float_to_float8_e4m3fn(static_cast<float>(detail::to_double(v)))};
  } else if constexpr (std::is_same_v<To, Float8E5M2>) {
    return Float8E5M2{float_to_float8_e5m2(static_cast<float>(detail::to_double(v)))};
  } else if constexpr (std::is_same_v<To, std::complex<float>> || std::is_same_v<To, std::complex<double>>) {
    if constexpr (std::is_same_v<From, std::complex<float>> || std::is_same_v<From, std::complex<double>>)
      return To(static_cast<typename To::value_type>(v.real()), static_cast<typename To::value_type>(v.imag()));
    else
      return To(static_cast<typename To::value_type>(detail::to_double(v)), 0);
  } else if constexpr (std::is_same_v<To, bool>) {
    return detail::to_double(v) != 0.0;
  } else if constexpr (std::is_floating_point_v<To> && std::is_floating_point_v<From>) {
    return static_cast<To>(v);
  } else if constexpr (std::is_integral_v<To> && std::is_integral_v<From>) {
    return static_cast<To>(v);
  } else {
    return static_cast<To>(detail::to_double(v));
  }
}

/// Calls f(T{}) with T the element type of `t` (every dtype).
template <typename F> decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Float16: return f(Half{});
    case DType::BFloat16: return f(BFloat16{});
    case DType::Int8: return f(int8_t{});
    case DType::Int16: return f(int16_t{});
    case DType::Int32: return f(int32_t{});
    case DType::Int64: return f(int64_t{});
    case DType::UInt8: return f(uint8_t{});
    case DType::Bool: return f(bool{});
    case DType::Complex64: return f(std::complex<float>{});
    case DType::Complex128: return f(std::complex<double>{});
    case DType::Float8_e4m3fn: return f(Float8E4M3{});
    case DType::Float8_e5m2: return f(Float8E5M2{});
    case DType::UInt16: return f(uint16_t{});
    case DType::UInt32: return f(uint32_t{});
    case DType::UInt64: return f(uint64_t{});
  }
  throw std::logic_error("bad dtype");
}

/// Calls f(T{}) for the computing dtypes float32/float64; throws otherwise.
template <typename F> decltype(auto) dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    default:
      throw std::invalid_argument(std::string(op) + ": dtype " + std::string(dtype_name(t)) +
                                  " is storage-only; convert with .to(float32) first");
  }
}

}  // namespace torchless::cpu
