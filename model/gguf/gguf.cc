#include "model/gguf/gguf.h"

#include <cstring>
#include <limits>
#include <utility>

#include "model/gguf/reader.h"

namespace shardserve::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr size_t kMaxDims = 4;
constexpr size_t kMaxNameLength = 256;

bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::U16:
    case ValueType::I16:
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::U64:
    case ValueType::I64:
      return true;
    default:
      return false;
  }
}
bool is_signed(ValueType t) {
  return t == ValueType::I8 || t == ValueType::I16 || t == ValueType::I32 || t == ValueType::I64;
}

// Size in bytes of a fixed-size scalar type, 0 for strings/arrays/unknown.
size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::Bool:
      return 1;
    case ValueType::U16:
    case ValueType::I16:
      return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32:
      return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64:
      return 8;
    default:
      return 0;
  }
}

bool valid_type(uint32_t raw) {
  return raw <= static_cast<uint32_t>(ValueType::F64);
}

Status read_scalar(Reader& r, ValueType t, Value& v) {
  v.type = t;
  switch (t) {
    case ValueType::U8:
      return r.read_as<uint8_t>(v.u);
    case ValueType::I8:
      return r.read_as<int8_t>(v.i);
    case ValueType::U16:
      return r.read_as<uint16_t>(v.u);
    case ValueType::I16:
      return r.read_as<int16_t>(v.i);
    case ValueType::U32:
      return r.read_as<uint32_t>(v.u);
    case ValueType::I32:
      return r.read_as<int32_t>(v.i);
    case ValueType::U64:
      return r.read_as<uint64_t>(v.u);
    case ValueType::I64:
      return r.read_as<int64_t>(v.i);
    case ValueType::F32:
      return r.read_as<float>(v.f);
    case ValueType::F64:
      return r.read_as<double>(v.f);
    case ValueType::Bool: {
      uint8_t b = 0;
      if (Status s = r.read_as<uint8_t>(b); !s) return s;
      if (b > 1) return r.fail("bool value " + std::to_string(b) + " is neither 0 nor 1");
      v.u = b;
      return {};
    }
    case ValueType::String:
      return r.read_string(v.str);
    default:
      return r.fail("value type is not a scalar");
  }
}

Status read_value(Reader& r, Value& v) {
  uint32_t raw_type = 0;
  if (Status s = r.read(raw_type); !s) return s;
  if (!valid_type(raw_type)) return r.fail("unknown value type " + std::to_string(raw_type));
  auto type = static_cast<ValueType>(raw_type);
  if (type != ValueType::Array) return read_scalar(r, type, v);

  v.type = ValueType::Array;
  uint32_t raw_elem = 0;
  if (Status s = r.read(raw_elem); !s) return s;
  if (!valid_type(raw_elem))
    return r.fail("unknown array element type " + std::to_string(raw_elem));
  v.elem_type = static_cast<ValueType>(raw_elem);
  if (v.elem_type == ValueType::Array) return r.fail("nested arrays are not supported");
  if (Status s = r.read(v.count); !s) return s;

  if (v.elem_type == ValueType::String) {
    // Each string takes at least its 8-byte length: bound the count before reserving.
    if (v.count > r.remaining() / 8) return r.fail("string array count exceeds the file size");
    v.strings.reserve(v.count);
    for (uint64_t k = 0; k < v.count; ++k) {
      std::string_view str;
      if (Status s = r.read_string(str); !s) return s;
      v.strings.push_back(str);
    }
    return {};
  }
  size_t elem = scalar_size(v.elem_type);
  if (v.count > r.remaining() / elem) return r.fail("array data exceeds the file size");
  v.array_data = r.cursor();
  return r.skip(v.count * elem);
}

std::string describe(const Value& v) {
  if (v.type == ValueType::Array) return "array of " + std::string(value_type_name(v.elem_type));
  return std::string(value_type_name(v.type));
}

}  // namespace

