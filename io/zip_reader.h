#pragma once
// Read-only ZIP archive parser for torch.save checkpoints (see
// docs/checkpoint-format.md §1.5). Works over a byte span — usually an mmap'ed
// file — and never trusts it: every offset and size is bounds-checked, so a
// truncated or corrupted file gives an error, never a crash, hang or a huge
// allocation. STORED records are returned as zero-copy views into the span.
//
// Archives that two readers could read differently are refused as damage, so
// that what `torchless verify` checks is what torch.load reads: two entries
// with one name, a local header whose name, method, sizes or CRC disagree
// with the central directory (or a data descriptor that does), records that
// overlap, a local header hidden between records that the central directory
// does not list, and a DEFLATE record that inflates past its declared size.
//
// Every error is a std::runtime_error whose message starts with the display
// name given at construction (normally the file path), e.g.
//   "ckpt.pt: CRC-32 mismatch in record 'archive/data/0' (stored ..., computed ...)"
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/checked_file.h"

namespace torchless::io {

struct ZipEntry {
  std::string name;                 // full name as stored, e.g. "archive/data/0"
  std::uint16_t method = 0;         // 0 = STORED, 8 = DEFLATE
  std::uint16_t flags = 0;          // general-purpose bit flags (central header)
  std::uint32_t crc32 = 0;          // from the central header; 0 may mean "not computed"
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  std::uint64_t local_header_offset = 0;
  std::uint64_t data_offset = 0;    // first byte of the (possibly compressed) data
  std::uint64_t end_offset = 0;     // just past the data and its data descriptor, if any
};

class ZipReader {
 public:
  // Parses the archive held in [data, data+size). `display_name` starts every
  // error message. `owner`, if given, is kept alive as long as this reader
  // (and is handed out by owner() so views can outlive the reader).
  // Throws std::runtime_error if the bytes are not a well-formed zip archive.
  ZipReader(const void* data, std::size_t size, std::string display_name,
            std::shared_ptr<const void> owner = nullptr);
  // Parses a mapped file; the display name is the file's path.
  explicit ZipReader(std::shared_ptr<MappedFile> file);
  // MappedFile::open(path) + the constructor above.
  static ZipReader open(const std::string& path);

  const std::string& display_name() const { return name_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  // Whatever keeps data() valid (the MappedFile, or the owner passed in).
  const std::shared_ptr<const void>& owner() const { return owner_; }
  // The mapped file this reader parses, or nullptr for a reader of bytes.
  const MappedFile* file() const { return file_; }

  // Entries in central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  std::vector<std::string> names() const;

  // Lookups by full entry name. As in torch (miniz), an exact match wins,
  // otherwise an ASCII case-insensitive match is used. find() returns nullptr
  // if absent and throws if only ambiguous case-insensitive matches exist.
  const ZipEntry* find(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  // Like find() but throws "no record '...'" if absent.
  const ZipEntry& entry(std::string_view name) const;

  // The archive folder of a torch checkpoint: the text before the first '/'
  // of central-directory entry #0 (what PyTorchStreamReader does). Throws
  // "file in archive is not in a subdirectory" if there is none.
  std::string archive_prefix() const;
  // find(archive_prefix() + "/" + record), e.g. find_record("data.pkl").
  const ZipEntry* find_record(std::string_view record) const;

  // Zero-copy view of a STORED record's bytes (no CRC check: that would
  // touch every page of an mmap'ed multi-GB tensor). Throws if the entry is
  // missing or compressed.
  std::string_view stored_view(std::string_view name) const;
  std::string_view stored_view(const ZipEntry& e) const;

  // Copies (STORED) or inflates (DEFLATE) a record and verifies its CRC-32.
  // A stored CRC of 0 on a non-empty record means "not computed" (torch's
  // set_crc32_options(False), skip_data) and is not checked.
  // Throws on a missing entry, corrupt deflate data or CRC mismatch.
  std::string read(std::string_view name) const;
  std::string read(const ZipEntry& e) const;

  // Checks the CRC-32 of every record (inflating compressed ones). Throws on
  // the first mismatch.
  void verify_all() const;

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void parse();
  struct EndOfCentralDirectory;
  EndOfCentralDirectory find_end() const;
  void read_central_directory(std::uint64_t cd_offset, std::uint64_t cd_size, std::uint64_t count);
  void resolve_local_header(ZipEntry& e, std::uint64_t cd_offset) const;
  void check_data_descriptor(ZipEntry& e, std::uint64_t cd_offset) const;
  void check_layout(std::uint64_t cd_offset) const;
  // Copies [off, off + n) of the archive into dst: pread for a mapped file
  // (leaves the mapping's pages untouched), memcpy otherwise.
  void read_bytes(std::uint64_t off, void* dst, std::size_t n) const;
  // Inflates a DEFLATE record, handing the output to `consume` in pieces of
  // at most 1 MiB; throws unless it inflates to exactly its declared size.
  void inflate_entry(const ZipEntry& e, const std::function<void(const std::uint8_t*, std::size_t)>& consume) const;
  void check_crc(const ZipEntry& e, std::string_view bytes) const;
  void check_crc(const ZipEntry& e, std::uint32_t computed, std::uint64_t size) const;

  std::string name_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::shared_ptr<const void> owner_;
  const MappedFile* file_ = nullptr;  // kept alive by owner_
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::unordered_map<std::string, std::vector<std::size_t>> by_lower_name_;
};

}  // namespace torchless::io
