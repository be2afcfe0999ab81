#include "api/embedding_response.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/openai_error.h"

namespace shardserve::api {
namespace {

using ordered_json = nlohmann::ordered_json;
using Keys = std::vector<std::string>;

std::vector<std::string> keys(const ordered_json& object) {
  std::vector<std::string> out;
  for (const auto& [k, v] : object.items()) out.push_back(k);
  return out;
}

// Standard base64 (with padding) back to bytes; fails the test on anything else.
std::vector<uint8_t> base64_decode(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  EXPECT_EQ(text.size() % 4, 0u) << text;
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=') {
      EXPECT_GE(i + 2, text.size()) << "padding inside " << text;
      break;
    }
    const size_t v = alphabet.find(text[i]);
    EXPECT_NE(v, std::string::npos) << "bad character in " << text;
    acc = acc << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return out;
}

// Little-endian float32 bytes back to floats.
std::vector<float> floats_le(const std::vector<uint8_t>& bytes) {
  EXPECT_EQ(bytes.size() % 4, 0u);
  std::vector<float> out;
  for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
    const uint32_t bits = uint32_t{bytes[i]} | uint32_t{bytes[i + 1]} << 8 |
                          uint32_t{bytes[i + 2]} << 16 | uint32_t{bytes[i + 3]} << 24;
    out.push_back(std::bit_cast<float>(bits));
  }
  return out;
}

// The texts of the numbers in a serialised JSON array of numbers ("[1.0,-0.5]").
std::vector<std::string> number_texts(const std::string& array) {
  std::vector<std::string> out;
  std::string current;
  for (char c : array.substr(1, array.size() - 2)) {
    if (c == ',') {
      out.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

// Significant digits of a decimal number's text ("0.00120" -> 2, "1.5e-07" -> 2).
int significant_digits(const std::string& text) {
  std::string digits;
  for (char c : text) {
    if (c == 'e' || c == 'E') break;
    if (c >= '0' && c <= '9') digits += c;
  }
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 1;
  return static_cast<int>(digits.find_last_not_of('0') - first + 1);
}

uint32_t bits_of(float v) {
  return std::bit_cast<uint32_t>(v);
}

TEST(EmbeddingResponse, ShapeAndKeyOrder) {
  const std::vector<float> data = {0.5f, -0.25f, 1.0f, 0.0f, 0.125f, 2.0f};
  const ordered_json j = embedding_list("minilm", data, 3, false, 17);
  EXPECT_EQ(keys(j), (Keys{"object", "data", "model", "usage"}));
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "minilm");
  EXPECT_EQ(j["usage"], ordered_json::parse(R"({"prompt_tokens": 17, "total_tokens": 17})"));
  EXPECT_EQ(keys(j["usage"]), (Keys{"prompt_tokens", "total_tokens"}));
  ASSERT_EQ(j["data"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& item = j["data"][i];
    EXPECT_EQ(keys(item), (Keys{"object", "index", "embedding"}));
    EXPECT_EQ(item["object"], "embedding");
    EXPECT_EQ(item["index"], i);
  }
  EXPECT_EQ(dump_json(j["data"][0]["embedding"]), "[0.5,-0.25,1.0]");
  EXPECT_EQ(dump_json(j["data"][1]["embedding"]), "[0.0,0.125,2.0]");
}

TEST(EmbeddingResponse, NoRows) {
  const ordered_json j = embedding_list("minilm", {}, 384, false, 0);
  EXPECT_TRUE(j["data"].is_array());
  EXPECT_TRUE(j["data"].empty());
}

TEST(EmbeddingResponse, FloatsPrintShortest) {
  // Widened to double, 0.1f would print as 0.10000000149011612.
  EXPECT_EQ(ordered_json(static_cast<double>(0.1f)).dump(), "0.10000000149011612");
  struct Case {
    float value;
    const char* text;
  };
  for (const Case& c : std::vector<Case>{
           {0.1f, "0.1"},
           {-0.1f, "-0.1"},
           {1.0f / 3.0f, "0.33333334"},
           {0.0123f, "0.0123"},
           {-0.0f, "-0.0"},
           {1e-45f, "1e-45"},  // smallest subnormal
           {std::numeric_limits<float>::min(), "1.1754944e-38"},
           {std::numeric_limits<float>::max(), "3.4028235e+38"},
           {16777217.0f, "16777216.0"},  // not a float: rounds to 2^24
       }) {
    const std::vector<float> row = {c.value};
    EXPECT_EQ(dump_json(embedding_list("m", row, 1, false, 1)["data"][0]["embedding"]),
              std::string("[") + c.text + "]")
        << c.text;
  }
}

// 7.038531e-26 is the shortest decimal for 0x15ae43fd, but as a double it is the midpoint
// between that float and 0x15ae43fe, and narrowing rounds the tie to the even 0x15ae43fe: a
// client parsing JSON numbers as doubles would get the wrong float. It is sent widened instead.
TEST(EmbeddingResponse, ShortestDecimalThatNarrowsWronglyThroughDoubleIsSentWidened) {
  const float value = std::bit_cast<float>(uint32_t{0x15ae43fd});
  ASSERT_EQ(bits_of(std::strtof("7.038531e-26", nullptr)), 0x15ae43fdu);
  ASSERT_EQ(bits_of(static_cast<float>(std::strtod("7.038531e-26", nullptr))), 0x15ae43feu);
  for (float v : {value, -value}) {
    const std::vector<float> row = {v};
    const std::string text =
        dump_json(embedding_list("m", row, 1, false, 1)["data"][0]["embedding"][0]);
    EXPECT_EQ(text, v > 0 ? "7.038530691851209e-26" : "-7.038530691851209e-26");
    EXPECT_EQ(bits_of(std::strtof(text.c_str(), nullptr)), bits_of(v));
    EXPECT_EQ(bits_of(static_cast<float>(std::strtod(text.c_str(), nullptr))), bits_of(v));
  }
}

// Every float's text reads back as the same bits, whether parsed as float32 (strtof) or as a
// double narrowed to float32 (JSON parsers, Python's json, then numpy.float32), and is the
// shortest such text for nearly all of them (nlohmann's Grisu2 printer sometimes falls back to
// 17 digits of the same double; see the header).
TEST(EmbeddingResponse, FloatsRoundTripExactly) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::normal_distribution<float> typical(0.0f, 0.05f);  // values of a unit-norm embedding
  std::vector<float> data;
  for (int i = 0; i < 50000; ++i) {
    float v = std::bit_cast<float>(any_bits(rng));
    if (std::isfinite(v)) data.push_back(v);
    data.push_back(typical(rng));
  }
  const size_t n = data.size();
  const std::string body = dump_json(embedding_list("m", data, static_cast<int64_t>(n), false, 1));

  // Parsed as JSON (doubles), then narrowed.
  const auto parsed = nlohmann::json::parse(body);
  const auto& values = parsed["data"][0]["embedding"];
  ASSERT_EQ(values.size(), n);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(bits_of(static_cast<float>(values[i].get<double>())), bits_of(data[i]))
        << "value " << i << " = " << data[i];
  }
  // The texts, parsed as float32; and their length against std::to_chars's shortest.
  const size_t begin = body.find("\"embedding\":") + 12;
  const std::vector<std::string> texts =
      number_texts(body.substr(begin, body.find(']') - begin + 1));
  ASSERT_EQ(texts.size(), n);
  size_t longer = 0;
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(bits_of(std::strtof(texts[i].c_str(), nullptr)), bits_of(data[i]))
        << "value " << i << " printed " << texts[i];
    char shortest[32];
    const auto end = std::to_chars(shortest, shortest + sizeof shortest, data[i]).ptr;
    const int digits = significant_digits(texts[i]);
    ASSERT_LE(digits, 17) << texts[i];
    if (digits > significant_digits(std::string(shortest, end))) ++longer;
  }
  EXPECT_LT(longer, n / 100) << longer << " of " << n << " values not printed shortest";
}

