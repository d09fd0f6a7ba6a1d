#include "io/checked_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <future>
#include <system_error>
#include <thread>
#include <chrono>
#include <utility>
#include <vector>

namespace torchless::io {
namespace {

[[noreturn]] void throw_errno(const std::string& what, const char* op, int err) {
  throw std::runtime_error(what + ": " + op + " failed: " + std::strerror(err));
}

[[noreturn]] void throw_errno(const std::string& what, const char* op) {
  throw_errno(what, op, errno);
}

// Owns an fd for the duration of a function so early throws do not leak it.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  // Gives up ownership: the caller closes the fd.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// O_NONBLOCK: opening a FIFO with no writer would otherwise block forever
// before stat_regular() could refuse it. It changes nothing for regular files
// (their reads never block) and is cleared anyway.
int open_for_read(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno(path, "open");
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

struct stat stat_regular(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno(path, "fstat");
  if (S_ISDIR(st.st_mode)) throw std::runtime_error(path + ": is a directory");
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + ": not a regular file");
  return st;
}

// Where a save to `path` must land: the file a symlink (chain) points to,
// as torch.save's open(path, "wb") writes through links. Renaming over the
// link itself would replace it with a regular file and leave its target
// stale (e.g. latest.pt -> runs/7/ckpt.pt).
std::string resolve_symlinks(std::string path) {
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 4096), '\0');
    const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) throw_errno(path, "readlink");
    target.resize(static_cast<size_t>(n));
    if (target.empty() || target[0] != '/') {
      const auto slash = path.find_last_of('/');
      if (slash != std::string::npos) target = path.substr(0, slash + 1) + target;
    }
    path = std::move(target);
  }
  throw std::runtime_error(path + ": too many levels of symbolic links");
}

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The permission bits a plain open(O_CREAT, 0666) would have produced. The
// umask is read from /proc because umask(2) can only be read by changing it,
// which races with other threads creating files.
mode_t default_file_mode() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Umask:", 0) == 0) {
      return 0666 & ~static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
    }
  }
  return 0644;
}

mode_t mode_for_new_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return st.st_mode & 07777;
  return default_file_mode();
}

void fsync_directory(const std::string& dir) {
  int fd;
  do {
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno(dir, "open (directory)");
  FdGuard guard(fd);
  // Some file systems cannot sync a directory at all; the rename itself has
  // happened, so that is not worth failing the save over.
  if (::fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) throw_errno(dir, "fsync (directory)");
}

}  // namespace

// ---- MappedFile ----

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, bool keep_fd) {
  FdGuard fd(open_for_read(path));
  struct stat st = stat_regular(fd.get(), path);
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) return std::make_shared<MappedFile>(Key{}, path, nullptr, 0);
  // Writable copy-on-write, as torch.load(mmap=True) maps: a zero-copy
  // tensor may be updated in place (an optimizer step after loading), and the
  // change stays private to this process; the file never changes. (PROT_READ
  // alone made such a write a segfault.) MAP_NORESERVE: untouched pages cost
  // no commit charge, so a checkpoint larger than RAM still maps.
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd.get(), 0);
  if (p == MAP_FAILED) throw_errno(path, "mmap");
  // Without keep_fd the mapping outlives the fd: closing it now keeps fd usage bounded.
  return std::make_shared<MappedFile>(Key{}, path, static_cast<const std::uint8_t*>(p), size,
                                      keep_fd ? fd.release() : -1);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

void MappedFile::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void MappedFile::read_at(std::size_t offset, void* dst, std::size_t n) const {
  if (fd_ < 0) throw std::logic_error(path_ + ": read_at on a file opened without keep_fd");
  char* out = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_errno(path_, "read");
    if (got == 0) throw std::runtime_error(path_ + ": file ended early while reading (truncated while open?)");
    out += got;
    offset += static_cast<std::size_t>(got);
    n -= static_cast<std::size_t>(got);
  }
}

// ---- whole-file read / write ----

