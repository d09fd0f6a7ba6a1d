#pragma once
// Writes a zip archive exactly as torch's PyTorchStreamWriter (miniz) does, so
// that our checkpoints are byte-identical to torch.save's given the same
// record payloads (docs/checkpoint-format.md §1.3-1.4):
//  * every record STORED, entry name "<archive>/<record>";
//  * local header: version 0, flags 0x0808 (0x0800 for an empty record),
//    time/date 0, crc/sizes 0; local extra = [ZIP64 block if size or offset
//    >= 0xFFFFFFFF] + the 'FB' (0x4246) pad block of 'Z' bytes that puts the
//    data at a multiple of `alignment`; then the data and, unless empty, a
//    PK\7\8 data descriptor (16 bytes, 24 with the ZIP64 block);
//  * central headers version 0/0, real crc, ZIP64 extra when needed;
//  * always ZIP64 EOCD + locator + classic EOCD.
// The writer only lays out what it is given; the caller picks the records and
// their order (torch 2.11: data.pkl, .format_version, .storage_alignment,
// byteorder, data/0.., version, .data/serialization_id).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "io/checked_file.h"

namespace torchless::io {

class ZipWriter {
 public:
  // `sink` receives the archive bytes and must outlive the writer.
  // `alignment` (1..32768) is where record data starts (torch: 64, or
  // config.save.storage_alignment). `start_offset` is the absolute file
  // offset of the first byte written to `sink` (0 for a new file); header
  // offsets are computed from it. Throws std::invalid_argument on an empty
  // archive name, one containing '/' or '\\', or a bad alignment.
  explicit ZipWriter(ByteSink& sink, std::string archive_name = "archive", std::size_t alignment = 64,
                     std::uint64_t start_offset = 0);

  // Appends one STORED record "<archive>/<record_name>". The data is CRC'd and
  // then written straight from `data` (no copy for large payloads with an
  // FdSink). Throws std::invalid_argument on a duplicate or empty name or an
  // add after finish(); sink errors propagate (std::runtime_error).
  void add(const std::string& record_name, const void* data, std::size_t n);
  void add(const std::string& record_name, std::string_view data) { add(record_name, data.data(), data.size()); }

  // Writes the central directory and end records. Call exactly once; it does
  // not flush the sink. Throws std::logic_error if called twice.
  void finish();

  // Absolute offset of the next byte to be written.
  std::uint64_t offset() const { return cursor_; }
  const std::string& archive_name() const { return archive_; }

  // §1.4: where the data of a record whose local header starts at `cursor`
  // lands, given the full entry name length. Exposed so that higher layers
  // (and tests) can predict offsets exactly as torch's getOffset does.
  static std::uint64_t data_offset_for(std::uint64_t cursor, std::size_t full_name_len, std::uint64_t size,
                                       std::size_t alignment);

 private:
  struct CentralRecord {
    std::string name;
    std::uint32_t crc = 0;
    std::uint64_t size = 0;
    std::uint64_t offset = 0;  // of the local header
  };

  void write_central_header(std::string& out, const CentralRecord& r) const;
  void write_end_records(std::uint64_t cd_offset, std::uint64_t cd_size);

  ByteSink& sink_;
  std::string archive_;
  std::size_t alignment_;
  std::uint64_t cursor_;
  bool finished_ = false;
  std::vector<CentralRecord> records_;
  std::unordered_set<std::string> names_;
};

}  // namespace torchless::io
