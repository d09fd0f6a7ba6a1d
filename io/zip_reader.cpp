#include "io/zip_reader.h"

#include "io/crc32.h"

#include <zlib.h>

#include <algorithm>
#include <functional>
#include <climits>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

namespace torchless::io {
namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50;     // PK\3\4
constexpr std::uint32_t kCentralSig = 0x02014b50;   // PK\1\2
constexpr std::uint32_t kEocdSig = 0x06054b50;      // PK\5\6
constexpr std::uint32_t kZip64EocdSig = 0x06064b50; // PK\6\6
constexpr std::uint32_t kZip64LocSig = 0x07064b50;  // PK\6\7
constexpr std::size_t kLocalHeaderSize = 30;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kEocdSize = 22;
constexpr std::size_t kZip64LocatorSize = 20;
constexpr std::size_t kZip64EocdSize = 56;
constexpr std::size_t kMaxComment = 65535;
constexpr std::uint32_t kU32Max = 0xFFFFFFFFu;
// Deflate cannot compress better than ~1032:1, so a larger declared ratio is
// corruption, not data — and refusing it bounds what a header can make us
// allocate.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

std::uint16_t rd16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t rd32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t rd64(const std::uint8_t* p) {
  return static_cast<std::uint64_t>(rd32(p)) | (static_cast<std::uint64_t>(rd32(p + 4)) << 32);
}

std::string hex32(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// True if [offset, offset+len) lies inside a buffer of `size` bytes, without
// overflowing on hostile 64-bit values.
bool in_bounds(std::uint64_t offset, std::uint64_t len, std::uint64_t size) {
  return offset <= size && len <= size - offset;
}

}  // namespace

struct ZipReader::EndOfCentralDirectory {
  std::uint64_t cd_offset = 0;
  std::uint64_t cd_size = 0;
  std::uint64_t count = 0;
  std::uint64_t cd_limit = 0;  // where the end records start: the CD must end before it
};

ZipReader::ZipReader(const void* data, std::size_t size, std::string display_name,
                     std::shared_ptr<const void> owner)
    : name_(std::move(display_name)),
      data_(static_cast<const std::uint8_t*>(data)),
      size_(size),
      owner_(std::move(owner)) {
  parse();
}

ZipReader::ZipReader(std::shared_ptr<MappedFile> file)
    : name_(file->path()), data_(file->data()), size_(file->size()), owner_(file), file_(file.get()) {
  parse();
}

ZipReader ZipReader::open(const std::string& path) { return ZipReader(MappedFile::open(path)); }

void ZipReader::fail(const std::string& what) const { throw std::runtime_error(name_ + ": " + what); }

void ZipReader::parse() {
  EndOfCentralDirectory end = find_end();
  read_central_directory(end.cd_offset, end.cd_size, end.count);
  for (ZipEntry& e : entries_) resolve_local_header(e, end.cd_offset);
  check_layout(end.cd_offset);
}

ZipReader::EndOfCentralDirectory ZipReader::find_end() const {
  const bool starts_like_zip = size_ >= 4 && rd32(data_) == kLocalSig;
  if (size_ == 0) fail("empty file (0 bytes), not a zip archive");
  // Scan back for the EOCD signature, allowing for a maximal archive comment.
  std::size_t eocd = SIZE_MAX;
  if (size_ >= kEocdSize) {
    const std::size_t last = size_ - kEocdSize;
    const std::size_t first = last > kMaxComment ? last - kMaxComment : 0;
    for (std::size_t i = last + 1; i-- > first;) {
      if (rd32(data_ + i) == kEocdSig) {
        eocd = i;
        break;
      }
    }
  }
  if (eocd == SIZE_MAX) {
    if (starts_like_zip) {
      fail("truncated: central directory not found (file is " + std::to_string(size_) +
           " bytes, an upload may have stopped early)");
    }
    fail("not a zip archive (no end-of-central-directory record; file is " + std::to_string(size_) +
         " bytes)");
  }

  const std::uint8_t* p = data_ + eocd;
  EndOfCentralDirectory end;
  std::uint32_t disk = rd16(p + 4), cd_disk = rd16(p + 6);
  std::uint64_t disk_entries = rd16(p + 8);
  end.count = rd16(p + 10);
  end.cd_size = rd32(p + 12);
  end.cd_offset = rd32(p + 16);
  end.cd_limit = eocd;

  // A ZIP64 locator right before the EOCD means the ZIP64 record is
  // authoritative (torch always writes one, even for tiny files).
  if (eocd >= kZip64LocatorSize && rd32(p - kZip64LocatorSize) == kZip64LocSig) {
    const std::uint8_t* loc = p - kZip64LocatorSize;
    const std::uint64_t z64 = rd64(loc + 8);
    const std::uint64_t loc_pos = eocd - kZip64LocatorSize;
    if (!in_bounds(z64, kZip64EocdSize, loc_pos) || rd32(data_ + z64) != kZip64EocdSig) {
      fail("ZIP64 end-of-central-directory record not found at offset " + std::to_string(z64) +
           " (file is " + std::to_string(size_) + " bytes; truncated or corrupt)");
    }
    const std::uint8_t* z = data_ + z64;
    disk = rd32(z + 16);
    cd_disk = rd32(z + 20);
    disk_entries = rd64(z + 24);
    end.count = rd64(z + 32);
    end.cd_size = rd64(z + 40);
    end.cd_offset = rd64(z + 48);
    end.cd_limit = z64;
  }

  if (disk != 0 || cd_disk != 0 || disk_entries != end.count) {
    fail("multi-disk (spanned) zip archives are not supported");
  }
  if (!in_bounds(end.cd_offset, end.cd_size, end.cd_limit)) {
    fail("central directory (offset " + std::to_string(end.cd_offset) + ", size " +
         std::to_string(end.cd_size) + ") lies outside the file (" + std::to_string(size_) +
         " bytes); the file is truncated or corrupt");
  }
  if (end.count > end.cd_size / kCentralHeaderSize) {
    fail("entry count " + std::to_string(end.count) + " does not fit in a " +
         std::to_string(end.cd_size) + "-byte central directory; the file is corrupt");
  }
  return end;
}

void ZipReader::read_central_directory(std::uint64_t cd_offset, std::uint64_t cd_size,
                                       std::uint64_t count) {
  entries_.reserve(count);  // bounded by cd_size / 46, itself bounded by the file size
  const std::uint64_t cd_end = cd_offset + cd_size;
  std::uint64_t pos = cd_offset;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string where = "central directory entry #" + std::to_string(i);
    if (!in_bounds(pos, kCentralHeaderSize, cd_end) || rd32(data_ + pos) != kCentralSig) {
      fail(where + " at offset " + std::to_string(pos) + " is missing or corrupt");
    }
    const std::uint8_t* h = data_ + pos;
    const std::uint16_t name_len = rd16(h + 28), extra_len = rd16(h + 30), comment_len = rd16(h + 32);
    const std::uint64_t total = kCentralHeaderSize + std::uint64_t{name_len} + extra_len + comment_len;
    if (!in_bounds(pos, total, cd_end)) fail(where + " runs past the end of the central directory");

    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);
    e.flags = rd16(h + 8);
    e.method = rd16(h + 10);
    e.crc32 = rd32(h + 16);
    e.compressed_size = rd32(h + 20);
    e.uncompressed_size = rd32(h + 24);
    e.local_header_offset = rd32(h + 42);

