// A GGUF model file (versions 2 and 3), memory-mapped and validated at open.
//
// Opening checks the whole header, metadata and tensor table against the file size before
// anything is used: a truncated, corrupt or hostile file yields an Error that says what is
// wrong and where (byte offset, key or tensor name), never a crash or an allocation larger
// than the file justifies. Tensor data is not copied: TensorInfo::data points into the
// mapping, which lives as long as the File. A File is immutable after open and safe to
// read from any number of threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"
#include "model/tensor_type.h"

namespace shardserve::gguf {

enum class ValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
std::string_view value_type_name(ValueType type);

// One metadata value. Scalars are widened (integers to int64/uint64, floats to double);
// strings and string arrays view the mapping; numeric arrays view raw little-endian data.
struct Value {
  ValueType type = ValueType::U8;
  ValueType elem_type = ValueType::U8;    // arrays only
  uint64_t u = 0;                         // unsigned integers and bool
  int64_t i = 0;                          // signed integers
  double f = 0;                           // floats
  std::string_view str;                   // String
  uint64_t count = 0;                     // arrays: number of elements
  const uint8_t* array_data = nullptr;    // numeric arrays: first element
  std::vector<std::string_view> strings;  // string arrays
};

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> shape;  // GGUF order: shape[0] is the contiguous (row) dimension
  uint64_t offset = 0;         // from the start of the data section
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  int64_t n_elements() const;
  int64_t n_rows() const { return shape.empty() ? 0 : n_elements() / shape[0]; }
};

class File {
 public:
  // Maps and validates the file at `path`.
  static Result<std::unique_ptr<File>> open(const std::string& path);
  // Validates an in-memory image; `bytes` must outlive the File (used by the fuzzer).
  static Result<std::unique_ptr<File>> parse(std::span<const uint8_t> bytes);
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  uint32_t version() const { return version_; }
  const std::string& path() const { return path_; }
  size_t alignment() const { return alignment_; }
  const std::map<std::string, Value, std::less<>>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  // nullptr if absent.
  const Value* find(std::string_view key) const;
  const TensorInfo* tensor(std::string_view name) const;

  // Drops the pages of [data, data + n) from this process's resident memory (the bytes can
  // still be read; they fault in again). For data that was copied elsewhere. No-op for
  // in-memory images.
  void drop_pages(const uint8_t* data, size_t n) const;

  // Typed metadata getters. An absent key or a value of another kind is an Error naming
  // the key and the type found. Integers of any width convert if the value fits.
  Result<uint64_t> get_uint(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::string_view> get_string(std::string_view key) const;
  Result<std::span<const std::string_view>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_f32_array(std::string_view key) const;
  Result<std::vector<int32_t>> get_i32_array(std::string_view key) const;

 private:
  File() = default;
  Status parse_image();

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  MappedFile mapping_;  // empty for in-memory images
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::map<std::string, Value, std::less<>> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace shardserve::gguf
