#include "model/tokenizer/unicode.h"

#include <array>

namespace shardserve::tok {

size_t utf8_len(char lead) {
  static constexpr size_t kLookup[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[static_cast<uint8_t>(lead) >> 4];
}

namespace {

bool is_cont(uint8_t b) {
  return (b & 0xC0) == 0x80;
}

// One code point at `offset` with llama.cpp's rules; returns false on a malformed sequence.
bool decode_one(std::string_view s, size_t& offset, uint32_t& cpt) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  const uint8_t b0 = p[offset];
  if (!(b0 & 0x80)) {
    cpt = b0;
    offset += 1;
    return true;
  }
  if (!(b0 & 0x40)) return false;
  if (!(b0 & 0x20)) {
    if (offset + 1 >= n || !is_cont(p[offset + 1])) return false;
    cpt = ((b0 & 0x1Fu) << 6) | (p[offset + 1] & 0x3Fu);
    offset += 2;
    return true;
  }
  if (!(b0 & 0x10)) {
    if (offset + 2 >= n || !is_cont(p[offset + 1]) || !is_cont(p[offset + 2])) return false;
    cpt = ((b0 & 0x0Fu) << 12) | ((p[offset + 1] & 0x3Fu) << 6) | (p[offset + 2] & 0x3Fu);
    offset += 3;
    return true;
  }
  if (!(b0 & 0x08)) {
    if (offset + 3 >= n || !is_cont(p[offset + 1]) || !is_cont(p[offset + 2]) ||
        !is_cont(p[offset + 3]))
      return false;
    cpt = ((b0 & 0x07u) << 18) | ((p[offset + 1] & 0x3Fu) << 12) | ((p[offset + 2] & 0x3Fu) << 6) |
          (p[offset + 3] & 0x3Fu);
    offset += 4;
    return true;
  }
  return false;
}

struct ByteMaps {
  std::array<std::string, 256> to_unicode;
  std::array<int, 512> from_unicode;  // every code point of the alphabet is below 512

  ByteMaps() {
    from_unicode.fill(-1);
    std::array<bool, 256> direct{};
    for (int b = 0x21; b <= 0x7E; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cpt = direct[b] ? static_cast<uint32_t>(b) : 256u + n++;
      append_utf8(to_unicode[b], cpt);
      from_unicode[cpt] = b;
    }
  }
};

const ByteMaps& byte_maps() {
  static const ByteMaps maps;
  return maps;
}

}  // namespace

std::vector<uint32_t> decode_utf8_lenient(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t offset = 0;
  while (offset < text.size()) {
    uint32_t cpt = 0;
    if (decode_one(text, offset, cpt)) {
      out.push_back(cpt);
    } else {
      out.push_back(kReplacementChar);
      ++offset;
    }
  }
  return out;
}

const std::string& byte_to_unicode(uint8_t byte) {
  return byte_maps().to_unicode[byte];
}

int unicode_to_byte(uint32_t cpt) {
  return cpt < 512 ? byte_maps().from_unicode[cpt] : -1;
}

Utf8Seq next_utf8_sequence(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t b0 = p[0];
  size_t len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 < 0x80) return {Utf8Status::kComplete, 1};
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {Utf8Status::kInvalid, 1};
  }
  for (size_t k = 1; k < len; ++k) {
    if (k >= s.size()) return {Utf8Status::kIncomplete, k};
    const uint8_t lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
    if (p[k] < lo_k || p[k] > hi_k) return {Utf8Status::kInvalid, k};
  }
  return {Utf8Status::kComplete, len};
}

}  // namespace shardserve::tok