    // ZIP64 extra (id 1) holds, in this fixed order, only the fields whose
    // 32-bit slot is saturated.
    const bool need_uncomp = e.uncompressed_size == kU32Max;
    const bool need_comp = e.compressed_size == kU32Max;
    const bool need_offset = e.local_header_offset == kU32Max;
    if (need_uncomp || need_comp || need_offset) {
      const std::uint8_t* x = h + kCentralHeaderSize + name_len;
      const std::uint8_t* x_end = x + extra_len;
      bool found = false;
      while (x_end - x >= 4) {
        const std::uint16_t id = rd16(x), len = rd16(x + 2);
        const std::uint8_t* body = x + 4;
        if (len > x_end - body) break;  // malformed tail; a missing field is reported below
        if (id == 1) {
          const std::size_t needed = 8u * (need_uncomp + need_comp + need_offset);
          if (len < needed) fail(where + " ('" + e.name + "'): ZIP64 extra field too short");
          if (need_uncomp) e.uncompressed_size = rd64(body), body += 8;
          if (need_comp) e.compressed_size = rd64(body), body += 8;
          if (need_offset) e.local_header_offset = rd64(body);
          found = true;
          break;
        }
        x = body + len;
      }
      if (!found) fail(where + " ('" + e.name + "'): 32-bit field saturated but no ZIP64 extra field");
    }

