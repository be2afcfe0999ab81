#include "api/base64.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace shardserve::api {
namespace {

std::string encode(std::string_view text) {
  return base64_encode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

// A second, bit-by-bit definition: the bytes as one bit string, cut into 6-bit groups (the
// last one filled with zero bits), then '=' up to a multiple of 4 characters.
std::string reference_encode(const std::vector<uint8_t>& bytes) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<int> bits;
  for (uint8_t b : bytes) {
    for (int i = 7; i >= 0; --i) bits.push_back((b >> i) & 1);
  }
  std::string out;
  for (size_t i = 0; i < bits.size(); i += 6) {
    int group = 0;
    for (size_t j = i; j < i + 6; ++j) group = group * 2 + (j < bits.size() ? bits[j] : 0);
    out += alphabet[static_cast<size_t>(group)];
  }
  while (out.size() % 4 != 0) out += '=';
  return out;
}

TEST(Base64, Rfc4648TestVectors) {
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foob"), "Zm9vYg==");
  EXPECT_EQ(encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, StandardAlphabetNotUrlSafe) {
  EXPECT_EQ(base64_encode(std::vector<uint8_t>{0xfb, 0xef, 0xbe}), "++++");
  EXPECT_EQ(base64_encode(std::vector<uint8_t>{0xff, 0xff, 0xff}), "////");
  EXPECT_EQ(base64_encode(std::vector<uint8_t>{0xfb, 0xff}), "+/8=");
  EXPECT_EQ(base64_encode(std::vector<uint8_t>{0x00, 0x00, 0x00}), "AAAA");
}

TEST(Base64, EveryByteInEveryPositionMatchesTheBitDefinition) {
  for (size_t size = 1; size <= 3; ++size) {
    for (size_t pos = 0; pos < size; ++pos) {
      for (int b = 0; b < 256; ++b) {
        std::vector<uint8_t> bytes(size, 0x5a);
        bytes[pos] = static_cast<uint8_t>(b);
        ASSERT_EQ(base64_encode(bytes), reference_encode(bytes))
            << "size " << size << " pos " << pos << " byte " << b;
      }
    }
  }
  // Longer inputs with every remainder.
  std::vector<uint8_t> bytes;
  for (int i = 0; i < 1000; ++i) {
    bytes.push_back(static_cast<uint8_t>(i * 37 + 11));
    ASSERT_EQ(base64_encode(bytes), reference_encode(bytes)) << "size " << bytes.size();
  }
}

}  // namespace
}  // namespace shardserve::api