TEST(EmbeddingResponse, Base64IsLittleEndianFloat32) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::vector<float> data = {1.0f, -2.5f, 0.1f, -0.0f, 1e-45f, std::numeric_limits<float>::max()};
  while (data.size() < 3 * 7) {
    const float v = std::bit_cast<float>(any_bits(rng));
    if (std::isfinite(v)) data.push_back(v);
  }
  const ordered_json j = embedding_list("minilm", data, 7, true, 5);
  ASSERT_EQ(j["data"].size(), 3u);
  for (size_t row = 0; row < 3; ++row) {
    const auto& item = j["data"][row];
    EXPECT_EQ(keys(item), (Keys{"object", "index", "embedding"}));
    ASSERT_TRUE(item["embedding"].is_string());
    const std::string text = item["embedding"].get<std::string>();
    EXPECT_EQ(text.size(), 40u);  // 28 bytes -> 10 groups of 4, the last padded
    const std::vector<float> back = floats_le(base64_decode(text));
    ASSERT_EQ(back.size(), 7u);
    for (size_t k = 0; k < 7; ++k) {
      EXPECT_EQ(bits_of(back[k]), bits_of(data[row * 7 + k])) << "row " << row << " col " << k;
    }
  }
  // 1.0f is 00 00 80 3f little-endian; -2.5f is 00 00 20 c0.
  const std::vector<float> one = {1.0f, -2.5f};
  EXPECT_EQ(embedding_list("m", one, 2, true, 1)["data"][0]["embedding"], "AACAPwAAIMA=");
}

TEST(EmbeddingResponseDeathTest, BadShapeAborts) {
  const std::vector<float> data(10, 0.5f);
  EXPECT_DEATH((void)embedding_list("m", data, 3, false, 1), "whole number of rows");
  EXPECT_DEATH((void)embedding_list("m", data, 0, false, 1), "dim must be positive");
}

}  // namespace
}  // namespace shardserve::api
