// UTF-8 encoding of one code point, shared by every part that writes text from code points
// (tokenizers, the chat template engine, grammar text).
#pragma once

#include <string>

namespace shardserve {

// Appends the UTF-8 bytes of `cp` to `out`; a value past U+10FFFF becomes U+FFFD. Surrogates
// (U+D800..U+DFFF) are encoded as they are (CESU-style), as Python and the callers expect.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace shardserve
