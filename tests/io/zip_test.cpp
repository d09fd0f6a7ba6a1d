// Tests for io/checked_file, io/zip_reader and io/zip_writer against
// independent truths: real torch.save files (torch 2.11 and 1.13), Python's
// zipfile module, and the layout in docs/checkpoint-format.md §1.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/checked_file.h"
#include "io/zip_reader.h"
#include "io/zip_writer.h"
#include "support/test_util.h"

#ifndef TORCHLESS_TEST_DATA
#define TORCHLESS_TEST_DATA "tests/data"
#endif

namespace fs = std::filesystem;
using torchless::io::AtomicFileWriter;
using torchless::io::FdSink;
using torchless::io::MappedFile;
using torchless::io::StringSink;
using torchless::io::ZipEntry;
using torchless::io::ZipReader;
using torchless::io::ZipWriter;

using namespace torchless::test;  // support/test_util.h

namespace {

const std::string kData = TORCHLESS_TEST_DATA;
const std::string kPython = TORCHLESS_PYTHON;

// Runs a Python script with arguments; returns its exit status.
int run_python(const TempDir& dir, const std::string& script, const std::vector<std::string>& args) {
  const std::string script_path = dir / "script.py";
  write_file(script_path, script);
  std::string cmd = kPython + " " + script_path;
  for (const std::string& a : args) cmd += " '" + a + "'";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Every zip checkpoint in the test data (legacy_state_dict.pt is the old
// non-zip format and is tested as a non-zip input instead).
std::vector<std::string> torch_zip_files() {
  std::vector<std::string> out;
  for (const char* dir : {"torch-2.11", "torch-1.13"}) {
    for (const auto& f : fs::directory_iterator(fs::path(kData) / dir)) {
      if (f.path().extension() == ".pt" && f.path().filename() != "legacy_state_dict.pt") {
        out.push_back(f.path().string());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string expect_throw(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected std::runtime_error";
  return {};
}


std::uint32_t rd32(const std::string& s, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}
std::uint64_t rd64(const std::string& s, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, s.data() + at, 8);
  return v;
}
void wr16(std::string& s, std::size_t at, std::uint16_t v) { std::memcpy(s.data() + at, &v, 2); }
void wr32(std::string& s, std::size_t at, std::uint32_t v) { std::memcpy(s.data() + at, &v, 4); }
std::uint16_t rd16(const std::string& s, std::size_t at) {
  std::uint16_t v;
  std::memcpy(&v, s.data() + at, 2);
  return v;
}

// Rewrites one record's CRC and sizes the same way in its central header (at
// `cd_entry`) and its local header, without a data descriptor: a consistent
// lie, which only the deeper checks (overlap, CRC, inflated size) can catch.
void set_record(std::string& s, std::size_t cd_entry, std::uint32_t crc, std::uint32_t comp, std::uint32_t uncomp) {
  const std::size_t local = rd32(s, cd_entry + 42);
  for (std::size_t flags : {cd_entry + 8, local + 6}) wr16(s, flags, static_cast<std::uint16_t>(rd16(s, flags) & ~8u));
  wr32(s, cd_entry + 16, crc);
  wr32(s, cd_entry + 20, comp);
  wr32(s, cd_entry + 24, uncomp);
  wr32(s, local + 14, crc);
  wr32(s, local + 18, comp);
  wr32(s, local + 22, uncomp);
}
void wr64(std::string& s, std::size_t at, std::uint64_t v) { std::memcpy(s.data() + at, &v, 8); }

// Offset of the first central header (found via the ZIP64 EOCD torch writes).
std::size_t central_dir_offset(const std::string& zip) {
  const std::size_t eocd = zip.size() - 22;
  const std::uint64_t z64 = rd64(zip, eocd - 20 + 8);
  return static_cast<std::size_t>(rd64(zip, z64 + 48));
}

// Parses and fully reads an archive; any std::runtime_error propagates.
void read_everything(const std::string& bytes, const std::string& name) {
  ZipReader z(bytes.data(), bytes.size(), name);
  for (const ZipEntry& e : z.entries()) (void)z.read(e);
  if (!z.entries().empty()) (void)z.find_record("data.pkl");
}

// Rewrites every record of a torch file through ZipWriter, in the same order
// and under the same archive name.
std::string rewrite(const ZipReader& z) {
  const std::string prefix = z.archive_prefix();
  StringSink sink;
  ZipWriter w(sink, prefix);
  for (const ZipEntry& e : z.entries()) w.add(e.name.substr(prefix.size() + 1), z.read(e));
  w.finish();
  return sink.str();
}

}  // namespace

// ---------------------------------------------------------------------------
// Real torch files
// ---------------------------------------------------------------------------

TEST(ZipReaderTorchFiles, ReadsEveryRealCheckpoint) {
  const auto files = torch_zip_files();
  ASSERT_GE(files.size(), 12u);
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    ZipReader z = ZipReader::open(path);
    // torch names the archive folder after the file's stem (§1.2).
    const std::string stem = fs::path(path).stem().string();
    EXPECT_EQ(z.archive_prefix(), stem);
    ASSERT_GE(z.entries().size(), 3u);
    EXPECT_EQ(z.entries().front().name, stem + "/data.pkl");
    for (const ZipEntry& e : z.entries()) {
      EXPECT_TRUE(starts_with(e.name, stem + "/")) << e.name;
      EXPECT_EQ(e.method, 0) << e.name;
      EXPECT_EQ(e.data_offset % 64, 0u) << e.name;  // torch's kFieldAlignment
      EXPECT_EQ(z.stored_view(e).size(), e.uncompressed_size);
    }
    z.verify_all();
    ASSERT_NE(z.find_record("data.pkl"), nullptr);
    ASSERT_NE(z.find_record("version"), nullptr);
    const std::string pkl = z.read(*z.find_record("data.pkl"));
    ASSERT_GE(pkl.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(pkl[0]), 0x80);  // PROTO opcode
    EXPECT_EQ(pkl.back(), '.');                           // STOP opcode
  }
}

TEST(ZipReaderTorchFiles, Torch211RecordsAndOrder) {
  ZipReader z = ZipReader::open(kData + "/torch-2.11/nested.pt");
  const auto names = z.names();
  ASSERT_GE(names.size(), 7u);
  EXPECT_EQ(names[0], "nested/data.pkl");
  EXPECT_EQ(names[1], "nested/.format_version");
  EXPECT_EQ(names[2], "nested/.storage_alignment");
  EXPECT_EQ(names[3], "nested/byteorder");
  EXPECT_EQ(names[4], "nested/data/0");
  EXPECT_EQ(names[names.size() - 2], "nested/version");
  EXPECT_EQ(names.back(), "nested/.data/serialization_id");
  EXPECT_EQ(z.read("nested/.format_version"), "1");
  EXPECT_EQ(z.read("nested/.storage_alignment"), "64");
  EXPECT_EQ(z.read("nested/byteorder"), "little");
  EXPECT_EQ(z.read("nested/version"), "3\n");
  EXPECT_EQ(z.read("nested/.data/serialization_id").size(), 40u);
  // The worked example's first record: data.pkl's data at 64 (§1.4).
  EXPECT_EQ(z.entries()[0].local_header_offset, 0u);
  EXPECT_EQ(z.entries()[0].data_offset, 64u);
}

TEST(ZipReaderTorchFiles, Torch113RecordsAndOrder) {
  ZipReader z = ZipReader::open(kData + "/torch-1.13/numpy_values.pt");
  const std::vector<std::string> expected = {"numpy_values/data.pkl", "numpy_values/data/0", "numpy_values/data/1",
                                             "numpy_values/version"};
  EXPECT_EQ(z.names(), expected);
  EXPECT_EQ(z.read(*z.find_record("version")), "3\n");
}

TEST(ZipReaderTorchFiles, LookupIsCaseInsensitiveLikeMiniz) {
  ZipReader z = ZipReader::open(kData + "/torch-2.11/nested.pt");
  const ZipEntry* e = z.find_record("DATA.PKL");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "nested/data.pkl");
  EXPECT_TRUE(z.has("NESTED/Data.Pkl"));
  EXPECT_FALSE(z.has("nested/data.pk"));
  EXPECT_EQ(z.find_record("no_such_record"), nullptr);
  const std::string msg = expect_throw([&] { (void)z.entry("nested/missing"); });
  EXPECT_TRUE(starts_with(msg, kData + "/torch-2.11/nested.pt: ")) << msg;
}

// Cross-check names, CRCs, sizes and header offsets against Python's zipfile.
TEST(ZipReaderTorchFiles, AgreesWithPythonZipfile) {
  if (!have_python()) GTEST_SKIP() << kPython << " not found";
  TempDir dir;
  for (const std::string& path : torch_zip_files()) {
    SCOPED_TRACE(path);
    const std::string listing = dir / "listing.txt";
    ASSERT_EQ(run_python(dir,
                         "import zipfile, sys\n"
                         "z = zipfile.ZipFile(sys.argv[1])\n"
                         "with open(sys.argv[2], 'w') as f:\n"
                         "    for i in z.infolist():\n"
                         "        f.write('%s %d %d %d\\n' % (i.filename, i.CRC, i.file_size, i.header_offset))\n",
                         {path, listing}),
              0);
    std::ifstream in(listing);
    ZipReader z = ZipReader::open(path);
    for (const ZipEntry& e : z.entries()) {
      std::string name;
      std::uint64_t crc = 0, size = 0, offset = 0;
      ASSERT_TRUE(in >> name >> crc >> size >> offset);
      EXPECT_EQ(e.name, name);
      EXPECT_EQ(e.crc32, crc);
      EXPECT_EQ(e.uncompressed_size, size);
      EXPECT_EQ(e.local_header_offset, offset);
    }
    std::string extra;
    EXPECT_FALSE(in >> extra) << "python lists more entries";
  }
}

// ---------------------------------------------------------------------------
// Writer: byte-exact reproduction of torch's files
// ---------------------------------------------------------------------------

TEST(ZipWriterTorchFiles, RewriteIsByteIdenticalToTorch) {
  // §1.3-1.4 claim the layout reproduces torch's files byte-for-byte given the
  // same payloads; this covers 2.11 (with .format_version, an empty storage in
  // views.pt) and 1.13 (different record order).
  for (const std::string& path : torch_zip_files()) {
    SCOPED_TRACE(path);
    const std::string original = torchless::io::read_file(path);
    ZipReader z(original.data(), original.size(), path);
    const std::string rewritten = rewrite(z);
    ASSERT_EQ(rewritten.size(), original.size());
    const auto mismatch = std::mismatch(rewritten.begin(), rewritten.end(), original.begin());
    EXPECT_TRUE(mismatch.first == rewritten.end())
        << "first difference at byte " << (mismatch.first - rewritten.begin());
  }
}

TEST(ZipWriterTorchFiles, EmptyRecordHasNoDescriptor) {
  StringSink sink;
  ZipWriter w(sink);
  w.add("empty", "", 0);
  const std::uint64_t after_empty = w.offset();
  w.add("x", "abc");
  w.finish();
  const std::string& s = sink.str();
  EXPECT_EQ(rd32(s, 0), 0x04034b50u);
  EXPECT_EQ(static_cast<std::uint8_t>(s[6]), 0x00);  // flags 0x0800
  EXPECT_EQ(static_cast<std::uint8_t>(s[7]), 0x08);
  // "archive/empty" = 13 bytes: start = 30+13+4 = 47, pad 17 -> data at 64,
  // and with no data and no descriptor the next header starts right there.
  EXPECT_EQ(after_empty, 64u);
  EXPECT_EQ(rd32(s, 64), 0x04034b50u);
  ZipReader z(s.data(), s.size(), "mem");
  EXPECT_EQ(z.read("archive/empty"), "");
  EXPECT_EQ(z.read("archive/x"), "abc");
}

TEST(ZipWriter, DataOffsetMatchesDocWorkedExamples) {
  // §1.4: archive/data.pkl at 0 -> 64.
  EXPECT_EQ(ZipWriter::data_offset_for(0, 16, 100, 64), 64u);
  // §1.4, 4.3 GB file: data/0 (4294967396 bytes) with header at 726 and a
  // 10-byte name gets a 16-byte ZIP64 block and pad 42 -> data at 832; the
  // next header is after the 24-byte descriptor.
  EXPECT_EQ(ZipWriter::data_offset_for(726, 10, 4294967396ull, 64), 832u);
  EXPECT_EQ(832u + 4294967396ull + 24, 4294968252ull);
  // data/1 at 4294968252: an 8-byte ZIP64 offset block.
  const std::uint64_t start = 4294968252ull + 30 + 10 + 4 + 4 + 8;
  EXPECT_EQ(ZipWriter::data_offset_for(4294968252ull, 10, 8, 64), (start + 63) / 64 * 64);
  // A size of exactly 0xFFFFFFFF already needs ZIP64 (miniz uses >=).
  // (30+20+4 = 54 -> 64 without it; +4+16 = 74 -> 128 with it.)
  EXPECT_EQ(ZipWriter::data_offset_for(0, 20, 0xFFFFFFFFull, 64), 128u);
  EXPECT_EQ(ZipWriter::data_offset_for(0, 20, 0xFFFFFFFEull, 64), 64u);
}

TEST(ZipWriter, AlignmentIsConfigurable) {
  for (std::size_t a : {1u, 8u, 64u, 4096u, 32768u}) {
    SCOPED_TRACE(a);
    StringSink sink;
    ZipWriter w(sink, "archive", a);
    for (int i = 0; i < 5; ++i) w.add("data/" + std::to_string(i), std::string(static_cast<std::size_t>(i * 37 + 1), 'x'));
    w.finish();
    ZipReader z(sink.str().data(), sink.str().size(), "mem");
    ASSERT_EQ(z.entries().size(), 5u);
    for (const ZipEntry& e : z.entries()) EXPECT_EQ(e.data_offset % a, 0u) << e.name;
    z.verify_all();
  }
}

TEST(ZipWriter, RejectsMisuse) {
  StringSink sink;
  EXPECT_THROW(ZipWriter(sink, ""), std::invalid_argument);
  EXPECT_THROW(ZipWriter(sink, "a/b"), std::invalid_argument);
  EXPECT_THROW(ZipWriter(sink, "archive", 0), std::invalid_argument);
  EXPECT_THROW(ZipWriter(sink, "archive", 32769), std::invalid_argument);
  ZipWriter w(sink);
  w.add("a", "1");
  EXPECT_THROW(w.add("a", "2"), std::invalid_argument);
  EXPECT_THROW(w.add("", "2"), std::invalid_argument);
  w.finish();
  EXPECT_THROW(w.add("b", "3"), std::invalid_argument);
  EXPECT_THROW(w.finish(), std::logic_error);
}

// Big payloads have their CRC computed on threads (pieces combined with
// crc32_combine) while the data is written; it must equal the one-pass CRC.
TEST(ZipWriter, ConcurrentCrcOfLargeRecordIsExact) {
  std::string big((40 << 20) + 12345, '\0');
  std::mt19937_64 rng(99);
  for (std::size_t i = 0; i + 8 <= big.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(big.data() + i, &v, 8);
  }
  StringSink sink;
  ZipWriter w(sink);
  w.add("data/0", big);
  w.finish();
  ZipReader z(sink.str().data(), sink.str().size(), "mem");
  const ZipEntry& e = z.entry("archive/data/0");
  EXPECT_EQ(e.crc32, crc32_z(0, reinterpret_cast<const Bytef*>(big.data()), big.size()));
  EXPECT_EQ(z.stored_view(e), big);
  z.verify_all();
}

// Python's zipfile as a second, independent reader of our output.
TEST(ZipWriter, PythonZipfileAcceptsOutput) {
  if (!have_python()) GTEST_SKIP() << kPython << " not found";
  TempDir dir;
  const std::string zip_path = dir / "out.pt";
  std::mt19937 rng(1234);
  std::string big(3 << 20, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  torchless::io::write_file_atomic(zip_path, [&](int fd) {
    FdSink sink(fd, zip_path, 4096);  // small buffer: the 3 MiB record bypasses it
    ZipWriter w(sink, "out");
    w.add("data.pkl", std::string("\x80\x02}q\x00.", 6));
    w.add("byteorder", "little");
    w.add("data/0", big);
    w.add("data/1", "", 0);
    w.add("version", "3\n");
    w.finish();
    sink.flush();
  });
  write_file(dir / "big.bin", big);
  ASSERT_EQ(run_python(dir,
                       "import zipfile, sys\n"
                       "z = zipfile.ZipFile(sys.argv[1])\n"
                       "assert z.testzip() is None\n"
                       "assert z.namelist() == ['out/data.pkl', 'out/byteorder', 'out/data/0', 'out/data/1',"
                       " 'out/version'], z.namelist()\n"
                       "assert z.read('out/byteorder') == b'little'\n"
                       "assert z.read('out/version') == b'3\\n'\n"
                       "assert z.read('out/data/1') == b''\n"
                       "assert z.read('out/data/0') == open(sys.argv[2], 'rb').read()\n"
                       "for i in z.infolist(): assert i.compress_type == zipfile.ZIP_STORED\n",
                       {zip_path, dir / "big.bin"}),
            0);
  ZipReader z = ZipReader::open(zip_path);
  EXPECT_EQ(z.read("out/data/0"), big);
  EXPECT_EQ(z.archive_prefix(), "out");
}

// ZIP64 for offsets: pretend 4 GiB + a bit is already in the file (a sparse
// hole), so every header offset needs the ZIP64 extra, the descriptors are 24
// bytes and the EOCD saturates. Python's zipfile and our reader must agree.
TEST(ZipWriter, Zip64OffsetsBeyond4GiB) {
  TempDir dir;
  const std::string path = dir / "far.zip";
  const std::uint64_t hole = (std::uint64_t{1} << 32) + 1000;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  if (::lseek(fd, static_cast<off_t>(hole), SEEK_SET) != static_cast<off_t>(hole)) {
    ::close(fd);
    GTEST_SKIP() << "cannot create a sparse 4 GiB file here";
  }
  FdSink sink(fd, path);
  ZipWriter w(sink, "archive", 64, hole);
  w.add("data.pkl", "pickle");
  w.add("data/0", std::string(1000, 'a'));
  w.add("empty", "", 0);
  w.add("version", "3\n");
  w.finish();
  sink.flush();
  ::close(fd);

  ZipReader z = ZipReader::open(path);
  ASSERT_EQ(z.entries().size(), 4u);
  EXPECT_GE(z.entries()[0].local_header_offset, hole);
  EXPECT_EQ(z.read("archive/data/0"), std::string(1000, 'a'));
  EXPECT_EQ(z.read("archive/empty"), "");
  for (const ZipEntry& e : z.entries()) EXPECT_EQ(e.data_offset % 64, 0u);
  z.verify_all();

  // Layout of the first record per §1.3: ZIP64 block (offset only) then FB.
  const auto m = MappedFile::open(path);
  const std::uint8_t* lh = m->data() + hole;
  const std::uint16_t name_len = static_cast<std::uint16_t>(lh[26] | lh[27] << 8);
  const std::uint8_t* extra = lh + 30 + name_len;
  EXPECT_EQ(extra[0], 1);
  EXPECT_EQ(extra[2], 8);  // offset only
  std::uint64_t ofs;
  std::memcpy(&ofs, extra + 4, 8);
  EXPECT_EQ(ofs, hole);
  EXPECT_EQ(extra[12], 'F');
  EXPECT_EQ(extra[13], 'B');
  const std::uint8_t* desc = m->data() + z.entries()[0].data_offset + 6;
  EXPECT_EQ(std::memcmp(desc, "PK\7\x08", 4), 0);
  std::uint64_t d_comp, d_uncomp;
  std::memcpy(&d_comp, desc + 8, 8);
  std::memcpy(&d_uncomp, desc + 16, 8);
  EXPECT_EQ(d_comp, 6u);
  EXPECT_EQ(d_uncomp, 6u);

  if (!have_python()) return;
  ASSERT_EQ(run_python(dir,
                       "import zipfile, sys\n"
                       "z = zipfile.ZipFile(sys.argv[1])\n"
                       "assert z.testzip() is None\n"
                       "assert z.read('archive/data/0') == b'a' * 1000\n"
                       "assert z.infolist()[0].header_offset == int(sys.argv[2]), z.infolist()[0].header_offset\n",
                       {path, std::to_string(hole)}),
            0);
}

// ZIP64 for sizes: one record of 4 GiB + 100 bytes (zero pages of an anonymous
// mapping, so it costs address space, not memory). The file is written
// sparse: the payload turns into a hole instead of 4 GiB of disk writes.
TEST(ZipWriter, Zip64RecordLargerThan4GiB) {
  const std::size_t big = (std::size_t{1} << 32) + 100;
  void* zeros = ::mmap(nullptr, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (zeros == MAP_FAILED) GTEST_SKIP() << "cannot map 4 GiB of address space";
  struct Unmap {
    void* p;
    std::size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{zeros, big};

  // Writes normally, except that the giant zero payload becomes a hole.
  class SparseSink final : public torchless::io::ByteSink {
   public:
    SparseSink(int fd, const void* zeros) : fd_(fd), zeros_(zeros) {}
    void write(const void* data, std::size_t n) override {
      if (data == zeros_) {
        if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) throw std::runtime_error("lseek");
      } else {
        torchless::io::write_all(fd_, data, n, "sparse");
      }
    }
    using ByteSink::write;

   private:
    int fd_;
    const void* zeros_;
  };

  TempDir dir;
  const std::string path = dir / "big.zip";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  {
    SparseSink sink(fd, zeros);
    ZipWriter w(sink, "big");
    w.add("data.pkl", std::string(100, 'p'));
    w.add("data/0", zeros, big);
    w.add("version", "3\n");
    w.finish();
  }
  ::close(fd);

  ZipReader z = ZipReader::open(path);
  const ZipEntry& e = z.entry("big/data/0");
  EXPECT_EQ(e.uncompressed_size, big);
  EXPECT_EQ(e.compressed_size, big);
  EXPECT_EQ(e.data_offset % 64, 0u);
  EXPECT_EQ(e.data_offset, ZipWriter::data_offset_for(e.local_header_offset, 10, big, 64));
  EXPECT_EQ(z.read("big/version"), "3\n");
  // The version record starts after the 24-byte descriptor.
  EXPECT_EQ(z.entry("big/version").local_header_offset, e.data_offset + big + 24);
  const auto m = MappedFile::open(path);
  const std::uint8_t* extra = m->data() + e.local_header_offset + 30 + 10;
  EXPECT_EQ(extra[0], 1);
  EXPECT_EQ(extra[2], 16);  // uncompressed + compressed
  std::uint64_t uncomp, comp;
  std::memcpy(&uncomp, extra + 4, 8);
  std::memcpy(&comp, extra + 12, 8);
  EXPECT_EQ(uncomp, big);
  EXPECT_EQ(comp, 0u);  // miniz writes 0 here (§1.3)
  // Stored CRC equals zlib's CRC of 4 GiB + 100 zero bytes.
  const uLong crc = crc32_z(0, static_cast<const Bytef*>(zeros), big);
  EXPECT_EQ(e.crc32, crc);

  if (!have_python()) return;
  ASSERT_EQ(run_python(dir,
                       "import zipfile, sys\n"
                       "z = zipfile.ZipFile(sys.argv[1])\n"
                       "i = z.getinfo('big/data/0')\n"
                       "assert i.file_size == i.compress_size == int(sys.argv[2]), (i.file_size, i.compress_size)\n"
                       "assert z.read('big/version') == b'3\\n'\n",
                       {path, std::to_string(big)}),
            0);
}

// ---------------------------------------------------------------------------
// Reader: other producers (DEFLATE, ZIP64 extras from Python)
// ---------------------------------------------------------------------------

TEST(ZipReader, ReadsDeflateAndPythonZip64) {
  if (!have_python()) GTEST_SKIP() << kPython << " not found";
  TempDir dir;
  ASSERT_EQ(run_python(dir,
                       "import zipfile, sys, os, random\n"
                       "random.seed(7)\n"
                       "recs = {'arc/data.pkl': b'\\x80\\x02K\\x01.', 'arc/data/0': bytes(range(256)) * 4000,\n"
                       "        'arc/data/1': bytes(random.getrandbits(8) for _ in range(50000)),\n"
                       "        'arc/empty': b'', 'arc/version': b'3\\n'}\n"
                       "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n"
                       "    for k, v in recs.items():\n"
                       "        with z.open(k, 'w', force_zip64=True) as f: f.write(v)\n"
                       "for i, (k, v) in enumerate(recs.items()):\n"
                       "    open(os.path.join(sys.argv[2], 'rec%d' % i), 'wb').write(v)\n",
                       {dir / "deflated.zip", dir.path().string()}),
            0);
  ZipReader z = ZipReader::open(dir / "deflated.zip");
  ASSERT_EQ(z.entries().size(), 5u);
  EXPECT_EQ(z.archive_prefix(), "arc");
  for (std::size_t i = 0; i < 5; ++i) {
    const ZipEntry& e = z.entries()[i];
    SCOPED_TRACE(e.name);
    EXPECT_EQ(e.method, 8);
    EXPECT_EQ(z.read(e), torchless::io::read_file(dir / ("rec" + std::to_string(i))));
  }
  EXPECT_LT(z.entry("arc/data/0").compressed_size, z.entry("arc/data/0").uncompressed_size / 10);
  z.verify_all();
  const std::string msg = expect_throw([&] { (void)z.stored_view("arc/data/0"); });
  EXPECT_TRUE(contains(msg, "compressed")) << msg;
}

TEST(ZipReader, RejectsDuplicateNamesAndMissingFolder) {
  if (!have_python()) GTEST_SKIP() << kPython << " not found";
  TempDir dir;
  ASSERT_EQ(run_python(dir,
                       "import zipfile, sys, warnings\n"
                       "warnings.simplefilter('ignore')\n"
                       "with zipfile.ZipFile(sys.argv[1], 'w') as z:\n"
                       "    z.writestr('a/x', b'1'); z.writestr('a/x', b'2')\n"
                       "with zipfile.ZipFile(sys.argv[2], 'w') as z:\n"
                       "    z.writestr('data.pkl', b'1')\n"
                       "with zipfile.ZipFile(sys.argv[3], 'w') as z:\n"
                       "    z.writestr('a/X', b'1'); z.writestr('a/x', b'2')\n",
                       {dir / "dup.zip", dir / "flat.zip", dir / "case.zip"}),
            0);
  std::string msg = expect_throw([&] { ZipReader::open(dir / "dup.zip"); });
  EXPECT_TRUE(starts_with(msg, dir / "dup.zip: ")) << msg;
  EXPECT_TRUE(contains(msg, "two central-directory entries are named 'a/x'")) << msg;

  ZipReader flat = ZipReader::open(dir / "flat.zip");
  msg = expect_throw([&] { (void)flat.archive_prefix(); });
  EXPECT_TRUE(contains(msg, "file in archive is not in a subdirectory")) << msg;

  // Exact matches win; a case-insensitive lookup that fits two is an error.
  ZipReader cased = ZipReader::open(dir / "case.zip");
  EXPECT_EQ(cased.read("a/X"), "1");
  EXPECT_EQ(cased.read("a/x"), "2");
  msg = expect_throw([&] { (void)cased.find("A/x"); });
  EXPECT_TRUE(contains(msg, "ambiguous")) << msg;
}

// ---------------------------------------------------------------------------
// Reader: bad input never crashes, hangs or allocates hugely
// ---------------------------------------------------------------------------

TEST(ZipReaderBadInput, EmptyAndNonZip) {
  TempDir dir;
  write_file(dir / "empty.pt", "");
  std::string msg = expect_throw([&] { ZipReader::open(dir / "empty.pt"); });
  EXPECT_TRUE(starts_with(msg, dir / "empty.pt: ")) << msg;
  EXPECT_TRUE(contains(msg, "empty")) << msg;

  write_file(dir / "text.pt", std::string(5000, 'x'));
  msg = expect_throw([&] { ZipReader::open(dir / "text.pt"); });
  EXPECT_TRUE(contains(msg, "not a zip archive")) << msg;

  // The legacy (pre-1.6) torch format is a bare pickle, not a zip.
  const std::string legacy = kData + "/torch-2.11/legacy_state_dict.pt";
  msg = expect_throw([&] { ZipReader::open(legacy); });
  EXPECT_TRUE(starts_with(msg, legacy + ": not a zip archive")) << msg;

  msg = expect_throw([&] { ZipReader::open(dir / "does_not_exist.pt"); });
  EXPECT_TRUE(contains(msg, "does_not_exist.pt")) << msg;
  EXPECT_TRUE(contains(msg, "No such file")) << msg;
}

TEST(ZipReaderBadInput, TruncationsSayTruncated) {
  for (const char* name : {"torch-2.11/fashion_checkpoint.pt", "torch-2.11/nested.pt", "torch-1.13/numpy_values.pt"}) {
    SCOPED_TRACE(name);
    const std::string full = torchless::io::read_file(kData + "/" + name);
    std::vector<std::size_t> cuts;
    for (int k = 0; k < 20; ++k) cuts.push_back(full.size() * k / 20);
    cuts.push_back(full.size() * 97 / 100);
    cuts.push_back(full.size() - 1);
    for (std::size_t cut : cuts) {
      SCOPED_TRACE(cut);
      const std::string part = full.substr(0, cut);
      const std::string msg = expect_throw([&] { read_everything(part, "ckpt.pt"); });
      EXPECT_TRUE(starts_with(msg, "ckpt.pt: ")) << msg;
      if (cut >= 4) {
        EXPECT_TRUE(contains(msg, "truncated: central directory not found (file is " + std::to_string(cut) +
                                      " bytes, an upload may have stopped early)"))
            << msg;
      }
    }
  }
}

TEST(ZipReaderBadInput, EveryTruncationOfASmallFileThrows) {
  const std::string full = torchless::io::read_file(kData + "/torch-2.11/nested.pt");
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    const std::string part = full.substr(0, cut);
    EXPECT_THROW(read_everything(part, "t"), std::runtime_error) << cut;
  }
}

// Flip every byte of a small real file, several ways. Each variant must either
// parse and read (e.g. a flipped pad byte) or throw std::runtime_error — never
// crash (run under ASan/UBSan to make that meaningful).
TEST(ZipReaderBadInput, EveryByteFlipThrowsOrReads) {
  const std::string full = torchless::io::read_file(kData + "/torch-2.11/nested.pt");
  ZipReader ref(full.data(), full.size(), "ref");
  std::size_t threw = 0, crc_errors = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    for (unsigned char x : {0x01, 0x80, 0xFF}) {
      std::string bad = full;
      bad[i] = static_cast<char>(bad[i] ^ x);
      try {
        read_everything(bad, "flip");
      } catch (const std::runtime_error& e) {
        ++threw;
        EXPECT_TRUE(starts_with(e.what(), "flip: ")) << e.what();
        if (contains(e.what(), "CRC-32 mismatch")) ++crc_errors;
      }
    }
  }
  EXPECT_GT(threw, full.size());
  EXPECT_GT(crc_errors, 0u);
  // A flipped byte inside any record's data (all CRCs are set) is caught.
  for (const ZipEntry& e : ref.entries()) {
    if (e.uncompressed_size == 0) continue;
    std::string bad = full;
    bad[e.data_offset] ^= 0x10;
    const std::string msg = expect_throw([&] { ZipReader(bad.data(), bad.size(), "ckpt.pt").verify_all(); });
    EXPECT_TRUE(starts_with(msg, "ckpt.pt: CRC-32 mismatch in record '" + e.name + "' (stored ")) << msg;
  }
}

TEST(ZipReaderBadInput, FlipsInDeflatedArchive) {
  if (!have_python()) GTEST_SKIP() << kPython << " not found";
  TempDir dir;
  ASSERT_EQ(run_python(dir,
                       "import zipfile, sys\n"
                       "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n"
                       "    z.writestr('a/data.pkl', b'hello world ' * 50)\n"
                       "    z.writestr('a/data/0', bytes(range(256)) * 8)\n",
                       {dir / "d.zip"}),
            0);
  const std::string full = torchless::io::read_file(dir / "d.zip");
  for (std::size_t i = 0; i < full.size(); ++i) {
    for (unsigned char x : {0x01, 0x80, 0xFF}) {
      std::string bad = full;
      bad[i] = static_cast<char>(bad[i] ^ x);
      try {
        read_everything(bad, "flip");
      } catch (const std::runtime_error&) {
      }
    }
  }
}

TEST(ZipReaderBadInput, HandCraftedCorruptions) {
  const std::string full = torchless::io::read_file(kData + "/torch-2.11/nested.pt");
  const std::size_t cd = central_dir_offset(full);
  const std::size_t eocd = full.size() - 22;
  const std::size_t z64 = static_cast<std::size_t>(rd64(full, eocd - 20 + 8));
  auto msg_of = [](const std::string& bytes) {
    return expect_throw([&] { read_everything(bytes, "ckpt.pt"); });
  };

  {  // absurd entry count
    std::string bad = full;
    wr64(bad, z64 + 24, std::uint64_t{1} << 60);
    wr64(bad, z64 + 32, std::uint64_t{1} << 60);
    EXPECT_TRUE(contains(msg_of(bad), "entry count")) << msg_of(bad);
  }
  {  // central directory outside the file
    std::string bad = full;
    wr64(bad, z64 + 48, std::uint64_t{1} << 40);
    EXPECT_TRUE(contains(msg_of(bad), "outside the file")) << msg_of(bad);
  }
  {  // ZIP64 EOCD pointer outside the file
    std::string bad = full;
    wr64(bad, eocd - 20 + 8, ~std::uint64_t{0} - 3);
    EXPECT_TRUE(contains(msg_of(bad), "ZIP64 end-of-central-directory record not found")) << msg_of(bad);
  }
  {  // local header offset outside the file
    std::string bad = full;
    wr32(bad, cd + 42, 0x7FFFFFF0);
    EXPECT_TRUE(contains(msg_of(bad), "no local header")) << msg_of(bad);
  }
  {  // a saturated offset with no ZIP64 extra to resolve it
    std::string bad = full;
    wr32(bad, cd + 42, 0xFFFFFFFF);
    EXPECT_TRUE(contains(msg_of(bad), "no ZIP64 extra")) << msg_of(bad);
  }
  {  // record size running into the next record: overlap
    std::string bad = full;
    const std::uint32_t size = rd32(full, cd + 24);
    set_record(bad, cd, rd32(full, cd + 16), size + 200, size + 200);
    EXPECT_TRUE(contains(msg_of(bad), "overlap")) << msg_of(bad);
  }
  {  // record size running past the central directory
    std::string bad = full;
    wr32(bad, cd + 20, 0x7FFFFFFF);
    wr32(bad, cd + 24, 0x7FFFFFFF);
    EXPECT_TRUE(contains(msg_of(bad), "runs past")) << msg_of(bad);
  }
  {  // unsupported compression method (bzip2)
    std::string bad = full;
    wr16(bad, cd + 10, 12);
    EXPECT_TRUE(contains(msg_of(bad), "compression method 12")) << msg_of(bad);
  }
  {  // stored CRC 0 means "not computed": accepted
    std::string bad = full;
    set_record(bad, cd, 0, rd32(full, cd + 20), rd32(full, cd + 24));
    EXPECT_NO_THROW(ZipReader(bad.data(), bad.size(), "x").verify_all());
  }
  {  // wrong CRC: named in the message
    std::string bad = full;
    set_record(bad, cd, 0x1a2b3c4d, rd32(full, cd + 20), rd32(full, cd + 24));
    const std::string msg = expect_throw([&] { ZipReader(bad.data(), bad.size(), "ckpt.pt").verify_all(); });
    EXPECT_TRUE(starts_with(msg, "ckpt.pt: CRC-32 mismatch in record 'nested/data.pkl' (stored 1a2b3c4d, computed "))
        << msg;
  }
}

TEST(ZipReader, VerifyAllChecksDeflatedRecordsInBoundedMemory) {
  // 128 MiB of zeros deflate to ~125 KiB: checking its CRC must not hold it.
  if (!have_python()) GTEST_SKIP() << kPython << " not found";
  TempDir dir;
  ASSERT_EQ(run_python(dir,
                       "import zipfile, sys\n"
                       "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n"
                       "    with z.open('a/data/0', 'w', force_zip64=True) as f:\n"
                       "        for _ in range(128): f.write(bytes(1 << 20))\n",
                       {dir / "zeros.zip"}),
            0);
  ZipReader z = ZipReader::open(dir / "zeros.zip");
  ASSERT_EQ(z.entry("a/data/0").uncompressed_size, 128u << 20);
  struct rusage before {}, after {};
  ::getrusage(RUSAGE_SELF, &before);
  z.verify_all();
  ::getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 48 * 1024) << "KiB of peak memory grew while verifying";
  // The streamed CRC is really compared: a wrong stored CRC is found.
  std::string bytes = torchless::io::read_file(dir / "zeros.zip");
  const std::size_t cd = bytes.rfind(std::string("PK\x01\x02", 4));
  ASSERT_NE(cd, std::string::npos);
  bytes[cd + 16] ^= 0x01;  // central header: CRC-32
  bytes[14] ^= 0x01;       // and the same in the local header: a consistent lie
  const std::string msg = expect_throw([&] { ZipReader(bytes.data(), bytes.size(), "zeros.zip").verify_all(); });
  EXPECT_TRUE(contains(msg, "CRC-32 mismatch in record 'a/data/0'")) << msg;
}

TEST(ZipReaderBadInput, DeflateSizeLies) {
  if (!have_python()) GTEST_SKIP() << kPython << " not found";
  TempDir dir;
  ASSERT_EQ(run_python(dir,
                       "import zipfile, sys\n"
                       "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n"
                       "    z.writestr('a/data/0', b'x' * 100000)\n",
                       {dir / "d.zip"}),
            0);
  const std::string full = torchless::io::read_file(dir / "d.zip");
  const std::size_t cd = static_cast<std::size_t>(rd32(full, full.size() - 22 + 16));
  auto read_with_size = [&](std::uint32_t declared) {
    std::string bad = full;
    set_record(bad, cd, rd32(full, cd + 16), rd32(full, cd + 20), declared);
    return expect_throw([&] { ZipReader(bad.data(), bad.size(), "d.zip").read("a/data/0"); });
  };
  std::string msg = read_with_size(1000);
  EXPECT_TRUE(contains(msg, "inflates to more than its declared 1000 bytes")) << msg;
  msg = read_with_size(110000);
  EXPECT_TRUE(contains(msg, "inflates to 100000 bytes but declares 110000")) << msg;
  msg = read_with_size(0xFFFFFFF0);  // impossible ratio: refused before allocating
  EXPECT_TRUE(contains(msg, "impossible")) << msg;
}

// ---------------------------------------------------------------------------
// checked_file
// ---------------------------------------------------------------------------

TEST(CheckedFile, MappedFileAndReadFile) {
  TempDir dir;
  write_file(dir / "empty", "");
  auto empty = MappedFile::open(dir / "empty");
  EXPECT_EQ(empty->size(), 0u);
  EXPECT_EQ(torchless::io::read_file(dir / "empty"), "");

  write_file(dir / "f", "hello");
  std::string_view view;
  {
    auto m = MappedFile::open(dir / "f");
    EXPECT_EQ(m->path(), dir / "f");
    // A reader's owner() keeps the mapping alive after the reader is gone.
    view = std::string_view(reinterpret_cast<const char*>(m->data()), m->size());
    EXPECT_EQ(view, "hello");
  }
  EXPECT_EQ(torchless::io::read_file(dir / "f"), "hello");

  std::string msg = expect_throw([&] { MappedFile::open(dir / "missing"); });
  EXPECT_TRUE(starts_with(msg, dir / "missing: open failed: No such file or directory")) << msg;
  msg = expect_throw([&] { MappedFile::open(dir.path().string()); });
  EXPECT_TRUE(contains(msg, "is a directory")) << msg;
  msg = expect_throw([&] { torchless::io::read_file(dir / "missing"); });
  EXPECT_TRUE(contains(msg, "No such file")) << msg;
}

TEST(CheckedFile, ReadAtCopiesWhatTheMappingHolds) {
  TempDir dir;
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 2654435761u >> 13);
  write_file(dir / "f", bytes);
  auto m = MappedFile::open(dir / "f", /*keep_fd=*/true);
  ASSERT_TRUE(m->can_read_at());
  std::string out(1 << 20, 'x');
  m->read_at(12345, out.data(), out.size());
  EXPECT_EQ(out, bytes.substr(12345, out.size()));
  // Past the end: an error naming the file, not a short copy.
  std::string msg = expect_throw([&] { m->read_at(bytes.size() - 10, out.data(), 100); });
  EXPECT_TRUE(starts_with(msg, dir / "f: ")) << msg;
  EXPECT_TRUE(contains(msg, "ended early")) << msg;
  // Opened without keep_fd, a mapping holds no descriptor and cannot pread.
  auto plain = MappedFile::open(dir / "f");
  EXPECT_FALSE(plain->can_read_at());
  EXPECT_THROW(plain->read_at(0, out.data(), 1), std::logic_error);
}

TEST(CheckedFile, ReaderOwnerKeepsMappingAlive) {
  std::shared_ptr<const void> owner;
  std::string_view view;
  {
    ZipReader z = ZipReader::open(kData + "/torch-2.11/nested.pt");
    owner = z.owner();
    view = z.stored_view("nested/byteorder");
  }
  EXPECT_EQ(view, "little");  // ASan would flag a use-after-unmap here
}

TEST(CheckedFile, AtomicWriteReplacesOrLeavesUntouched) {
  TempDir dir;
  const std::string path = dir / "ckpt.pt";
  write_file(path, "old contents");
  ::chmod(path.c_str(), 0640);

  EXPECT_THROW(torchless::io::write_file_atomic(path,
                                                [](int fd) {
                                                  torchless::io::write_all(fd, "partial", 7, "x");
                                                  throw std::runtime_error("boom");
                                                }),
               std::runtime_error);
  EXPECT_EQ(torchless::io::read_file(path), "old contents");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u) << "temp file left behind";

