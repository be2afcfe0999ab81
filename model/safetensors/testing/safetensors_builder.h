// Builds safetensors images in memory, for tests and fuzz seeds. Not for production writing:
// it trusts its caller and can produce deliberately broken files (raw_entry(), image()).
#pragma once

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace shardserve::safetensors::testing {

class SafetensorsBuilder {
 public:
  // A tensor whose data follows the previous tensor's in the data area.
  SafetensorsBuilder& tensor(const std::string& name, const std::string& dtype,
                             const std::vector<int64_t>& shape, const std::vector<uint8_t>& bytes) {
    header_[name] = {{"dtype", dtype},
                     {"shape", shape},
                     {"data_offsets", {data_.size(), data_.size() + bytes.size()}}};
    data_.insert(data_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  // An F32 tensor holding `values`.
  SafetensorsBuilder& f32(const std::string& name, const std::vector<int64_t>& shape,
                          const std::vector<float>& values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(float));
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return tensor(name, "F32", shape, bytes);
  }
  // A header entry given as JSON text, with no data of its own.
  SafetensorsBuilder& raw_entry(const std::string& name, std::string_view json_text) {
    header_[name] = nlohmann::ordered_json::parse(json_text);
    return *this;
  }
  SafetensorsBuilder& metadata(const std::string& key, const std::string& value) {
    header_["__metadata__"][key] = value;
    return *this;
  }
  // Raw bytes appended to the data area.
  SafetensorsBuilder& extra_data(const std::vector<uint8_t>& bytes) {
    data_.insert(data_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  std::string header() const { return header_.empty() ? "{}" : header_.dump(); }
  std::vector<uint8_t> build() const { return image(header(), data_); }

  // 8-byte length, the header padded with spaces to a multiple of 8 (as the reference writer
  // does), then the data.
  static std::vector<uint8_t> image(std::string header, const std::vector<uint8_t>& data) {
    while (header.size() % 8) header += ' ';
    return image_raw(header.size(), header, data);
  }
  // No padding, any declared length.
  static std::vector<uint8_t> image_raw(uint64_t declared_length, std::string_view header,
                                        const std::vector<uint8_t>& data) {
    std::vector<uint8_t> out(8 + header.size() + data.size());
    std::memcpy(out.data(), &declared_length, 8);
    if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
    if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
    return out;
  }

 private:
  nlohmann::ordered_json header_ = nlohmann::ordered_json::object();
  std::vector<uint8_t> data_;
};

}  // namespace shardserve::safetensors::testing
