#include "coordinator/knowledge/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/hash.h"

namespace shardserve::knowledge {
namespace {

Error io_error(std::string_view what, const std::string& path) {
  return Error{std::string(what) + " " + path + ": " + std::strerror(errno)};
}

Status fsync_path(const std::string& path, int flags, std::string_view kind) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open " + std::string(kind), path);
  const int rc = ::fsync(fd);
  Error e = rc != 0 ? io_error("cannot fsync " + std::string(kind), path) : Error{};
  ::close(fd);
  if (rc != 0) return e;
  return Status::Ok();
}

}  // namespace

Status fsync_dir(const std::string& dir) {
  return fsync_path(dir, O_RDONLY | O_DIRECTORY, "directory");
}

Status fsync_file(const std::string& path) {
  return fsync_path(path, O_RDONLY, "file");
}

Status write_file_durably(const std::string& dir, const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create", tmp);
  auto fail = [&](std::string_view what) -> Error {
    Error e = io_error(what, tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = io_error("cannot rename " + tmp + " to", path);
    ::unlink(tmp.c_str());
    return e;
  }
  return fsync_dir(dir);
}

Result<FileDigest> digest_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path);
  FileDigest d;
  uint64_t h = 0x9E3779B97F4A7C15ull;
  std::vector<char> buf(1 << 20);
  size_t held = 0;  // bytes at the front of buf not yet hashed (fewer than 8)
  for (;;) {
    const ssize_t n = ::read(fd, buf.data() + held, buf.size() - held);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = io_error("cannot read", path);
      ::close(fd);
      return e;
    }
    d.bytes += static_cast<uint64_t>(n);
    const size_t have = held + static_cast<size_t>(n);
    const size_t whole = n == 0 ? have : have / 8 * 8;  // at the end, hash the tail padded
    for (size_t i = 0; i < whole; i += 8) {
      uint64_t w = 0;
      std::memcpy(&w, buf.data() + i, std::min<size_t>(8, whole - i));
      h = mix64(h ^ w);
    }
    if (n == 0) break;
    held = have - whole;
    std::memmove(buf.data(), buf.data() + whole, held);
  }
  ::close(fd);
  d.checksum = mix64(h ^ d.bytes);
  return d;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace shardserve::knowledge
