// A bounds-checked little-endian cursor over a byte range, for parsing untrusted files.
// Every read checks the remaining size first and fails with the offset it stopped at.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/status.h"

namespace shardserve::gguf {

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const uint8_t* cursor() const { return data_ + pos_; }

  Error fail(const std::string& what) const {
    return Error{what + " (at byte offset " + std::to_string(pos_) + ")"};
  }

  template <typename T>
  Status read(T& out) {
    if (remaining() < sizeof(T)) return fail("file is truncated");
    std::memcpy(&out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return {};
  }

  // Reads a T and widens it into `out` (an integer or floating member of a Value).
  template <typename T, typename Out>
  Status read_as(Out& out) {
    T v{};
    if (Status s = read(v); !s) return s;
    out = static_cast<Out>(v);
    return {};
  }

  // A GGUF string: u64 length, then that many bytes (not NUL-terminated).
  Status read_string(std::string_view& out) {
    uint64_t n = 0;
    if (Status s = read(n); !s) return s;
    if (n > remaining())
      return fail("string length " + std::to_string(n) + " runs past the end of the file");
    out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return {};
  }

  Status skip(size_t n) {
    if (n > remaining()) return fail("file is truncated");
    pos_ += n;
    return {};
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace shardserve::gguf