std::string_view value_type_name(ValueType type) {
  static constexpr std::string_view names[] = {"u8",  "i8",  "u16",  "i16",    "u32",
                                               "i32", "f32", "bool", "string", "array",
                                               "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(type);
  return i < std::size(names) ? names[i] : "unknown";
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<std::unique_ptr<File>> File::open(const std::string& path) {
  auto mapping = MappedFile::open(path);
  if (!mapping) return mapping.error();
  std::unique_ptr<File> file(new File());
  file->path_ = path;
  file->base_ = mapping->bytes().data();
  file->size_ = mapping->bytes().size();
  file->mapping_ = std::move(*mapping);
  if (Status s = file->parse_image(); !s) return Error{path + ": " + s.message()};
  return file;
}

Result<std::unique_ptr<File>> File::parse(std::span<const uint8_t> bytes) {
  std::unique_ptr<File> file(new File());
  file->path_ = "<memory>";
  file->base_ = bytes.data();
  file->size_ = bytes.size();
  if (Status s = file->parse_image(); !s) return s.error();
  return file;
}

Status File::parse_image() {
  Reader r(base_, size_);
  uint32_t magic = 0;
  if (Status s = r.read(magic); !s) return s;
  if (magic != kMagic) return Error{"not a GGUF file (bad magic at offset 0)"};
  if (Status s = r.read(version_); !s) return s;
  if (version_ != 2 && version_ != 3)
    return Error{"unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)"};
  uint64_t n_tensors = 0, n_kv = 0;
  if (Status s = r.read(n_tensors); !s) return s;
  if (Status s = r.read(n_kv); !s) return s;
  // Every entry takes at least 8 bytes in the file; larger counts are lies.
  if (n_kv > r.remaining() / 8 || n_tensors > r.remaining() / 8)
    return Error{"header claims " + std::to_string(n_kv) + " metadata entries and " +
                 std::to_string(n_tensors) + " tensors, more than the file can hold"};

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string_view key;
    if (Status s = r.read_string(key); !s) return s;
    Value value;
    if (Status s = read_value(r, value); !s)
      return Error{"metadata key '" + std::string(key) + "': " + s.message()};
    if (!metadata_.emplace(std::string(key), std::move(value)).second)
      return Error{"duplicate metadata key '" + std::string(key) + "'"};
  }

  if (const Value* a = find("general.alignment")) {
    if (!is_integer(a->type) || a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 20))
      return Error{"general.alignment must be a power of two up to 1 MiB"};
    alignment_ = a->u;
  }

  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    std::string_view name;
    if (Status s = r.read_string(name); !s) return s;
    if (name.size() > kMaxNameLength)
      return Error{"tensor " + std::to_string(k) + " has a name longer than 256 bytes"};
    std::string where = "tensor '" + std::string(name) + "'";
    uint32_t n_dims = 0;
    if (Status s = r.read(n_dims); !s) return Error{where + ": " + s.message()};
    if (n_dims == 0 || n_dims > kMaxDims)
      return Error{where + " has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)"};
    TensorInfo t;
    t.name = std::string(name);
    int64_t n = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      if (Status s = r.read(dim); !s) return Error{where + ": " + s.message()};
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / n)
        return Error{where + " has an invalid dimension " + std::to_string(dim)};
      n *= static_cast<int64_t>(dim);
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    uint32_t raw_type = 0;
    if (Status s = r.read(raw_type); !s) return Error{where + ": " + s.message()};
    auto dinfo = dtype_info(raw_type);
    if (!dinfo) return Error{where + " has unsupported tensor type " + std::to_string(raw_type)};
    t.type = dinfo->type;
    if (t.shape[0] % dinfo->block_size != 0)
      return Error{where + ": row length " + std::to_string(t.shape[0]) +
                   " is not a multiple of the " + std::string(dinfo->name) + " block size " +
                   std::to_string(dinfo->block_size)};
    if (Status s = r.read(t.offset); !s) return Error{where + ": " + s.message()};
    if (t.offset % alignment_ != 0)
      return Error{where + ": data offset " + std::to_string(t.offset) + " is not aligned to " +
                   std::to_string(alignment_)};
    uint64_t blocks = static_cast<uint64_t>(n / dinfo->block_size);
    if (blocks > size_ / dinfo->block_bytes)
      return Error{where + " is larger than the file (" + std::to_string(n) + " elements)"};
    t.n_bytes = blocks * dinfo->block_bytes;
    if (!tensor_index_.emplace(t.name, tensors_.size()).second)
      return Error{"duplicate tensor name '" + t.name + "'"};
    tensors_.push_back(std::move(t));
  }

  size_t data_start = (r.offset() + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > size_ && !tensors_.empty())
    return Error{"file ends before its tensor data section (truncated?)"};
  size_t data_size = data_start <= size_ ? size_ - data_start : 0;
  for (TensorInfo& t : tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset)
      return Error{"tensor '" + t.name + "' data [" + std::to_string(t.offset) + ", +" +
                   std::to_string(t.n_bytes) + ") lies past the end of the file (data section is " +
                   std::to_string(data_size) + " bytes; truncated download?)"};
    t.data = base_ + data_start + t.offset;
  }
  return {};
}

