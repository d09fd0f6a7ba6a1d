// Small helpers shared by the GoogleTest suites under tests/ (header-only;
// tests/ is on every test's include path: #include "support/test_util.h").
//
// One version of what the suites used to repeat: a temporary directory,
// running a shell command and capturing its output and exit code, reading and
// writing whole files, probing the Python interpreter, and a few string and
// value helpers. Nothing here asserts: the tests keep their own expectations.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

#ifndef TORCHLESS_PYTHON
#define TORCHLESS_PYTHON "/usr/bin/python3"
#endif

namespace torchless::test {

// A fresh directory under the system temp directory (mkdtemp of
// `<temp>/<prefix>XXXXXX`), removed with everything below it when the object
// goes out of scope. Removal first gives the owner full permissions on every
// directory, so a test may make parts of it read-only. Throws
// std::runtime_error when the directory cannot be created.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "torchless_test_") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    for (auto& e : fs::recursive_directory_iterator(path_, ec))
      if (e.is_directory(ec)) fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string operator/(const std::string& name) const { return file(name); }

 private:
  std::filesystem::path path_;
};

// The address ranges of this process's mappings of `path` (from
// /proc/self/maps; the file must still exist).
inline std::vector<std::pair<uintptr_t, uintptr_t>> mappings_of(const std::string& path) {
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const std::string canon = std::filesystem::canonical(path).string();
  while (std::getline(maps, line)) {
    if (line.size() < canon.size() || line.compare(line.size() - canon.size(), canon.size(), canon) != 0) continue;
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2) out.emplace_back(lo, hi);
  }
  return out;
}

// KiB of this process's mappings of `path` that are in its page tables (the
// Rss lines of /proc/self/smaps): the pages it has touched or faulted in.
inline long resident_kib_of(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  const std::string canon = std::filesystem::canonical(path).string();
  bool in_file = false;
  long kib = 0;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(' ') < line.size() &&
        line.find(':') > line.find(' ')) {
      in_file = line.size() >= canon.size() && line.compare(line.size() - canon.size(), canon.size(), canon) == 0;
    } else if (in_file && line.rfind("Rss:", 0) == 0) {
      kib += std::atol(line.c_str() + 4);
    }
  }
  return kib;
}

// What a command did: its exit status (-1 when it could not be started or did
// not exit normally) and everything it wrote to stdout.
struct CommandResult {
  int rc = -1;
  std::string out;
};

// Runs `cmd` through /bin/sh (popen) and captures its stdout; stderr goes
// wherever `cmd` redirects it (append " 2>&1" to capture it too).
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// `s` single-quoted for /bin/sh (embedded quotes escaped).
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The whole file as bytes ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Replaces the file with `bytes`; returns false when writing failed.
inline bool write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return f.good();
}

// The Python interpreter the tests drive (TORCHLESS_PYTHON, /usr/bin/python3).
inline const std::string& python_path() {
  static const std::string p = TORCHLESS_PYTHON;
  return p;
}

// Whether the interpreter exists and is executable.
inline bool have_python() { return ::access(python_path().c_str(), X_OK) == 0; }

// Whether `python -c 'import <modules>'` succeeds ("torch, numpy" checks both).
inline bool python_can_import(const std::string& modules) {
  return have_python() &&
         run_command(quote(python_path()) + " -c " + quote("import " + modules) + " >/dev/null 2>&1").rc == 0;
}

// Whether the interpreter can import torch and numpy (asked once per process).
inline bool python_has_torch() {
  static const bool ok = python_can_import("torch, numpy");
  return ok;
}

// The message of the exception `f` throws, or "<no exception>".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

inline bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }
inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The lines of `s`, without their newlines.
inline std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

// A tensor's elements as bytes, in row-major order.
inline std::string tensor_bytes(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

// A tensor's values as doubles in row-major order, complex ones as (re, im)
// pairs; exact for every dtype.
inline std::vector<double> tensor_values(const Tensor& t0) {
  const Tensor t = t0.contiguous();
  if (t.dtype() == DType::Complex64) {
    const float* p = static_cast<const float*>(t.raw_data());
    return std::vector<double>(p, p + 2 * t.numel());
  }
  if (t.dtype() == DType::Complex128) {
    const double* p = static_cast<const double*>(t.raw_data());
    return std::vector<double>(p, p + 2 * t.numel());
  }
  return t.to_vector();
}

}  // namespace torchless::test
