#pragma once
// CRC-32 (IEEE 802.3, zlib's crc32) at memory speed: carry-less multiply
// folding (PCLMULQDQ) where the CPU has it, zlib otherwise. Checkpoint save
// and load CRC every byte they move, so zlib's table-driven ~2-4 GB/s would
// cap both.
#include <cstddef>
#include <cstdint>

namespace torchless::io {

/// zlib-compatible: crc32_update(crc32_update(0, a), b) == crc32(a + b).
uint32_t crc32_update(uint32_t crc, const void* data, size_t n);

/// CRC of A + B from crc(A), crc(B) and len(B) (zlib's crc32_combine).
uint32_t crc32_combine_lengths(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

}  // namespace torchless::io