    const std::size_t index = entries_.size();
    if (!by_name_.emplace(e.name, index).second)
      fail("two central-directory entries are named '" + e.name + "' (ambiguous file: readers may take either)");
    by_lower_name_[ascii_lower(e.name)].push_back(index);
    entries_.push_back(std::move(e));
    pos += total;
  }
}

void ZipReader::read_bytes(std::uint64_t off, void* dst, std::size_t n) const {
  if (file_ && file_->can_read_at()) file_->read_at(static_cast<std::size_t>(off), dst, n);
  else std::memcpy(dst, data_ + off, n);
}

void ZipReader::resolve_local_header(ZipEntry& e, std::uint64_t cd_offset) const {
  const std::string rec = "record '" + e.name + "'";
  if (e.flags & 1u) fail(rec + " is encrypted, which is not supported");
  if (e.method != 0 && e.method != 8) {
    fail(rec + " uses compression method " + std::to_string(e.method) +
         "; only 0 (stored) and 8 (deflate) are supported");
  }
  if (e.method == 0 && e.compressed_size != e.uncompressed_size) {
    fail(rec + " is stored but its compressed size " + std::to_string(e.compressed_size) +
         " differs from its size " + std::to_string(e.uncompressed_size));
  }
  const std::uint64_t off = e.local_header_offset;
  if (!in_bounds(off, kLocalHeaderSize, cd_offset)) {
    fail(rec + ": no local header at offset " + std::to_string(off) + " (truncated or corrupt file)");
  }
  // Each tensor record's header sits on a page of its own: read through the
  // mapping, every one costs a page fault that also maps its neighbours (16
  // records: a 1 GiB zero-copy load went from 0.07 to 0.2 ms). pread leaves
  // the mapping untouched.
  std::uint8_t h[kLocalHeaderSize];
  read_bytes(off, h, kLocalHeaderSize);
  if (rd32(h) != kLocalSig) {
    fail(rec + ": no local header at offset " + std::to_string(off) + " (truncated or corrupt file)");
  }
  const std::uint16_t name_len = rd16(h + 26), extra_len = rd16(h + 28);
  if (!in_bounds(off + kLocalHeaderSize, std::uint64_t{name_len} + extra_len, cd_offset)) {
    fail(rec + ": local header runs into the central directory (corrupt file)");
  }
  std::string tail(std::size_t{name_len} + extra_len, '\0');
  read_bytes(off + kLocalHeaderSize, tail.data(), tail.size());
  if (name_len != e.name.size() || std::memcmp(tail.data(), e.name.data(), name_len) != 0) {
    fail(rec + ": local header names it '" + tail.substr(0, name_len) + "' (does not match the central directory)");
  }
  // What a reader that walks the local headers would see must be what the
  // central directory says (torch reads the latter, scanners often the
  // former). With a data descriptor (flag bit 3) the local CRC and sizes
  // may be 0, as torch writes them; the descriptor is checked instead.
  const std::uint16_t local_flags = rd16(h + 6), local_method = rd16(h + 8);
  if (local_method != e.method) {
    fail(rec + ": local header says compression method " + std::to_string(local_method) +
         ", the central directory " + std::to_string(e.method));
  }
  if ((local_flags & 8u) != (e.flags & 8u)) {
    fail(rec + ": local header and central directory disagree on whether a data descriptor follows");
  }
  std::uint64_t local_comp = rd32(h + 18), local_uncomp = rd32(h + 22);
  const std::uint32_t local_crc = rd32(h + 14);
  if (local_comp == kU32Max || local_uncomp == kU32Max) {
    // ZIP64 local extra: uncompressed then compressed size, both present.
    const auto* x = reinterpret_cast<const std::uint8_t*>(tail.data()) + name_len;
    const std::uint8_t* x_end = x + extra_len;
    while (x_end - x >= 4) {
      const std::uint16_t id = rd16(x), len = rd16(x + 2);
      if (len > x_end - x - 4) break;
      if (id == 1 && len >= 16) {
        local_uncomp = rd64(x + 4);
        local_comp = rd64(x + 12);
        break;
      }
      x += 4 + len;
    }
  }
  const bool zero_sizes = local_crc == 0 && local_comp == 0 && local_uncomp == 0;
  if (!((e.flags & 8u) && zero_sizes) &&
      (local_crc != e.crc32 || local_comp != e.compressed_size || local_uncomp != e.uncompressed_size)) {
    fail(rec + ": local header says CRC " + hex32(local_crc) + ", " + std::to_string(local_comp) + " -> " +
         std::to_string(local_uncomp) + " bytes; the central directory says CRC " + hex32(e.crc32) + ", " +
         std::to_string(e.compressed_size) + " -> " + std::to_string(e.uncompressed_size) + " bytes");
  }
  e.data_offset = off + kLocalHeaderSize + name_len + extra_len;
  if (!in_bounds(e.data_offset, e.compressed_size, cd_offset)) {
    fail(rec + " (offset " + std::to_string(e.data_offset) + ", " + std::to_string(e.compressed_size) +
         " bytes) runs past the start of the central directory at " + std::to_string(cd_offset) +
         " (truncated or corrupt file)");
  }
  if (e.method == 8 && e.uncompressed_size > e.compressed_size * kMaxDeflateRatio + 1024) {
    fail(rec + ": declared size " + std::to_string(e.uncompressed_size) + " is impossible for " +
         std::to_string(e.compressed_size) + " deflated bytes");
  }
  e.end_offset = e.data_offset + e.compressed_size;
  if (e.flags & 8u) check_data_descriptor(e, cd_offset);
}

