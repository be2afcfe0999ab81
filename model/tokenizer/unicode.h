// UTF-8 helpers with llama.cpp's exact (lenient) semantics, and GPT-2's byte <-> unicode map.
//
// These are the low-level pieces every tokenizer algorithm here shares. They never fail:
// malformed UTF-8 decodes to U+FFFD one byte at a time, exactly as llama.cpp does, so that
// token ids match llama.cpp's even on invalid input. Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/utf8.h"

namespace shardserve::tok {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the UTF-8 sequence a lead byte announces (1 for continuation/invalid bytes),
// judged from the high nibble only, like llama.cpp's unicode_len_utf8.
size_t utf8_len(char lead);

// Decodes `text` into code points. An invalid or truncated sequence yields U+FFFD and
// skips one byte. Overlong forms and surrogates are accepted as llama.cpp accepts them.
std::vector<uint32_t> decode_utf8_lenient(std::string_view text);

// Appends the UTF-8 encoding of a code point (base/utf8.h); values above U+10FFFF append
// U+FFFD.
using shardserve::append_utf8;

// GPT-2 byte-level BPE alphabet: each byte maps to one printable code point (UTF-8 encoded).
const std::string& byte_to_unicode(uint8_t byte);
// Inverse of byte_to_unicode for one code point; -1 if the code point is not in the alphabet.
int unicode_to_byte(uint32_t cpt);

enum class Utf8Status { kComplete, kIncomplete, kInvalid };
struct Utf8Seq {
  Utf8Status status;
  size_t len;  // kComplete: bytes of the character; kIncomplete: bytes present (a valid
               // prefix that the input cuts off); kInvalid: bytes to replace by one U+FFFD
};
// Classifies the sequence at the start of non-empty `bytes` by strict UTF-8 (RFC 3629:
// no overlongs, surrogates or values above U+10FFFF).
Utf8Seq next_utf8_sequence(std::string_view bytes);

}  // namespace shardserve::tok
