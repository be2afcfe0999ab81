// A safetensors file (https://github.com/huggingface/safetensors), memory-mapped and validated
// at open.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON, then the data area. The
// JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into
// the data area) plus an optional "__metadata__" object, which is ignored.
//
// Opening checks every entry against the file before anything is used: the dtype is known,
// the shape's element count times the dtype's size equals end - begin, every range lies inside
// the data area, and the ranges tile the data area without overlaps or gaps (as the format
// requires). A truncated, corrupt or hostile file yields an Error that says what is wrong and
// where ("tensor 'X': data_offsets [a, b] end past the file's N data bytes"), never a crash or
// an allocation larger than the header justifies. Tensor data is not copied: TensorInfo::data
// points into the mapping, which lives as long as the File. The format promises no alignment:
// data is aligned as its offset makes it (callers that need aligned floats check and copy).
// A File is immutable after open and safe to read from any number of threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"
#include "model/tensor_type.h"

namespace shardserve::safetensors {

struct TensorInfo {
  std::string name;
  std::string dtype;          // as the file spells it: "F32", "BF16", "I64", ...
  std::optional<DType> type;  // F32, F16 or BF16; nullopt for dtypes the engine does not compute in
  size_t element_bytes = 0;   // bytes per element of `dtype`
  std::vector<int64_t> shape;  // PyTorch order: shape.back() is the contiguous dimension
  uint64_t offset = 0;         // data_offsets[0], from the start of the data area
  size_t n_bytes = 0;          // data_offsets[1] - data_offsets[0]
  const uint8_t* data = nullptr;
  int64_t n_elements() const;  // 1 for a scalar (empty shape)
};

class File {
 public:
  // Maps and validates the file at `path`; errors start with the path.
  static Result<std::unique_ptr<File>> open(const std::string& path);
  // Validates an in-memory image; `bytes` must outlive the File (used by tests and the fuzzer).
  static Result<std::unique_ptr<File>> parse(std::span<const uint8_t> bytes);
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  // Every tensor, in the order of their data (ascending offset).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // nullptr if absent.
  const TensorInfo* tensor(std::string_view name) const;

  // Drops the pages of [data, data + n) from this process's resident memory (the bytes can
  // still be read; they fault in again). For data that was copied elsewhere. No-op for
  // in-memory images.
  void drop_pages(const uint8_t* data, size_t n) const;

 private:
  File() = default;
  Status parse_image();

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  MappedFile mapping_;  // empty for in-memory images
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace shardserve::safetensors