std::string read_head(const std::string& path, std::size_t n, std::uint64_t* file_size) {
  int raw;
  do {
    raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  } while (raw < 0 && errno == EINTR);
  if (raw < 0) {
    const int err = errno;
    throw std::runtime_error(path + ": cannot open: " + std::strerror(err));
  }
  FdGuard fd(raw);
  const struct stat st = stat_regular(raw, path);
  if (file_size) *file_size = static_cast<std::uint64_t>(st.st_size);
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(raw, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw_errno(path, "read");
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

std::string read_file(const std::string& path) {
  FdGuard fd(open_for_read(path));
  struct stat st = stat_regular(fd.get(), path);
  std::string out;
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  for (;;) {
    if (got == out.size()) out.resize(out.size() + 65536);  // the file may have grown
    ssize_t r = ::read(fd.get(), out.data() + got, out.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno(path, "read");
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

namespace {

// TORCHLESS_TEST_SLOW_WRITES_US: a test hook that sleeps this many
// microseconds before every write, so that a test can kill a save in the
// middle (tests/cli/crash_safety_test.cpp). Read once; unset costs nothing.
void test_pause_before_write() {
  static const long us = [] {
    const char* v = std::getenv("TORCHLESS_TEST_SLOW_WRITES_US");
    return v ? std::strtol(v, nullptr, 10) : 0L;
  }();
  if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
}

}  // namespace

void write_all(int fd, const void* data, std::size_t n, const std::string& what) {
  test_pause_before_write();
  const auto* p = static_cast<const char*>(data);
  // Linux write(2) moves at most ~2 GiB per call; ask for 1 GiB at a time.
  constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
  while (n > 0) {
    ssize_t w = ::write(fd, p, n < kMaxChunk ? n : kMaxChunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno(what, "write");
    }
    if (w == 0) throw std::runtime_error(what + ": write failed: wrote 0 bytes");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

namespace {

// pwrite of [data, data+n) at `offset`, retrying short writes and EINTR.
void pwrite_all(int fd, const char* p, std::size_t n, off_t offset, const std::string& what) {
  test_pause_before_write();
  constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n < kMaxChunk ? n : kMaxChunk, offset);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno(what, "pwrite");
    }
    if (w == 0) throw std::runtime_error(what + ": pwrite failed: wrote 0 bytes");
    p += w;
    offset += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Copying into the page cache costs a core per ~2-3 GB/s (new pages are
// allocated and zeroed): a big payload is written as parallel pwrites of its
// pieces at their offsets. Falls back to write_all on unseekable fds.
void write_big(int fd, const void* data, std::size_t n, const std::string& what) {
  constexpr std::size_t kMinPiece = std::size_t{32} << 20;
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t pieces = std::min<std::size_t>(hw, n / kMinPiece);
  const off_t start = pieces > 1 ? ::lseek(fd, 0, SEEK_CUR) : -1;
  if (start < 0) {
    write_all(fd, data, n, what);
    return;
  }
  const auto* p = static_cast<const char*>(data);
  const std::size_t piece = n / pieces;
  std::vector<std::future<void>> parts;
  try {
    for (std::size_t i = 1; i < pieces; ++i) {
      const std::size_t len = i + 1 == pieces ? n - i * piece : piece;
      parts.push_back(std::async(std::launch::async, pwrite_all, fd, p + i * piece, len,
                                 static_cast<off_t>(start + static_cast<off_t>(i * piece)), std::cref(what)));
    }
  } catch (const std::system_error&) {
    parts.clear();  // waits for the started ones
    write_all(fd, data, n, what);
    return;
  }
  pwrite_all(fd, p, piece, start, what);
  for (auto& f : parts) f.get();  // rethrows a failed piece
  if (::lseek(fd, start + static_cast<off_t>(n), SEEK_SET) < 0) throw_errno(what, "lseek");
}

}  // namespace

// ---- sinks ----

void StringSink::write(const void* data, std::size_t n) {
  out_.append(static_cast<const char*>(data), n);
}

FdSink::FdSink(int fd, std::string what, std::size_t buffer_size)
    : fd_(fd), what_(std::move(what)), capacity_(buffer_size == 0 ? 1 : buffer_size) {
  buf_.reserve(capacity_);
}

void FdSink::write(const void* data, std::size_t n) {
  if (buf_.size() + n <= capacity_) {
    buf_.append(static_cast<const char*>(data), n);
    return;
  }
  flush();
  if (n >= capacity_) {
    write_big(fd_, data, n, what_);  // big payload: no copy through the buffer
  } else {
    buf_.append(static_cast<const char*>(data), n);
  }
}

void FdSink::flush() {
  if (buf_.empty()) return;
  write_all(fd_, buf_.data(), buf_.size(), what_);
  buf_.clear();
}

// ---- AtomicFileWriter ----

namespace {

// Temp names carry the writer's pid ("best_model.pt.tmp.1234.Ab3xYz"), so a
// later save can tell the leftovers of a killed writer from the file of a
// live one writing the same destination.
std::string temp_prefix(const std::string& path) { return path + ".tmp."; }

// Removes `path`'s temp files whose writer is no longer alive. A file whose
// pid is alive (another writer, or a reused pid) is left alone.
void remove_stale_temps(const std::string& path) {
  const std::string dir = directory_of(path);
  const auto slash = path.find_last_of('/');
  const std::string base = temp_prefix(slash == std::string::npos ? path : path.substr(slash + 1));
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, base.size(), base) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + base.size(), &end, 10);
    if (pid <= 0 || !end || *end != '.') continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw std::runtime_error("(empty path): cannot write a file with an empty name");
  path_ = resolve_symlinks(path_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw std::runtime_error(path_ + ": is a directory, cannot save a file there");
  remove_stale_temps(path_);
  // An unnamed file (O_TMPFILE) gets a name only when commit() links it in:
  // a writer killed before then leaves nothing behind. Filesystems without
  // O_TMPFILE get a named temp file, which a later save removes.
  const std::string dir = directory_of(path_);
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT) {
    const int err = errno;
    throw std::runtime_error(path_ + ": cannot create the temporary file for the save in " + dir + ": " +
                             std::strerror(err));
  }
  if (fd < 0) {
    std::string tmpl = temp_prefix(path_) + std::to_string(::getpid()) + ".XXXXXX";
    fd = ::mkstemp(tmpl.data());
    if (fd < 0) {
      const int err = errno;
      throw std::runtime_error(path_ + ": cannot create the temporary file for the save in " + dir + ": " +
                               std::strerror(err));
    }
    temp_path_ = std::move(tmpl);
  }
  fd_ = fd;
  // Both are created 0600; give the result the permissions a normal save would.
  if (::fchmod(fd_, mode_for_new_file(path_)) != 0) {
    int err = errno;
    ::close(fd_);
    if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
    fd_ = -1;
    throw_errno(path_, "fchmod", err);
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFileWriter::commit() {
  if (committed_ || fd_ < 0) throw std::runtime_error(path_ + ": AtomicFileWriter::commit called twice");
  if (::fsync(fd_) != 0) throw_errno(path_, "fsync");
  if (temp_path_.empty()) {
    // Give the unnamed file a unique temp name (link(2) never replaces),
    // then rename that over the destination as below.
    const std::string proc = "/proc/self/fd/" + std::to_string(fd_);
    for (unsigned attempt = 0; temp_path_.empty(); ++attempt) {
      std::string name = temp_prefix(path_) + std::to_string(::getpid()) + "." + std::to_string(attempt) +
                         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
      if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        temp_path_ = std::move(name);
      } else if (errno != EEXIST || attempt > 100) {
        throw_errno(path_, "linking the saved temporary file into its directory");
      }
    }
  }
  int fd = fd_;
  fd_ = -1;
  // close() can report a deferred write error (NFS, quota); never retry it.
  if (::close(fd) != 0) throw_errno(path_, "close");
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) throw_errno(path_, "rename");
  committed_ = true;
  fsync_directory(directory_of(path_));
}

void write_file_atomic(const std::string& path, const std::function<void(int fd)>& writer) {
  AtomicFileWriter file(path);
  writer(file.fd());
  file.commit();
}

}  // namespace torchless::io
