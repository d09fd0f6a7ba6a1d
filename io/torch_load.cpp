#include "io/torch_load.h"

#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>
#include <map>
#include <stdexcept>

#include "io/checked_file.h"
#include "io/crc32.h"
#include "io/bool_bytes.h"
#include "io/file_error.h"
#include "io/torch_legacy.h"
#include "io/torch_rebuild.h"
#include "io/unpickler.h"
#include "io/zip_reader.h"

namespace torchless::io {
namespace {

// Newest zip format torch writes is 3; torch 2.11 reads up to 10 (TorchScript
// versions). Anything newer is refused rather than misread.
constexpr int64_t kMaxFormatVersion = 10;

void check_version(const ZipReader& zip, const std::string& prefix, const std::string& name) {
  const ZipEntry* e = zip.find(prefix + "/.data/version");
  if (!e) e = zip.find(prefix + "/version");
  if (!e) fail_in(name, "not a torch checkpoint: no 'version' record in the archive");
  std::string text = zip.read(*e);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || v > 1000000) fail_in(name, "malformed 'version' record '" + text.substr(0, 20) + "'");
    v = v * 10 + (c - '0');
  }
  if (text.empty() || v < 1 || v > kMaxFormatVersion)
    fail_in(name, "unsupported checkpoint format version " + text + " (this reader supports 1.." +
                   std::to_string(kMaxFormatVersion) + ")");
}

bool big_endian_file(const ZipReader& zip, const std::string& prefix, const std::string& name) {
  const ZipEntry* e = zip.find(prefix + "/byteorder");
  if (!e) return false;  // files before torch 2.1 are little-endian
  const std::string order = zip.read(*e);
  if (order == "little") return false;
  if (order == "big") return true;
  fail_in(name, "malformed 'byteorder' record '" + order.substr(0, 20) + "'");
}

// Copies n bytes into dst and returns their CRC-32, in parallel 8 MiB
// chunks whose CRCs are combined: loading is then bound by memory bandwidth,
// not by one core's CRC speed. With a file opened for pread, each chunk is
// read straight from the page cache in 512 KiB pieces, each checked while
// still in L2; otherwise it is copied out of the mapping.
uint32_t copy_with_crc(char* dst, const MappedFile* file, const char* src, size_t n) {
  constexpr size_t kChunk = size_t{8} << 20, kPiece = size_t{512} << 10;
  const int64_t chunks = static_cast<int64_t>((n + kChunk - 1) / kChunk);
  std::vector<uint32_t> crcs(static_cast<size_t>(chunks));
  const bool use_pread = file && file->can_read_at();
  const size_t file_offset = use_pread ? static_cast<size_t>(reinterpret_cast<const uint8_t*>(src) - file->data()) : 0;
  std::exception_ptr error;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t off = static_cast<size_t>(c) * kChunk, len = std::min(kChunk, n - off);
    uint32_t crc = 0;
    try {
      for (size_t p = off; p < off + len; p += kPiece) {
        const size_t piece = std::min(kPiece, off + len - p);
        if (use_pread) file->read_at(file_offset + p, dst + p, piece);
        else std::memcpy(dst + p, src + p, piece);
        crc = crc32_update(crc, dst + p, piece);
      }
    } catch (...) {
#pragma omp critical(torchless_load_error)
      if (!error) error = std::current_exception();
    }
    crcs[static_cast<size_t>(c)] = crc;
  }
  if (error) std::rethrow_exception(error);
  uint32_t crc = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t off = static_cast<size_t>(c) * kChunk, len = std::min(kChunk, n - off);
    crc = crc32_combine_lengths(crc, crcs[static_cast<size_t>(c)], len);
  }
  return crc;
}

