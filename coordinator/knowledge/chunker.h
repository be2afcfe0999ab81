// Text -> overlapping chunks for embedding and search (issue 19's knowledge base).
//
// Promise: `chunk_text` cuts `text` into chunks of at most `max_chars` characters (code
// points), each starting `overlap_chars` characters or slightly fewer before the previous one
// ended, so a passage that straddles a cut is whole in at least one chunk. A chunk ends, in
// order of preference, after a paragraph break, after a sentence's end (. ! ? followed by
// space), at a space, and only when the window holds none of those (looked for in its second
// half) at the character limit. No cut ever falls inside a UTF-8 sequence (bytes that are not
// valid UTF-8 count as one character each). Each chunk carries its byte offsets [begin, end)
// in `text`, with leading and trailing whitespace left out; chunks of whitespace alone are
// dropped. Deterministic; pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shardserve::knowledge {

struct ChunkOptions {
  size_t max_chars = 1000;     // must be > 0
  size_t overlap_chars = 200;  // must be < max_chars
};

struct TextChunk {
  std::string text;  // == text.substr(begin, end - begin)
  size_t begin = 0;  // byte offsets into the chunked text
  size_t end = 0;
};

std::vector<TextChunk> chunk_text(std::string_view text, const ChunkOptions& options = {});

}  // namespace shardserve::knowledge
