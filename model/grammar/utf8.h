// Strict incremental UTF-8 decoding for the grammar matcher (internal to model/grammar).
//
// Bytes arrive one at a time, possibly split across calls, so the decoder's state is a
// value the caller keeps. Only well-formed UTF-8 (Unicode table 3-7) is accepted: no
// overlong forms, no surrogates, nothing above U+10FFFF. Because the allowed range of each
// continuation byte is tracked exactly, the code points a pending prefix can still become
// form one contiguous range (pending_range), which lets the matcher reject a prefix that no
// completion could match.
#pragma once

#include <cstdint>

namespace shardserve::grammar {

struct Utf8State {
  uint32_t code = 0;      // value bits so far; with by_interval, the stand-in code point
  uint8_t remaining = 0;  // continuation bytes still expected (0: between characters)
  uint8_t next_lo = 0;    // allowed range of the next continuation byte
  uint8_t next_hi = 0;
  uint8_t by_interval = 0;  // 1: all completions behave alike; `code` stands for them all

  bool pending() const { return remaining != 0; }
  bool operator==(const Utf8State&) const = default;
};

enum class Utf8Step : uint8_t { kInvalid, kPartial, kComplete };

// Feeds one byte. kComplete sets `cp` and resets the state; kInvalid leaves it unchanged.
inline Utf8Step utf8_feed(Utf8State& s, uint8_t b, uint32_t& cp) {
  if (s.remaining == 0) {
    if (b < 0x80) {
      cp = b;
      return Utf8Step::kComplete;
    }
    Utf8State n;
    n.next_lo = 0x80;
    n.next_hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      n.remaining = 1;
      n.code = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n.remaining = 2;
      n.code = b & 0x0F;
      if (b == 0xE0) n.next_lo = 0xA0;  // no overlong forms
      if (b == 0xED) n.next_hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      n.remaining = 3;
      n.code = b & 0x07;
      if (b == 0xF0) n.next_lo = 0x90;  // no overlong forms
      if (b == 0xF4) n.next_hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return Utf8Step::kInvalid;  // a continuation byte, C0, C1 or F5..FF
    }
    s = n;
    return Utf8Step::kPartial;
  }
  if (b < s.next_lo || b > s.next_hi) return Utf8Step::kInvalid;
  if (!s.by_interval) s.code = (s.code << 6) | (b & 0x3F);
  s.next_lo = 0x80;
  s.next_hi = 0xBF;
  if (--s.remaining > 0) return Utf8Step::kPartial;
  cp = s.code;
  s = Utf8State{};
  return Utf8Step::kComplete;
}

// The code points the pending prefix can still complete to: [lo, hi]. Requires pending().
inline void utf8_pending_range(const Utf8State& s, uint32_t& lo, uint32_t& hi) {
  if (s.by_interval) {
    lo = hi = s.code;
    return;
  }
  const uint32_t shift = 6u * (s.remaining - 1u);
  lo = ((s.code << 6) | (s.next_lo & 0x3Fu)) << shift;
  hi = (((s.code << 6) | (s.next_hi & 0x3Fu)) << shift) | ((1u << shift) - 1u);
}

}  // namespace shardserve::grammar
