#include "api/embedding_response.h"

#include <bit>
#include <charconv>
#include <vector>

#include "api/base64.h"
#include "base/check.h"

namespace shardserve::api {

namespace {

using ordered_json = nlohmann::ordered_json;

// The double nearest to the shortest decimal that reads back as `value` (see the header), or
// `value` itself where that double would narrow to another float.
double shortest_double(float value) {
  char text[32];
  const auto printed = std::to_chars(text, text + sizeof text, value);
  SS_CHECK(printed.ec == std::errc{});
  double d = 0.0;
  std::from_chars(text, printed.ptr, d);
  // Double rounding: a shortest decimal just short of the midpoint between two floats can be
  // nearest to the midpoint's double, which narrows to the even neighbour (7.038531e-26 is
  // the one such positive float32).
  if (static_cast<float>(d) != value) return static_cast<double>(value);
  return d;
}

ordered_json float_array(std::span<const float> row) {
  ordered_json values = ordered_json::array();
  values.get_ref<ordered_json::array_t&>().reserve(row.size());
  for (float v : row) values.push_back(shortest_double(v));
  return values;
}

std::string base64_floats(std::span<const float> row) {
  std::vector<uint8_t> bytes;
  bytes.reserve(row.size() * 4);
  for (float v : row) {
    const uint32_t bits = std::bit_cast<uint32_t>(v);
    for (int shift = 0; shift < 32; shift += 8)
      bytes.push_back(static_cast<uint8_t>(bits >> shift));
  }
  return base64_encode(bytes);
}

}  // namespace

ordered_json embedding_list(std::string_view model, std::span<const float> data, int64_t dim,
                            bool base64, int64_t prompt_tokens) {
  SS_CHECK(dim >= 1, "embedding dim must be positive");
  const size_t row_size = static_cast<size_t>(dim);
  SS_CHECK(data.size() % row_size == 0, "embedding data is not a whole number of rows");
  ordered_json list = ordered_json::array();
  for (size_t i = 0; i * row_size < data.size(); ++i) {
    const auto row = data.subspan(i * row_size, row_size);
    ordered_json item;
    item["object"] = "embedding";
    item["index"] = i;
    item["embedding"] = base64 ? ordered_json(base64_floats(row)) : float_array(row);
    list.push_back(std::move(item));
  }
  ordered_json usage;
  usage["prompt_tokens"] = prompt_tokens;
  usage["total_tokens"] = prompt_tokens;
  ordered_json j;
  j["object"] = "list";
  j["data"] = std::move(list);
  j["model"] = model;
  j["usage"] = std::move(usage);
  return j;
}

}  // namespace shardserve::api
