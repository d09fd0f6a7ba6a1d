#include "io/zip_writer.h"

#include "io/crc32.h"

#include <zlib.h>

#include <algorithm>
#include <future>
#include <thread>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace torchless::io {
namespace {

constexpr std::uint64_t kU32Max = 0xFFFFFFFFu;
constexpr std::uint16_t kFlagsDescriptorUtf8 = 0x0808;
constexpr std::uint16_t kFlagsUtf8 = 0x0800;
constexpr std::uint16_t kZip64ExtraId = 0x0001;
constexpr std::uint16_t kPadExtraId = 0x4246;  // 'F','B' — torch's alignment block
constexpr std::size_t kMaxAlignment = 32768;

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v & 0xFFFF));
  put16(out, static_cast<std::uint16_t>(v >> 16));
}
void put64(std::string& out, std::uint64_t v) {
  put32(out, static_cast<std::uint32_t>(v & 0xFFFFFFFFu));
  put32(out, static_cast<std::uint32_t>(v >> 32));
}
std::uint32_t clamp32(std::uint64_t v) { return static_cast<std::uint32_t>(std::min(v, kU32Max)); }

// miniz switches an entry to ZIP64 when either value no longer fits 32 bits
// (>=, not >: 0xFFFFFFFF itself is the "see ZIP64 extra" marker).
bool big_size(std::uint64_t size) { return size >= kU32Max; }
bool big_offset(std::uint64_t offset) { return offset >= kU32Max; }

std::uint32_t crc32_of(const void* data, std::size_t n) {
  if (n == 0) return 0;
  return crc32_update(0, data, n);
}

// Payloads at least this big get their CRC computed on other threads while
// the data is being written: the CRC only goes into the descriptor after the
// data, so saving costs max(write, crc) instead of their sum.
constexpr std::size_t kConcurrentCrcBytes = std::size_t{8} << 20;

// CRC of a big buffer on up to hardware_concurrency threads (pieces are
// stitched with crc32_combine).
std::uint32_t parallel_crc32(const void* data, std::size_t n) {
  constexpr std::size_t kMinPiece = std::size_t{16} << 20;
  const std::size_t threads = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  const std::size_t pieces = std::clamp<std::size_t>(n / kMinPiece, 1, threads);
  if (pieces == 1) return crc32_of(data, n);
  const auto* p = static_cast<const std::uint8_t*>(data);
  const std::size_t piece = n / pieces;
  std::vector<std::future<std::uint32_t>> parts;
  parts.reserve(pieces - 1);
  try {
    for (std::size_t i = 1; i < pieces; ++i) {
      const std::size_t len = i + 1 == pieces ? n - i * piece : piece;
      parts.push_back(std::async(std::launch::async, crc32_of, p + i * piece, len));
    }
  } catch (const std::system_error&) {
    return crc32_of(data, n);  // no threads to be had: slower, still correct
  }
  auto crc = static_cast<uLong>(crc32_of(p, piece));
  for (std::size_t i = 1; i < pieces; ++i) {
    const std::size_t len = i + 1 == pieces ? n - i * piece : piece;
    crc = crc32_combine_lengths(static_cast<std::uint32_t>(crc), parts[i - 1].get(), len);
  }
  return static_cast<std::uint32_t>(crc);
}

// The ZIP64 extra block as miniz writes it. In the local header the
// compressed size is written as 0 (it is not known yet when miniz writes it);
// in the central header it is the real size.
void put_zip64_extra(std::string& out, std::uint64_t size, std::uint64_t comp_size, std::uint64_t offset) {
  const bool bs = big_size(size), bo = big_offset(offset);
  if (!bs && !bo) return;
  put16(out, kZip64ExtraId);
  put16(out, static_cast<std::uint16_t>((bs ? 16 : 0) + (bo ? 8 : 0)));
  if (bs) {
    put64(out, size);
    put64(out, comp_size);
  }
  if (bo) put64(out, offset);
}

}  // namespace

ZipWriter::ZipWriter(ByteSink& sink, std::string archive_name, std::size_t alignment, std::uint64_t start_offset)
    : sink_(sink), archive_(std::move(archive_name)), alignment_(alignment), cursor_(start_offset) {
  if (archive_.empty()) throw std::invalid_argument("ZipWriter: empty archive name");
  if (archive_.find_first_of("/\\") != std::string::npos) {
    throw std::invalid_argument("ZipWriter: archive name '" + archive_ + "' contains a path separator");
  }
  // The pad (< alignment) plus the other extra blocks must fit the u16 extra
  // length of the local header.
  if (alignment_ == 0 || alignment_ > kMaxAlignment) {
    throw std::invalid_argument("ZipWriter: alignment " + std::to_string(alignment_) + " is not in 1.." +
                                std::to_string(kMaxAlignment));
  }
}

std::uint64_t ZipWriter::data_offset_for(std::uint64_t cursor, std::size_t full_name_len, std::uint64_t size,
                                         std::size_t alignment) {
  std::uint64_t start = cursor + 30 + full_name_len + 4;  // + FB block header
  if (big_size(size) || big_offset(cursor)) {
    start += 4;
    if (big_size(size)) start += 16;
    if (big_offset(cursor)) start += 8;
  }
  const std::uint64_t pad = (alignment - start % alignment) % alignment;
  return start + pad;
}

