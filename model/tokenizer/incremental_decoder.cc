// IncrementalDecoder: streaming detokenization that only ever returns whole characters.
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/unicode.h"

namespace shardserve {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
}  // namespace

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {}

std::string IncrementalDecoder::push(TokenId id) {
  if (skip_special_ && tokenizer_->is_special(id)) return {};
  pending_ += tokenizer_->token_to_piece(id);
  return drain(false);
}

std::string IncrementalDecoder::flush() {
  return drain(true);
}

std::string IncrementalDecoder::drain(bool at_end) {
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const tok::Utf8Seq seq = tok::next_utf8_sequence(std::string_view(pending_).substr(pos));
    if (seq.status == tok::Utf8Status::kComplete) {
      out.append(pending_, pos, seq.len);
    } else if (seq.status == tok::Utf8Status::kIncomplete && !at_end) {
      break;  // hold the start of a character until the next token completes it
    } else {
      out.append(kReplacement);
    }
    pos += seq.len;
  }
  pending_.erase(0, pos);
  return out;
}

}  // namespace shardserve