// The descriptor after the data: an optional PK\7\8 signature, the CRC, and
// both sizes in 4 or (ZIP64) 8 bytes each. One of the layouts that fits must
// agree with the central directory.
void ZipReader::check_data_descriptor(ZipEntry& e, std::uint64_t cd_offset) const {
  const std::uint64_t at = e.end_offset;
  std::uint8_t d[24] = {};
  const std::size_t avail = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof d, cd_offset - at));
  read_bytes(at, d, avail);
  const bool sig = avail >= 4 && rd32(d) == 0x08074b50u;
  const std::uint8_t* p = d + (sig ? 4 : 0);
  const std::size_t left = avail - (sig ? 4 : 0);
  auto matches = [&](bool wide) {
    const std::size_t need = wide ? 20 : 12;
    if (left < need || rd32(p) != e.crc32) return false;
    const std::uint64_t comp = wide ? rd64(p + 4) : rd32(p + 4), uncomp = wide ? rd64(p + 12) : rd32(p + 8);
    return comp == e.compressed_size && uncomp == e.uncompressed_size;
  };
  const bool narrow = matches(false), wide = matches(true);
  if (!narrow && !wide) {
    fail("record '" + e.name + "': its data descriptor at offset " + std::to_string(at) +
         " does not match the central directory's CRC and sizes (corrupt or ambiguous file)");
  }
  e.end_offset = at + (sig ? 4 : 0) + (wide && !narrow ? 20 : 12);
}