void File::drop_pages(const uint8_t* data, size_t n) const {
  mapping_.drop_pages(data, n);
}

const Value* File::find(std::string_view key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const TensorInfo* File::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
Error missing(std::string_view key) {
  return Error{"metadata key '" + std::string(key) + "' is missing"};
}
Error wrong(std::string_view key, const Value& v, std::string_view expected) {
  return Error{"metadata key '" + std::string(key) + "' has type " + describe(v) + ", expected " +
               std::string(expected)};
}
}  // namespace

Result<uint64_t> File::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (!is_integer(v->type)) return wrong(key, *v, "an integer");
  if (is_signed(v->type)) {
    if (v->i < 0) return Error{"metadata key '" + std::string(key) + "' is negative"};
    return static_cast<uint64_t>(v->i);
  }
  return v->u;
}

Result<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (!is_integer(v->type)) return wrong(key, *v, "an integer");
  if (is_signed(v->type)) return v->i;
  if (v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return Error{"metadata key '" + std::string(key) + "' is too large"};
  return static_cast<int64_t>(v->u);
}

Result<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::F32 && v->type != ValueType::F64) return wrong(key, *v, "a float");
  return v->f;
}

Result<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::Bool) return wrong(key, *v, "bool");
  return v->u != 0;
}

Result<std::string_view> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::String) return wrong(key, *v, "string");
  return v->str;
}

Result<std::span<const std::string_view>> File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::Array || v->elem_type != ValueType::String)
    return wrong(key, *v, "array of string");
  return std::span<const std::string_view>(v->strings);
}

Result<std::vector<float>> File::get_f32_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::Array || v->elem_type != ValueType::F32)
    return wrong(key, *v, "array of f32");
  std::vector<float> out(v->count);
  if (v->count) std::memcpy(out.data(), v->array_data, v->count * sizeof(float));
  return out;
}

Result<std::vector<int32_t>> File::get_i32_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return missing(key);
  if (v->type != ValueType::Array || !is_integer(v->elem_type) || scalar_size(v->elem_type) > 4)
    return wrong(key, *v, "array of i32");
  std::vector<int32_t> out(v->count);
  Reader r(v->array_data, v->count * scalar_size(v->elem_type));
  for (uint64_t k = 0; k < v->count; ++k) {
    Value e;
    (void)read_scalar(r, v->elem_type, e);  // bounds were checked at open
    out[k] = static_cast<int32_t>(is_signed(v->elem_type) ? e.i : static_cast<int64_t>(e.u));
  }
  return out;
}

}  // namespace shardserve::gguf
