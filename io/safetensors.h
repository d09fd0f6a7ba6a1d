#pragma once
// Hugging Face safetensors files, read (copying or mmap) and written (atomically).
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
//   {"__metadata__": {"k": "v"},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// then the data section: raw little-endian, row-major element bytes; offsets
// are relative to the start of the data section.
//
// dtype codes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL C64 F8_E4M3 F8_E5M2
// (the last two are torch.float8_e4m3fn / float8_e5m2). Other codes (U16, U32,
// U64, F8_E8M0, F4, ...) are rejected naming the tensor and the code; complex128
// has no code, so saving one throws naming the tensor.
//
// Reading. The header is parsed by a small strict JSON parser (strings with
// every escape incl. \uXXXX surrogate pairs, integers, arrays, objects; unknown
// fields inside a tensor entry are skipped, and may hold any JSON value). A
// hostile file never crashes, hangs or makes us allocate more than a small
// multiple of its size: header length > 100 MB or beyond the file, non-JSON,
// trailing garbage, nesting deeper than 64, duplicate names or fields, missing
// fields, negative/non-integer dims, shapes whose element count (zeros counted
// as ones) overflows int64, rank > 1024, data_offsets out of the data section,
// end < begin, end - begin != numel * element_size, and overlapping non-empty
// tensors are all rejected. Unlike the reference implementation we do NOT
// require the tensors to cover the data section exactly: gaps and trailing
// bytes are tolerated (they are simply never read). BOOL bytes other than 0/1
// are normalised to 1 (in a private copy when mapped), since a C++ bool holding
// another value is undefined behaviour.
//
// Every error is a std::runtime_error whose message starts with "<path>: "
// (or the name given to parse_safetensors), e.g.
//   "model.safetensors: tensor 'w' data_offsets [0, 10] do not match shape
//    [2, 3] of F32 (24 bytes)".
//
// Tensors are returned in the order of the header's JSON keys (for files the
// reference writes, that is also the data order).
//
// mmap: load_safetensors(path, /*mmap=*/true) maps the file; every CPU tensor
// is a view of ONE Storage spanning the data section (so storage() is shared and
// storage_offset() is the element offset), kept alive by the mapping for as long
// as any tensor lives. A tensor whose position is not a multiple of its element
// size (possible only in files not written by the reference) is copied instead.
// The mapping is READ-ONLY (like torch.load(mmap=True) here): writing into such
// a tensor in place faults; clone() it first if you need to modify it.
//
// Writing. save_safetensors follows the reference writer: "__metadata__" first
// (omitted when empty), then the tensors ordered by element size (largest
// first) and then by name, with the data in the same order, so every tensor is
// naturally aligned; the JSON is compact (no spaces) and padded with spaces to
// a multiple of 8 bytes. Non-contiguous tensors are written contiguously, CUDA
// tensors are copied to the CPU, and tensors sharing storage are each written
// in full (safetensors has no aliasing). Duplicate names, the name
// "__metadata__", undefined tensors, complex128, duplicate metadata keys and
// non-UTF-8 names/keys/values throw before anything is written. The file is
// written atomically (temp file + fsync + rename): on any error the old file
// is left untouched.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace torchless::io {

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;            ///< header order
  std::vector<std::pair<std::string, std::string>> metadata;      ///< "__metadata__", header order
};

/// Reads a .safetensors file; with `mmap` the tensors view the mapped file
/// (zero-copy), otherwise they are copied. Throws std::runtime_error.
SafetensorsFile load_safetensors(const std::string& path, bool mmap = true);

/// Parses safetensors bytes already in memory (tensors are copied). `name`
/// starts every error message. Throws std::runtime_error.
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name);

/// Serialises to bytes (same layout as save_safetensors writes).
std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::vector<std::pair<std::string, std::string>>& metadata = {});

/// Writes `tensors` (and optional string metadata) to `path` atomically.
/// Throws std::runtime_error; `path` is untouched on failure.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata = {});

/// The safetensors dtype code of `t` ("F32", "BF16", ...), or empty if it has none.
std::string_view safetensors_dtype_code(DType t);

}  // namespace torchless::io
