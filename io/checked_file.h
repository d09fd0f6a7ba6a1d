#pragma once
// Small POSIX file helpers for checkpoint I/O. Every failing system call
// throws std::runtime_error whose message names the path and strerror(errno),
// so a failed load or save always says which file and why.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace torchless::io {

// A whole file mapped copy-on-write (MAP_PRIVATE). Readers see its bytes
// through data(); tensors viewing them (zero-copy STORED records) may write
// to their pages, and those writes stay private to the process: the file
// never changes. Always held by std::shared_ptr so that such tensors keep the
// mapping alive after the reader that produced them is gone.
class MappedFile {
 public:
  // Opens and maps `path` (an empty file gives data() == nullptr, size() 0).
  // keep_fd: keep the file open too, for read_at() (a reader that copies
  // everything out and lets go of the file soon); otherwise the descriptor
  // is closed at once, so long-lived mappings hold no file descriptor.
  // Throws std::runtime_error if the file cannot be opened, stat'ed or mapped,
  // or is not a regular file.
  static std::shared_ptr<MappedFile> open(const std::string& path, bool keep_fd = false);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Whether read_at() can read with pread (opened with keep_fd).
  bool can_read_at() const { return fd_ >= 0; }
  // Copies [offset, offset + n) of the file into dst with pread: the same
  // bytes as data() + offset, without mapping every page of the source in
  // (on a tmpfs page cache 1.4x faster than copying from the mapping).
  // Safe to call from several threads. Throws std::runtime_error naming the
  // file on a read error or if the file is shorter than offset + n.
  void read_at(std::size_t offset, void* dst, std::size_t n) const;
  // Closes the descriptor kept by keep_fd (then can_read_at() is false), for
  // a reader done with pread whose mapping lives on. Not safe while another
  // thread is in read_at().
  void close_fd();

 private:
  // Lets open() use make_shared while keeping construction private (explicit
  // so that `{}` cannot sneak past the access check).
  struct Key {
    explicit Key() = default;
  };

 public:
  MappedFile(Key, std::string path, const std::uint8_t* data, std::size_t size, int fd = -1)
      : path_(std::move(path)), data_(data), size_(size), fd_(fd) {}

 private:
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
};

// The first n bytes of a regular file (fewer when it is shorter), and its
// size in *file_size when given: for sniffing a format. A FIFO never blocks.
// Throws std::runtime_error "PATH: cannot open: <reason>", "PATH: is a
// directory" or "PATH: not a regular file".
std::string read_head(const std::string& path, std::size_t n, std::uint64_t* file_size = nullptr);

// Reads the whole file into a string. Throws std::runtime_error on failure.
std::string read_file(const std::string& path);

// Writes exactly n bytes to fd, retrying short writes and EINTR; unbuffered.
// `what` names the destination in errors. Throws std::runtime_error.
void write_all(int fd, const void* data, std::size_t n, const std::string& what);

// Destination of a byte stream (a file, a string in tests, ...).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Appends n bytes. Throws std::runtime_error on failure.
  virtual void write(const void* data, std::size_t n) = 0;
  void write(std::string_view s) { write(s.data(), s.size()); }
};

// Collects everything in a std::string (tests, in-memory checkpoints).
class StringSink final : public ByteSink {
 public:
  void write(const void* data, std::size_t n) override;
  using ByteSink::write;
  std::string& str() { return out_; }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// Buffered writer over an fd. Small writes (zip headers) are gathered in a
// buffer; writes of at least the buffer size go straight from the caller's
// memory to write(2) so multi-GB tensor payloads are never copied.
// The destructor does NOT flush (it cannot report errors): call flush().
class FdSink final : public ByteSink {
 public:
  // `what` names the destination in error messages (usually the path).
  FdSink(int fd, std::string what, std::size_t buffer_size = 1 << 20);
  void write(const void* data, std::size_t n) override;
  using ByteSink::write;
  // Writes out buffered bytes. Throws std::runtime_error.
  void flush();

 private:
  int fd_;
  std::string what_;
  std::string buf_;
  std::size_t capacity_;
};

// Writes a file atomically. The bytes go to an unnamed file in the same
// directory (O_TMPFILE; on filesystems without it, `path.tmp.PID.XXXXXX`),
// and commit() fsyncs it, links it in as `path.tmp.PID.N`, renames that over
// `path` and fsyncs the directory. Until commit() succeeds `path` is
// untouched: a process killed at any moment leaves the old file or the new
// one, complete. If the writer is destroyed uncommitted (an exception, a
// full disk) nothing is left behind; a named temp file a killed writer left
// is removed by the next save to the same path (its pid is dead; files of a
// live writer are left alone). The new file gets the old file's permission
// bits, or 0666 & ~umask. A symlink at `path` is written through (its final
// target is replaced, the link stays), as torch.save does. The constructor
// throws if `path` is a directory or its directory is missing or not
// writable, naming `path`.
class AtomicFileWriter {
 public:
  // Creates the temp file. Throws std::runtime_error.
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // The named temp file, or "" while the data is in an unnamed O_TMPFILE.
  const std::string& temp_path() const { return temp_path_; }

  // fsync + close + rename + directory fsync. Throws std::runtime_error (the
  // temp file is then removed by the destructor). Call at most once.
  void commit();

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

// Convenience: AtomicFileWriter + writer(fd) + commit(). If `writer` throws,
// the temp file is removed, `path` is untouched and the exception propagates.
void write_file_atomic(const std::string& path, const std::function<void(int fd)>& writer);

}  // namespace torchless::io