// Overlapping records are never written by a real zip tool; they are the
// signature of a zip bomb or of corrupted offsets. A local header in the
// bytes between records (or before the first) that the central directory
// does not list is a record one reader sees and another does not.
void ZipReader::check_layout(std::uint64_t cd_offset) const {
  std::vector<const ZipEntry*> sorted;
  sorted.reserve(entries_.size());
  for (const ZipEntry& e : entries_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const ZipEntry* a, const ZipEntry* b) {
    return a->local_header_offset < b->local_header_offset;
  });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    const ZipEntry& prev = *sorted[i - 1];
    if (prev.end_offset > sorted[i]->local_header_offset) {
      fail("records '" + prev.name + "' and '" + sorted[i]->name + "' overlap (corrupt file)");
    }
  }
  auto check_gap = [&](std::uint64_t from, std::uint64_t to, const std::string& where) {
    for (std::uint64_t p = from; p + 4 <= to; ++p) {
      if (rd32(data_ + p) == kLocalSig) {
        fail("a local header at offset " + std::to_string(p) + " " + where +
             " is not in the central directory (a hidden record; ambiguous file)");
      }
    }
  };
  std::uint64_t cursor = 0;
  for (const ZipEntry* e : sorted) {
    check_gap(cursor, e->local_header_offset, "before record '" + e->name + "'");
    cursor = e->end_offset;
  }
  check_gap(cursor, cd_offset, "before the central directory");
}

std::vector<std::string> ZipReader::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const ZipEntry& e : entries_) out.push_back(e.name);
  return out;
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  if (auto it = by_name_.find(std::string(name)); it != by_name_.end()) return &entries_[it->second];
  auto it = by_lower_name_.find(ascii_lower(name));
  if (it == by_lower_name_.end()) return nullptr;
  if (it->second.size() > 1) {
    fail("record name '" + std::string(name) + "' is ambiguous (entries differing only in case)");
  }
  return &entries_[it->second.front()];
}

const ZipEntry& ZipReader::entry(std::string_view name) const {
  const ZipEntry* e = find(name);
  if (e == nullptr) fail("no record '" + std::string(name) + "' in archive");
  return *e;
}

std::string ZipReader::archive_prefix() const {
  if (entries_.empty()) fail("archive has no entries");
  const std::string& first = entries_.front().name;
  const auto slash = first.find('/');
  if (slash == std::string::npos) fail("file in archive is not in a subdirectory: '" + first + "'");
  return first.substr(0, slash);
}

const ZipEntry* ZipReader::find_record(std::string_view record) const {
  return find(archive_prefix() + "/" + std::string(record));
}

std::string_view ZipReader::stored_view(std::string_view name) const { return stored_view(entry(name)); }

std::string_view ZipReader::stored_view(const ZipEntry& e) const {
  if (e.method != 0) fail("record '" + e.name + "' is compressed; it has no zero-copy view");
  if (e.compressed_size == 0) return {};
  return {reinterpret_cast<const char*>(data_ + e.data_offset), static_cast<std::size_t>(e.compressed_size)};
}

std::string ZipReader::read(std::string_view name) const { return read(entry(name)); }

std::string ZipReader::read(const ZipEntry& e) const {
  std::string out;
  if (e.method == 0) {
    out = std::string(stored_view(e));
  } else {
    // Grow with the data actually produced, not the declared size.
    out.reserve(static_cast<std::size_t>(
        std::min<std::uint64_t>(e.uncompressed_size, std::max<std::uint64_t>(65536, 4 * e.compressed_size))));
    inflate_entry(e, [&](const std::uint8_t* p, std::size_t n) { out.append(reinterpret_cast<const char*>(p), n); });
  }
  check_crc(e, out);
  return out;
}

