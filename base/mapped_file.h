// A read-only memory mapping of a whole regular file (model weights), unmapped when the
// MappedFile is destroyed. Errors name the path and say what is wrong with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"

namespace shardserve {

class MappedFile {
 public:
  // Maps `path` with PROT_READ / MAP_SHARED. A missing, unreadable, non-regular or empty
  // file is an Error ("cannot open model file '...': No such file or directory").
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;  // maps nothing: bytes() is empty, drop_pages() does nothing
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // Drops the pages that lie wholly inside [data, data + n) from this process's resident
  // memory; the bytes can still be read (they fault in again). For data that was copied or
  // repacked elsewhere. Ranges outside the mapping are ignored.
  void drop_pages(const uint8_t* data, size_t n) const;

 private:
  MappedFile(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  void unmap();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace shardserve