// Copies or maps one storage record onto its target device. Copies check
// the record's CRC on the way (a stored 0 means torch did not compute one);
// an mmap'd record is not read at all, so it is not checked (`torchless
// verify` checks every record).
Storage materialise(const ZipReader& zip, const ZipEntry& e, DType dtype, int64_t numel, Device device, bool big_endian,
                    bool use_mmap, bool verify_crc) {
  const size_t esize = element_size(dtype);
  // numel * esize must not wrap around (2**62 float32 elements would be "0 bytes").
  if (static_cast<uint64_t>(numel) > UINT64_MAX / esize)
    fail_in(zip.display_name(), "storage record '" + e.name + "' claims " + std::to_string(numel) + " " +
                                 std::string(dtype_name(dtype)) + " elements, more than any file can hold");
  const uint64_t nbytes = static_cast<uint64_t>(numel) * esize;
  if (e.uncompressed_size != nbytes)
    fail_in(zip.display_name(), "storage record '" + e.name + "' holds " + std::to_string(e.uncompressed_size) +
                                 " bytes, but " + std::to_string(numel) + " " + std::string(dtype_name(dtype)) +
                                 " elements need " + std::to_string(nbytes));
  // Bool bytes other than 0 and 1 need a private, normalised copy.
  const bool bools_ok = dtype != DType::Bool || e.method != 0 ||
                        bools_valid(reinterpret_cast<const uint8_t*>(zip.stored_view(e).data()), nbytes);
  if (use_mmap && device.is_cpu() && e.method == 0 && !big_endian && e.data_offset % esize == 0 && bools_ok) {
    std::string_view view = zip.stored_view(e);
    std::shared_ptr<const void> owner = zip.owner();
    return Storage::wrap(const_cast<char*>(view.data()), view.size(), device,
                         std::shared_ptr<void>(std::const_pointer_cast<void>(owner), const_cast<char*>(view.data())));
  }
  Storage cpu = Storage::allocate(nbytes, Device::cpu());
  if (e.method == 0) {
    std::string_view view = zip.stored_view(e);
    const uint32_t crc = copy_with_crc(static_cast<char*>(cpu.data()), zip.file(), view.data(), nbytes);
    if (verify_crc && e.crc32 != 0 && crc != e.crc32) {
      char msg[96];
      std::snprintf(msg, sizeof msg, " (stored %08x, computed %08x)", e.crc32, crc);
      fail_in(zip.display_name(), "CRC-32 mismatch in record '" + e.name + "'" + msg + ": the file is corrupted");
    }
  } else {
    const std::string bytes = zip.read(e);
    if (nbytes) std::memcpy(cpu.data(), bytes.data(), nbytes);
  }
  if (dtype == DType::Bool) normalise_bools(static_cast<uint8_t*>(cpu.data()), nbytes);
  if (big_endian) {
    const size_t unit = is_complex(dtype) ? esize / 2 : esize;
    byteswap_elements(cpu.data(), static_cast<size_t>(nbytes / unit), unit);
  }
  if (device.is_cpu()) return cpu;
  Storage dev = Storage::allocate(nbytes, device);
  copy_bytes(dev.data(), device, cpu.data(), Device::cpu(), nbytes);
  return dev;
}