  torchless::io::write_file_atomic(path, [](int fd) { torchless::io::write_all(fd, "new", 3, "x"); });
  EXPECT_EQ(torchless::io::read_file(path), "new");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // the replaced file's permissions are kept

  // The error names the file the user asked for, not the temp file.
  const std::string msg = expect_throw([&] { AtomicFileWriter w(dir / "no_such_dir/x.pt"); });
  EXPECT_TRUE(starts_with(msg, dir / "no_such_dir/x.pt: cannot create the temporary file")) << msg;
  EXPECT_TRUE(contains(msg, "No such file")) << msg;
}

TEST(CheckedFile, AtomicWriteRefusesADirectory) {
  TempDir dir;
  fs::create_directory(dir / "ckpt.pt");
  const std::string msg = expect_throw([&] { AtomicFileWriter w(dir / "ckpt.pt"); });
  EXPECT_TRUE(starts_with(msg, dir / "ckpt.pt: is a directory")) << msg;
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u) << "nothing may be created beside it";
}

TEST(CheckedFile, AtomicWriteGoesThroughSymlinks) {
  // latest.pt -> link2.pt -> runs/7/ckpt.pt: the save replaces the final
  // target, as torch.save's open(path, "wb") does, and the links stay links.
  TempDir dir;
  fs::create_directories(dir.path() / "runs/7");
  write_file(dir / "runs/7/ckpt.pt", "old");
  fs::create_symlink("runs/7/ckpt.pt", dir.path() / "link2.pt");  // relative to the link's folder
  fs::create_symlink(dir / "link2.pt", dir.path() / "latest.pt");  // absolute
  torchless::io::write_file_atomic(dir / "latest.pt", [](int fd) { torchless::io::write_all(fd, "new", 3, "x"); });
  EXPECT_TRUE(fs::is_symlink(dir.path() / "latest.pt"));
  EXPECT_TRUE(fs::is_symlink(dir.path() / "link2.pt"));
  EXPECT_EQ(torchless::io::read_file(dir / "runs/7/ckpt.pt"), "new");
  std::size_t in_run = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir.path() / "runs/7")) ++in_run;
  EXPECT_EQ(in_run, 1u) << "the temp file belongs beside the target and must be gone";
  // A dangling link is written through too: its target is created.
  fs::create_symlink("made.pt", dir.path() / "dangling.pt");
  torchless::io::write_file_atomic(dir / "dangling.pt", [](int fd) { torchless::io::write_all(fd, "x", 1, "x"); });
  EXPECT_TRUE(fs::is_symlink(dir.path() / "dangling.pt"));
  EXPECT_EQ(torchless::io::read_file(dir / "made.pt"), "x");
  // A loop is an error, not a hang.
  fs::create_symlink("loop_b", dir.path() / "loop_a");
  fs::create_symlink("loop_a", dir.path() / "loop_b");
  const std::string msg = expect_throw([&] { AtomicFileWriter w(dir / "loop_a"); });
  EXPECT_TRUE(contains(msg, "too many levels of symbolic links")) << msg;
}

TEST(CheckedFile, FifoIsRefusedWithoutBlocking) {
  // Opening a FIFO that has no writer blocks in open(2) unless told not to.
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "pipe").c_str(), 0600), 0);
  const std::string msg = expect_throw([&] { MappedFile::open(dir / "pipe"); });
  EXPECT_TRUE(starts_with(msg, dir / "pipe: not a regular file")) << msg;
}

TEST(CheckedFile, FdSinkBuffersSmallAndPassesLargeWrites) {
  TempDir dir;
  const std::string path = dir / "out";
  std::string expected;
  torchless::io::write_file_atomic(path, [&](int fd) {
    FdSink sink(fd, path, 16);
    for (int i = 0; i < 100; ++i) {
      const std::string piece(static_cast<std::size_t>(i % 40), static_cast<char>('a' + i % 26));
      sink.write(piece);
      expected += piece;
    }
    sink.flush();
  });
  EXPECT_EQ(torchless::io::read_file(path), expected);
}
