#include "model/safetensors/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace shardserve::safetensors {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the limit of the reference implementation
constexpr size_t kMaxDims = 16;

struct DtypeEntry {
  std::string_view name;
  size_t bytes;
  std::optional<DType> type;
};

// Every fixed-size dtype the format defines; only the float types map to engine types.
constexpr DtypeEntry kDtypes[] = {
    {"F32", 4, DType::F32},    {"F16", 2, DType::F16},       {"BF16", 2, DType::BF16},
    {"F64", 8, std::nullopt},  {"I64", 8, std::nullopt},     {"U64", 8, std::nullopt},
    {"I32", 4, std::nullopt},  {"U32", 4, std::nullopt},     {"I16", 2, std::nullopt},
    {"U16", 2, std::nullopt},  {"I8", 1, std::nullopt},      {"U8", 1, std::nullopt},
    {"BOOL", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt}, {"F8_E4M3", 1, std::nullopt},
    {"C64", 8, std::nullopt},
};

const DtypeEntry* find_dtype(std::string_view name) {
  for (const DtypeEntry& e : kDtypes)
    if (e.name == name) return &e;
  return nullptr;
}

std::string tensor_name(std::string_view name) {
  return "tensor '" + std::string(name) + "'";
}

std::string range_str(uint64_t begin, uint64_t end) {
  std::string s = "[";
  s += std::to_string(begin);
  s += ", ";
  s += std::to_string(end);
  s += ']';
  return s;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Thrown from the parser callback to stop parsing early; caught in parse_header().
struct HeaderError {
  std::string message;
};

// Parses the header JSON, refusing (before building them) nesting deeper than a safetensors
// header has and duplicate keys, which nlohmann::json would silently merge.
Result<json> parse_header(std::string_view text) {
  std::set<std::string> names, fields;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth > 2)
      throw HeaderError{"header JSON nests deeper than a safetensors header (at depth " +
                        std::to_string(depth + 1) + ")"};
    if (event == json::parse_event_t::object_start && depth == 1) fields.clear();
    if (event == json::parse_event_t::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (depth == 1 && !names.insert(key).second)
        throw HeaderError{"header names " + tensor_name(key) + " twice"};
      if (depth == 2 && !fields.insert(key).second)
        throw HeaderError{"header entry has the key '" + key + "' twice"};
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const HeaderError& e) {
    return Error{e.message};
  } catch (const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> "parse error ..."
    if (auto close = what.find("] "); what.starts_with("[json.") && close != std::string::npos)
      what = what.substr(close + 2);
    return Error{"header is not valid JSON: " + what};
  }
}

// A non-negative integer JSON value (an unsigned number; 3.0 or -1 are refused).
bool as_uint(const json& v, uint64_t& out) {
  if (!v.is_number_unsigned()) return false;
  out = v.get<uint64_t>();
  return true;
}

