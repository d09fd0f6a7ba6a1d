// Zips that two readers could read differently are damage: a scanner that
// walks local headers and a loader that reads the central directory (as
// torch does) must never see different files. Each variant is made by
// Python's zipfile or patched from a real torch.save file, and must be
// refused by the reader with a message naming the record, and by `verify`
// with exit code 1.
#include <gtest/gtest.h>

#include <string>

#include "io/zip_reader.h"
#include "support/test_util.h"

namespace {

using torchless::test::contains;
using torchless::test::quote;
using torchless::test::run_command;
using torchless::test::TempDir;

const char* kMake = R"PY(
import os, struct, sys, warnings, zipfile
d, torch_file = sys.argv[1], sys.argv[2]
def cd_entries(b):
    eocd = b.rfind(b'PK\x05\x06')
    count, size, off = struct.unpack('<HII', b[eocd + 10:eocd + 20])
    out, p = [], off
    for _ in range(count):
        n, x, c = struct.unpack('<HHH', b[p + 28:p + 34])
        out.append((p, 46 + n + x + c))
        p += 46 + n + x + c
    return eocd, off, out
def stored(name, records):
    with zipfile.ZipFile(os.path.join(d, name), 'w', zipfile.ZIP_STORED) as z:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            for n, data in records: z.writestr(n, data)
def patch(src, dst, at, data):
    b = bytearray(open(src, 'rb').read())
    b[at:at + len(data)] = data
    open(os.path.join(d, dst), 'wb').write(b)
base = [('m/data.pkl', b'\x80\x02K\x07.'), ('m/version', b'3\n')]
# Two central-directory entries with one name.
stored('duplicate.zip', base + [('m/data.pkl', b'\x80\x02K\x08.')])
stored('plain.zip', base)
plain = os.path.join(d, 'plain.zip')
# Local header of record 0 (at offset 0): name, method, sizes.
patch(plain, 'local_name.zip', 30, b'n')
patch(plain, 'local_method.zip', 8, struct.pack('<H', 8))
patch(plain, 'local_size.zip', 18, struct.pack('<II', 4, 4))
patch(plain, 'local_crc.zip', 14, struct.pack('<I', 0x12345678))
# A record the central directory does not list: drop entry 0 from it.
b = open(plain, 'rb').read()
eocd, cd, entries = cd_entries(b)
(p0, l0), rest = entries[0], entries[1:]
newcd = b''.join(b[p:p + l] for p, l in rest)
eo = bytearray(b[eocd:])
struct.pack_into('<HHII', eo, 8, len(rest), len(rest), len(newcd), cd)
open(os.path.join(d, 'hidden.zip'), 'wb').write(b[:cd] + newcd + bytes(eo))
# torch.save's data descriptor after data.pkl: a CRC that disagrees.
t = open(torch_file, 'rb').read()
eocd, cd, entries = cd_entries(t)
p = entries[0][0]
crc, csize = struct.unpack('<II', t[p + 16:p + 24])
n, x = struct.unpack('<HH', t[0 + 26:0 + 30])
desc = 30 + n + x + csize
assert t[desc:desc + 4] == b'PK\x07\x08', t[desc:desc + 4]
patch(torch_file, 'descriptor.pt', desc + 4, struct.pack('<I', crc ^ 1))
)PY";

class ZipAmbiguity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torchless::test::have_python()) GTEST_SKIP() << "python3 not found";
    torchless::test::write_file(dir_ / "make.py", kMake);
    auto r = run_command(quote(torchless::test::python_path()) + " " + quote(dir_ / "make.py") + " " +
                         quote(dir_.path()) + " " + quote(std::string(TORCHLESS_TEST_DATA) + "/torch-2.11/nested.pt") +
                         " 2>&1");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  // The reader's message for the file, and verify's exit code and output.
  void expect_refused(const std::string& file, const std::string& what) {
    const std::string path = dir_ / file;
    const std::string msg = torchless::test::message_of([&] { torchless::io::ZipReader::open(path).verify_all(); });
    EXPECT_TRUE(contains(msg, what)) << file << ": " << msg;
    auto r = run_command(quote(TORCHLESS_CLI) + " verify " + quote(path) + " 2>&1");
    EXPECT_EQ(r.rc, 1) << file << ": " << r.out;
    EXPECT_TRUE(contains(r.out, "FAILED: ") && contains(r.out, what)) << file << ": " << r.out;
  }
  TempDir dir_;
};

TEST_F(ZipAmbiguity, TheUnpatchedFilesAreFine) {
  EXPECT_NO_THROW(torchless::io::ZipReader::open(dir_ / "plain.zip").verify_all());
  EXPECT_NO_THROW(torchless::io::ZipReader::open(std::string(TORCHLESS_TEST_DATA) + "/torch-2.11/nested.pt").verify_all());
}

TEST_F(ZipAmbiguity, DuplicateNames) {
  expect_refused("duplicate.zip", "two central-directory entries are named 'm/data.pkl'");
}

TEST_F(ZipAmbiguity, LocalHeaderDisagreesWithTheCentralDirectory) {
  expect_refused("local_name.zip", "record 'm/data.pkl': local header names it 'n/data.pkl'");
  expect_refused("local_method.zip", "record 'm/data.pkl': local header says compression method 8");
  expect_refused("local_size.zip", "record 'm/data.pkl': local header says CRC");
  expect_refused("local_crc.zip", "local header says CRC 12345678");
}

TEST_F(ZipAmbiguity, HiddenRecordBetweenRecords) {
  expect_refused("hidden.zip", "a local header at offset 0 before record 'm/version' is not in the central directory");
}

TEST_F(ZipAmbiguity, DataDescriptorDisagrees) {
  expect_refused("descriptor.pt", "record 'nested/data.pkl': its data descriptor at offset");
}

}  // namespace