void ZipReader::check_crc(const ZipEntry& e, std::string_view bytes) const {
  check_crc(e, static_cast<std::uint32_t>(crc32_update(0, bytes.data(), bytes.size())), bytes.size());
}

void ZipReader::check_crc(const ZipEntry& e, std::uint32_t computed, std::uint64_t size) const {
  if (e.crc32 == 0 && size != 0) return;  // writer chose not to compute it
  if (computed != e.crc32) {
    fail("CRC-32 mismatch in record '" + e.name + "' (stored " + hex32(e.crc32) + ", computed " +
         hex32(computed) + ")");
  }
}

void ZipReader::verify_all() const {
  for (const ZipEntry& e : entries_) {
    if (e.method == 0) {
      check_crc(e, stored_view(e));
    } else {
      std::uint32_t crc = 0;
      inflate_entry(e, [&](const std::uint8_t* p, std::size_t n) { crc = static_cast<std::uint32_t>(crc32_update(crc, p, n)); });
      check_crc(e, crc, e.uncompressed_size);
    }
  }
}

void ZipReader::inflate_entry(const ZipEntry& e, const std::function<void(const std::uint8_t*, std::size_t)>& consume) const {
  const std::string rec = "record '" + e.name + "'";
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) fail(rec + ": inflateInit2 failed");
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};

  constexpr std::uint64_t kChunk = std::uint64_t{1} << 30;  // z_stream counters are 32-bit
  const std::uint64_t want = e.uncompressed_size;
  const std::uint8_t* in = data_ + e.data_offset;
  std::uint64_t in_left = e.compressed_size;
  // Output goes out in pieces of a fixed buffer, so memory does not follow
  // the declared size (verify_all() checks a record without holding it).
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min<std::uint64_t>(std::max<std::uint64_t>(want, 1), 1 << 20)));
  std::size_t filled = 0;
  std::uint64_t produced = 0;
  unsigned char overflow_probe = 0;

  for (;;) {
    if (zs.avail_in == 0 && in_left > 0) {
      const std::uint64_t n = std::min(in_left, kChunk);
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = static_cast<uInt>(n);
      in += n;
      in_left -= n;
    }
    if (filled == buf.size()) {
      consume(buf.data(), filled);
      filled = 0;
    }
    const bool full = produced == want;
    // Once the declared size is reached, offer one spare byte: if inflate
    // fills it, the record is bigger than its header claims.
    zs.next_out = full ? &overflow_probe : buf.data() + filled;
    zs.avail_out = full ? 1u : static_cast<uInt>(std::min<std::uint64_t>(buf.size() - filled, want - produced));
    const uInt in_before = zs.avail_in, out_before = zs.avail_out;
    const int ret = inflate(&zs, Z_NO_FLUSH);
    const uInt wrote = out_before - zs.avail_out;
    if (full && wrote > 0) fail(rec + " inflates to more than its declared " + std::to_string(want) + " bytes");
    if (!full) {
      produced += wrote;
      filled += wrote;
    }
    if (ret == Z_STREAM_END) break;
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      fail(rec + ": corrupt deflate data (" + (zs.msg ? zs.msg : "zlib error " + std::to_string(ret)) + ")");
    }
    const bool progressed = wrote > 0 || zs.avail_in != in_before;
    if (!progressed && zs.avail_in == 0 && in_left == 0) fail(rec + ": deflate data ends early (truncated)");
    if (!progressed) fail(rec + ": deflate stream made no progress (corrupt)");
  }
  if (filled > 0) consume(buf.data(), filled);
  if (produced != want) {
    fail(rec + " inflates to " + std::to_string(produced) + " bytes but declares " + std::to_string(want));
  }
}

}  // namespace torchless::io