Checkpoint load_zip(const ZipReader& zip, const LoadOptions& opt) {
  const std::string& name = zip.display_name();
  const std::string prefix = zip.archive_prefix();
  if (zip.find(prefix + "/constants.pkl"))
    fail_in(name, "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint");
  const ZipEntry* pkl = zip.find(prefix + "/data.pkl");
  if (!pkl) fail_in(name, "not a torch checkpoint: no '" + prefix + "/data.pkl' record in the archive");
  check_version(zip, prefix, name);
  // Storage records are checked as they are copied; check the rest here.
  if (opt.verify_crc)
    for (const ZipEntry& e : zip.entries())
      if (e.name.find("/data/") == std::string::npos) (void)zip.read(e);
  const bool big_endian = big_endian_file(zip, prefix, name);

  Checkpoint ck;
  ck.format = "zip";
  ck.path = name;
  std::map<std::string, ValuePtr> loaded;
  UnpickleOptions uo = torch_unpickle_options(
      opt.safe, opt.on_global,
      [&](const std::string& key, DType dtype, int64_t numel, const std::string& location) -> ValuePtr {
        if (auto it = loaded.find(key); it != loaded.end()) {
          if (it->second->storage_dtype != dtype && dtype != DType::UInt8)
            fail_in(name, "storage '" + key + "' is used with two dtypes");
          return it->second;
        }
        const ZipEntry* rec = zip.find(prefix + "/data/" + key);
        if (!rec) fail_in(name, "storage record '" + prefix + "/data/" + key + "' is missing");
        Device device;
        try {
          device = opt.map_location.resolve(location);
        } catch (const std::exception& e) {
          fail_in(name, e.what());
        }
        if (device.is_cuda() && !cuda_built())
          fail_in(name, "storage '" + key + "' was saved on " + location +
                         ", but this torchless was built without CUDA; load with map_location \"cpu\" "
                         "(torchless ... --map-location cpu)");
        auto v = Value::from_storage(materialise(zip, *rec, dtype, numel, device, big_endian, opt.mmap, opt.verify_crc), dtype);
        loaded[key] = v;
        ck.storages.push_back({key, dtype, numel, location, device});
        return v;
      },
      name);
  const std::string data = pkl->method == 0 ? std::string(zip.stored_view(*pkl)) : zip.read(*pkl);
  try {
    ck.root = unpickle(data, uo);
  } catch (const UnpickleError& e) {
    fail_in(name, std::string(e.what()) + " (in " + pkl->name + ")");
  }
  return ck;
}

}  // namespace

MapLocation MapLocation::parse(std::string_view spec) {
  MapLocation m;
  if (spec.empty()) return m;
  if (spec.find('=') == std::string_view::npos) {
    m.all = Device::parse(spec);
    return m;
  }
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string_view item = spec.substr(start, comma - start);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument("bad map_location entry '" + std::string(item) + "' (expected FROM=TO)");
    const std::string from(item.substr(0, eq)), to(item.substr(eq + 1));
    Device::parse(from);
    Device::parse(to);
    m.remap.emplace_back(Device::parse(from).str(), Device::parse(to).str());
    start = comma + 1;
  }
  return m;
}

Device MapLocation::resolve(const std::string& location) const {
  Device saved;
  try {
    saved = Device::parse(location);
  } catch (const std::exception&) {
    throw std::invalid_argument("unknown storage location '" + location + "'");
  }
  if (all) return *all;
  for (const auto& [from, to] : remap)
    if (from == saved.str()) return Device::parse(to);
  return saved;
}

Checkpoint load_checkpoint_bytes(std::string_view bytes, const std::string& name, const LoadOptions& opt) {
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0) {
    auto owner = std::make_shared<std::string>(bytes);
    ZipReader zip(owner->data(), owner->size(), name, owner);
    return load_zip(zip, opt);
  }
  return load_legacy(bytes, name, opt);
}

Checkpoint load_checkpoint(const std::string& path, const LoadOptions& opt) {
  // Records are read with pread (MappedFile::read_at), which leaves the
  // mapping's pages alone; a zero-copy load then keeps only the mapping, so
  // its tensors hold no file descriptor.
  auto file = MappedFile::open(path, /*keep_fd=*/true);
  if (file->size() == 0) fail_in(path, "empty file, not a torch checkpoint");
  if (file->size() >= 4 && std::memcmp(file->data(), "PK\x03\x04", 4) == 0) {
    ZipReader zip(file);
    Checkpoint loaded = load_zip(zip, opt);
    file->close_fd();
    return loaded;
  }
  return load_legacy(std::string_view(reinterpret_cast<const char*>(file->data()), file->size()), path, opt);
}

ValuePtr load(const std::string& path, const LoadOptions& opt) { return load_checkpoint(path, opt).root; }

}  // namespace torchless::io
