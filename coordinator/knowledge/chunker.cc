#include "coordinator/knowledge/chunker.h"

#include <algorithm>

#include "base/check.h"

namespace shardserve::knowledge {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f';
}

// Byte offset of every character start, plus text.size() at the end. A continuation byte
// (10xxxxxx) belongs to the character before it, so no cut can fall inside a sequence.
std::vector<size_t> char_starts(std::string_view text) {
  std::vector<size_t> starts;
  starts.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80 || i == 0) starts.push_back(i);
  }
  starts.push_back(text.size());
  return starts;
}

// The character index (in [lo, hi]) to end a chunk at: just after the best boundary found
// scanning back from hi, or hi itself when the window holds no boundary.
size_t best_cut(std::string_view text, const std::vector<size_t>& starts, size_t lo, size_t hi) {
  size_t sentence = 0, space = 0;
  for (size_t c = hi; c > lo; --c) {
    const size_t b = starts[c];  // byte where the chunk would end
    const char prev = text[starts[c - 1]];
    const char next = b < text.size() ? text[b] : ' ';
    if (prev == '\n' && c >= 2 && text[starts[c - 2]] == '\n') return c;  // paragraph
    if (sentence == 0 && is_space(next) && (prev == '.' || prev == '!' || prev == '?')) {
      sentence = c;
    }
    if (space == 0 && is_space(prev)) space = c;
  }
  if (sentence != 0) return sentence;
  if (space != 0) return space;
  return hi;
}

}  // namespace

std::vector<TextChunk> chunk_text(std::string_view text, const ChunkOptions& options) {
  SS_CHECK(options.max_chars > 0 && options.overlap_chars < options.max_chars,
           "chunk overlap must be smaller than the chunk size");
  const std::vector<size_t> starts = char_starts(text);
  const size_t n = starts.size() - 1;  // characters
  std::vector<TextChunk> chunks;
  size_t start = 0;
  while (start < n) {
    const size_t hi = std::min(start + options.max_chars, n);
    const size_t end = hi == n ? n : best_cut(text, starts, start + options.max_chars / 2, hi);
    size_t b = starts[start], e = starts[end];
    size_t first = start;  // character index of the chunk's first non-space character
    while (b < e && is_space(text[b])) ++b, ++first;  // spaces are one byte each
    while (e > b && is_space(text[e - 1])) --e;
    if (e > b) chunks.push_back({std::string(text.substr(b, e - b)), b, e});
    if (end == n) break;
    // The next chunk starts overlap_chars back, moved forward to the start of a word.
    size_t next = end > options.overlap_chars ? end - options.overlap_chars : 0;
    next = std::max(next, first + 1);  // always past the previous chunk's start
    const size_t word_limit = std::min(end, next + options.overlap_chars / 2);
    size_t w = next;
    while (w < word_limit && w > 0 && !is_space(text[starts[w - 1]])) ++w;
    start = (w < word_limit) ? w : next;
  }
  return chunks;
}

}  // namespace shardserve::knowledge