// Reads one tensor entry: types and sizes, not yet its place among the others.
Result<TensorInfo> read_entry(const std::string& name, const json& entry, uint64_t data_size) {
  const std::string where = tensor_name(name);
  if (!entry.is_object())
    return Error{where + ": entry is a JSON " + entry.type_name() + ", expected an object"};
  for (const auto& [key, value] : entry.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      return Error{where + ": unknown key '" + key + "' (expected dtype, shape, data_offsets)"};
  TensorInfo t;
  t.name = name;

  auto dtype = entry.find("dtype");
  if (dtype == entry.end()) return Error{where + ": 'dtype' is missing"};
  if (!dtype->is_string()) return Error{where + ": 'dtype' is not a string"};
  t.dtype = dtype->get<std::string>();
  const DtypeEntry* d = find_dtype(t.dtype);
  if (!d) return Error{where + ": unknown dtype '" + t.dtype + "'"};
  t.type = d->type;
  t.element_bytes = d->bytes;

  auto shape = entry.find("shape");
  if (shape == entry.end()) return Error{where + ": 'shape' is missing"};
  if (!shape->is_array()) return Error{where + ": 'shape' is not an array"};
  if (shape->size() > kMaxDims)
    return Error{where + ": shape has " + std::to_string(shape->size()) + " dimensions (at most " +
                 std::to_string(kMaxDims) + " allowed)"};
  int64_t n_elements = 1;
  for (const json& dim : *shape) {
    uint64_t v = 0;
    if (!as_uint(dim, v) || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return Error{where + ": shape " + shape->dump() + " has an entry that is not a size"};
    t.shape.push_back(static_cast<int64_t>(v));
    if (__builtin_mul_overflow(n_elements, static_cast<int64_t>(v), &n_elements))
      return Error{where + ": shape " + shape->dump() + " has more elements than fit in 64 bits"};
  }

  auto offsets = entry.find("data_offsets");
  if (offsets == entry.end()) return Error{where + ": 'data_offsets' is missing"};
  uint64_t begin = 0, end = 0;
  if (!offsets->is_array() || offsets->size() != 2 || !as_uint((*offsets)[0], begin) ||
      !as_uint((*offsets)[1], end))
    return Error{where + ": data_offsets " + offsets->dump() +
                 " is not a pair of non-negative integers"};
  if (begin > end)
    return Error{where + ": data_offsets " + range_str(begin, end) + " begin after they end"};
  if (end > data_size)
    return Error{where + ": data_offsets " + range_str(begin, end) + " end past the file's " +
                 std::to_string(data_size) + " data bytes (truncated download?)"};
  uint64_t need = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(n_elements), d->bytes, &need) ||
      need != end - begin)
    return Error{where + ": data_offsets " + range_str(begin, end) + " hold " +
                 std::to_string(end - begin) + " bytes, but shape " + shape_str(t.shape) + " of " +
                 t.dtype + " needs " + std::to_string(n_elements) + " x " +
                 std::to_string(d->bytes)};
  t.offset = begin;
  t.n_bytes = static_cast<size_t>(end - begin);
  return t;
}

}  // namespace

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
  if (size_ < 8)
    return Error{"file is " + std::to_string(size_) +
                 " bytes, too short for the 8-byte header length (not a safetensors file?)"};
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, base_, 8);  // little-endian, as every supported host
  if (header_bytes > kMaxHeaderBytes)
    return Error{"header length " + std::to_string(header_bytes) + " (bytes 0-7) exceeds the " +
                 std::to_string(kMaxHeaderBytes) + "-byte limit (not a safetensors file?)"};
  if (header_bytes > size_ - 8)
    return Error{"header length " + std::to_string(header_bytes) + " (bytes 0-7) runs past the " +
                 std::to_string(size_) + "-byte file (truncated download?)"};
  const std::string_view text(reinterpret_cast<const char*>(base_ + 8), header_bytes);
  if (text.empty() || text.front() != '{')
    return Error{"header (byte 8) does not start with '{' (not a safetensors file?)"};
  auto header = parse_header(text);
  if (!header) return header.error();
  if (!header->is_object()) return Error{"header is not a JSON object"};

  const uint8_t* data = base_ + 8 + header_bytes;
  const uint64_t data_size = size_ - 8 - header_bytes;
  for (const auto& [name, entry] : header->items()) {
    if (name == "__metadata__") continue;
    auto t = read_entry(name, entry, data_size);
    if (!t) return t.error();
    t->data = data + t->offset;
    tensors_.push_back(std::move(*t));
  }

  // The ranges must tile the data area: sorted by offset, each begins where the last ended.
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.n_bytes < b.n_bytes;
  });
  uint64_t expected = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : tensors_) {
    const uint64_t end = t.offset + t.n_bytes;
    if (t.offset < expected)
      return Error{tensor_name(t.name) + ": data_offsets " + range_str(t.offset, end) +
                   " overlap " + tensor_name(previous->name) + "'s " +
                   range_str(previous->offset, previous->offset + previous->n_bytes)};
    if (t.offset > expected)
      return Error{"data bytes [" + std::to_string(expected) + ", " + std::to_string(t.offset) +
                   ") belong to no tensor (before " + tensor_name(t.name) + ")"};
    expected = end;
    previous = &t;
  }
  if (expected != data_size)
    return Error{"the file has " + std::to_string(data_size) +
                 " data bytes but its tensors end at " + std::to_string(expected) +
                 " (trailing bytes belong to no tensor)"};
  for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  return {};
}

const TensorInfo* File::tensor(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void File::drop_pages(const uint8_t* data, size_t n) const {
  mapping_.drop_pages(data, n);
}

}  // namespace shardserve::safetensors
