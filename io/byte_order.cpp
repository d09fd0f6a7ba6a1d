#include "io/byte_order.h"

#include <algorithm>

namespace torchless::io {

void byteswap_elements(void* data, size_t numel, size_t esize) {
  if (esize <= 1) return;
  auto* p = static_cast<unsigned char*>(data);
  for (size_t i = 0; i < numel; ++i) std::reverse(p + i * esize, p + (i + 1) * esize);
}

}  // namespace torchless::io
