// Builds GGUF images in memory, for tests and fuzz seeds. Not for production writing:
// it trusts its caller and can produce deliberately broken files (see raw()).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "model/gguf/gguf.h"

namespace shardserve::gguf::testing {

class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3, size_t alignment = 32)
      : version_(version), alignment_(alignment) {}

  GgufBuilder& kv_u32(std::string_view key, uint32_t v) {
    return kv_scalar(key, ValueType::U32, v);
  }
  GgufBuilder& kv_i32(std::string_view key, int32_t v) { return kv_scalar(key, ValueType::I32, v); }
  GgufBuilder& kv_f32(std::string_view key, float v) { return kv_scalar(key, ValueType::F32, v); }
  GgufBuilder& kv_bool(std::string_view key, bool v) {
    return kv_scalar(key, ValueType::Bool, static_cast<uint8_t>(v));
  }
  GgufBuilder& kv_string(std::string_view key, std::string_view v) {
    put_string(kv_, key);
    put(kv_, static_cast<uint32_t>(ValueType::String));
    put_string(kv_, v);
    ++n_kv_;
    return *this;
  }
  GgufBuilder& kv_strings(std::string_view key, const std::vector<std::string>& v) {
    put_string(kv_, key);
    put(kv_, static_cast<uint32_t>(ValueType::Array));
    put(kv_, static_cast<uint32_t>(ValueType::String));
    put(kv_, static_cast<uint64_t>(v.size()));
    for (const auto& s : v) put_string(kv_, s);
    ++n_kv_;
    return *this;
  }
  template <typename T>
  GgufBuilder& kv_array(std::string_view key, ValueType elem, const std::vector<T>& v) {
    put_string(kv_, key);
    put(kv_, static_cast<uint32_t>(ValueType::Array));
    put(kv_, static_cast<uint32_t>(elem));
    put(kv_, static_cast<uint64_t>(v.size()));
    for (const T& x : v) put(kv_, x);
    ++n_kv_;
    return *this;
  }

  // Adds a tensor with the given GGUF shape and raw data (row_bytes-sized rows).
  GgufBuilder& tensor(std::string_view name, DType type, std::vector<int64_t> shape,
                      const std::vector<uint8_t>& data) {
    put_string(info_, name);
    put(info_, static_cast<uint32_t>(shape.size()));
    for (int64_t d : shape) put(info_, static_cast<uint64_t>(d));
    put(info_, static_cast<uint32_t>(type));
    while (data_.size() % alignment_) data_.push_back(0);
    put(info_, static_cast<uint64_t>(data_.size()));
    data_.insert(data_.end(), data.begin(), data.end());
    ++n_tensors_;
    return *this;
  }

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> out;
    put(out, uint32_t{0x46554747});
    put(out, version_);
    put(out, n_tensors_);
    put(out, n_kv_);
    out.insert(out.end(), kv_.begin(), kv_.end());
    out.insert(out.end(), info_.begin(), info_.end());
    while (out.size() % alignment_) out.push_back(0);
    out.insert(out.end(), data_.begin(), data_.end());
    return out;
  }

 private:
  template <typename T>
  GgufBuilder& kv_scalar(std::string_view key, ValueType type, T v) {
    put_string(kv_, key);
    put(kv_, static_cast<uint32_t>(type));
    put(kv_, v);
    ++n_kv_;
    return *this;
  }
  template <typename T>
  static void put(std::vector<uint8_t>& out, T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));
  }
  static void put_string(std::vector<uint8_t>& out, std::string_view s) {
    put(out, static_cast<uint64_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }

  uint32_t version_;
  size_t alignment_;
  uint64_t n_kv_ = 0, n_tensors_ = 0;
  std::vector<uint8_t> kv_, info_, data_;
};

}  // namespace shardserve::gguf::testing
