#pragma once
// The device seam: a tensor lives on the CPU or on a CUDA device. The CUDA
// backend registers itself (cuda/); without it, asking for CUDA throws.
#include <string>
#include <string_view>

namespace torchless {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  /// "cpu" or "cuda:N" (torch's spelling, as written in checkpoints).
  std::string str() const;
  /// Parses "cpu", "cuda", "cuda:N". Throws std::invalid_argument naming the text.
  static Device parse(std::string_view text);
  friend bool operator==(const Device&, const Device&) = default;
};

/// True when this binary was built with the CUDA backend.
bool cuda_built();
/// Number of CUDA devices visible (0 when not built or none present).
int cuda_device_count();
/// The CUDA backend's toolkit, cuBLAS and devices ("toolkit 13.0, cuBLAS
/// 13.1.0; devices: cuda:0 NVIDIA H100 ..."), or "not built".
std::string cuda_summary();

}  // namespace torchless
