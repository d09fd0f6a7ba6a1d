#pragma once
// Byte-order conversion for big-endian data (torch files with byteorder
// "big", idx files, numpy arrays marked '>').
#include <cstddef>

namespace torchless::io {

/// Reverses the bytes of each of `numel` elements of `element_size` bytes, in place.
void byteswap_elements(void* data, size_t numel, size_t element_size);

}  // namespace torchless::io
