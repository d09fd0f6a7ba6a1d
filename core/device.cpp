#include "core/device.h"

#include <charconv>
#include <stdexcept>

#include "core/storage.h"

namespace torchless {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(std::string_view text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.starts_with("cuda:")) {
    const auto digits = text.substr(5);
    int i = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
    if (ec == std::errc() && end == digits.data() + digits.size() && i >= 0) return cuda(i);
  }
  throw std::invalid_argument("bad device '" + std::string(text) + "' (expected cpu, cuda or cuda:N)");
}

}  // namespace torchless