void ZipWriter::add(const std::string& record_name, const void* data, std::size_t n) {
  if (finished_) throw std::invalid_argument("ZipWriter: add('" + record_name + "') after finish()");
  if (record_name.empty()) throw std::invalid_argument("ZipWriter: empty record name");
  std::string name = archive_ + "/" + record_name;
  if (name.size() > 0xFFFF) throw std::invalid_argument("ZipWriter: record name too long: " + record_name);
  if (!names_.insert(name).second) throw std::invalid_argument("ZipWriter: duplicate record '" + name + "'");

  const std::uint64_t offset = cursor_;
  const std::uint64_t size = n;
  const bool zip64 = big_size(size) || big_offset(offset);
  std::future<std::uint32_t> pending_crc;
  std::uint32_t crc = 0;
  if (n >= kConcurrentCrcBytes) {
    try {
      pending_crc = std::async(std::launch::async, parallel_crc32, data, n);
    } catch (const std::system_error&) {
      crc = crc32_of(data, n);
    }
  } else {
    crc = crc32_of(data, n);
  }

  std::string extra;
  put_zip64_extra(extra, size, 0, offset);
  const std::uint64_t data_offset = data_offset_for(offset, name.size(), size, alignment_);
  const std::uint64_t pad = data_offset - (offset + 30 + name.size() + extra.size() + 4);
  put16(extra, kPadExtraId);
  put16(extra, static_cast<std::uint16_t>(pad));
  extra.append(pad, 'Z');

  std::string header;
  header.reserve(30 + name.size() + extra.size());
  put32(header, 0x04034b50);
  put16(header, 0);                                              // version needed
  put16(header, n == 0 ? kFlagsUtf8 : kFlagsDescriptorUtf8);
  put16(header, 0);                                              // method: stored
  put32(header, 0);                                              // time, date
  put32(header, 0);                                              // crc (in descriptor)
  put32(header, 0);                                              // compressed size
  put32(header, 0);                                              // uncompressed size
  put16(header, static_cast<std::uint16_t>(name.size()));
  put16(header, static_cast<std::uint16_t>(extra.size()));
  header += name;
  header += extra;
  sink_.write(header);
  if (n > 0) sink_.write(data, n);
  // (If a write throws, the future's destructor waits for the CRC threads,
  // so they never outlive `data`.)
  if (pending_crc.valid()) crc = pending_crc.get();

  std::uint64_t descriptor_size = 0;
  if (n > 0) {
    std::string descriptor;
    put32(descriptor, 0x08074b50);
    put32(descriptor, crc);
    if (zip64) {
      put64(descriptor, size);  // compressed
      put64(descriptor, size);  // uncompressed
    } else {
      put32(descriptor, static_cast<std::uint32_t>(size));
      put32(descriptor, static_cast<std::uint32_t>(size));
    }
    sink_.write(descriptor);
    descriptor_size = descriptor.size();
  }
  cursor_ = data_offset + size + descriptor_size;
  records_.push_back(CentralRecord{std::move(name), crc, size, offset});
}

void ZipWriter::write_central_header(std::string& out, const CentralRecord& r) const {
  std::string extra;
  put_zip64_extra(extra, r.size, r.size, r.offset);
  put32(out, 0x02014b50);
  put16(out, 0);  // version made by
  put16(out, 0);  // version needed
  put16(out, r.size == 0 ? kFlagsUtf8 : kFlagsDescriptorUtf8);
  put16(out, 0);  // method
  put32(out, 0);  // time, date
  put32(out, r.crc);
  put32(out, clamp32(r.size));  // compressed
  put32(out, clamp32(r.size));  // uncompressed
  put16(out, static_cast<std::uint16_t>(r.name.size()));
  put16(out, static_cast<std::uint16_t>(extra.size()));
  put16(out, 0);  // comment length
  put16(out, 0);  // disk number start
  put16(out, 0);  // internal attributes
  put32(out, 0);  // external attributes
  put32(out, clamp32(r.offset));
  out += r.name;
  out += extra;
}

void ZipWriter::write_end_records(std::uint64_t cd_offset, std::uint64_t cd_size) {
  const std::uint64_t n = records_.size();
  const std::uint64_t zip64_eocd_offset = cd_offset + cd_size;
  std::string out;
  // ZIP64 end of central directory, always (miniz MZ_ZIP_FLAG_WRITE_ZIP64).
  put32(out, 0x06064b50);
  put64(out, 44);      // size of the rest of this record
  put16(out, 0x031E);  // made by
  put16(out, 0x002D);  // needed: 4.5
  put32(out, 0);       // this disk
  put32(out, 0);       // disk with the central directory
  put64(out, n);
  put64(out, n);
  put64(out, cd_size);
  put64(out, cd_offset);
  // ZIP64 locator.
  put32(out, 0x07064b50);
  put32(out, 0);
  put64(out, zip64_eocd_offset);
  put32(out, 1);
  // Classic EOCD, saturated where the real values live in the ZIP64 record.
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<std::uint16_t>(std::min<std::uint64_t>(n, 0xFFFF)));
  put16(out, static_cast<std::uint16_t>(std::min<std::uint64_t>(n, 0xFFFF)));
  put32(out, clamp32(cd_size));
  put32(out, clamp32(cd_offset));
  put16(out, 0);  // comment length
  sink_.write(out);
  cursor_ += out.size();
}

void ZipWriter::finish() {
  if (finished_) throw std::logic_error("ZipWriter: finish() called twice");
  finished_ = true;
  const std::uint64_t cd_offset = cursor_;
  std::string cd;
  for (const CentralRecord& r : records_) write_central_header(cd, r);
  sink_.write(cd);
  cursor_ += cd.size();
  write_end_records(cd_offset, cd.size());
}

}  // namespace torchless::io
