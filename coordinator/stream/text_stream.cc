// TextStream: incremental detokenization with stop strings (see text_stream.h).
//
// Offsets: the raw byte stream is the concatenation of the pushed tokens' pieces; the text is
// what the UTF-8 decoder makes of it. A token's text starts at the text length when it is
// pushed (any incomplete character before it starts there too) and ends after the character
// holding its last raw byte. Text before `emitted_` has been returned; `held_` is the rest.
#include "coordinator/stream/text_stream.h"

#include <algorithm>
#include <utility>

#include "base/check.h"
#include "model/tokenizer/unicode.h"

namespace shardserve {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Valid UTF-8 with every invalid or truncated sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s) {
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    const tok::Utf8Seq seq = tok::next_utf8_sequence(s.substr(pos));
    if (seq.status == tok::Utf8Status::kComplete) {
      out.append(s.substr(pos, seq.len));
    } else {
      out.append(kReplacement);
    }
    pos += std::max<size_t>(seq.len, 1);
  }
  return out;
}

// KMP failure function: fail[i] = length of the longest proper border of p[0..i].
std::vector<uint32_t> failure_function(std::string_view p) {
  std::vector<uint32_t> fail(p.size(), 0);
  uint32_t k = 0;
  for (size_t i = 1; i < p.size(); ++i) {
    while (k > 0 && p[i] != p[k]) k = fail[k - 1];
    if (p[i] == p[k]) ++k;
    fail[i] = k;
  }
  return fail;
}

}  // namespace

TextStream::TextStream(const Tokenizer& tokenizer, std::vector<std::string> stop,
                       std::vector<TokenId> shown)
    : tokenizer_(&tokenizer), shown_(std::move(shown)) {
  for (size_t i = 0; i < stop.size(); ++i) {
    std::string text = sanitize_utf8(stop[i]);
    if (text.empty()) continue;
    SS_CHECK(text.size() < UINT32_MAX, "stop string too long");
    Stop s;
    s.fail = failure_function(text);
    s.text = std::move(text);
    s.original_index = i;
    stops_.push_back(std::move(s));
  }
}

Delta TextStream::push(TokenId id) {
  if (done_) return {};
  const bool special = (tokenizer_->is_special(id) || tokenizer_->is_end_of_generation(id)) &&
                       std::find(shown_.begin(), shown_.end(), id) == shown_.end();
  PendingToken t;
  t.piece.index = n_pushed_++;
  t.piece.id = id;
  t.piece.bytes = tokenizer_->token_to_piece(id);
  t.piece.special = special;
  t.piece.text_offset = emitted_ + held_.size();
  if (!special) {
    raw_.append(t.piece.bytes);
    raw_total_ += t.piece.bytes.size();
  }
  t.raw_end = raw_total_;
  tokens_.push_back(std::move(t));
  // A token without raw bytes (special, or an empty piece) ends where the text is now,
  // unless an incomplete character before it is still undecoded.
  while (n_determined_ < tokens_.size() && tokens_[n_determined_].raw_end <= raw_decoded_) {
    tokens_[n_determined_++].text_end = emitted_ + held_.size();
  }

  Delta out;
  if (decode(/*at_end=*/false)) {
    finish_at_stop(out);
    return out;
  }
  uint32_t hold = 0;
  for (const Stop& s : stops_) hold = std::max(hold, s.state);
  release(emitted_ + held_.size() - hold, out);
  return out;
}

Delta TextStream::finish() {
  if (done_) return {};
  Delta out;
  if (decode(/*at_end=*/true)) {
    finish_at_stop(out);
    return out;
  }
  done_ = true;
  release(emitted_ + held_.size(), out);
  // Every raw byte is decoded now, so every token has its end; release any left regardless.
  for (PendingToken& t : tokens_) out.tokens.push_back(std::move(t.piece));
  tokens_.clear();
  n_determined_ = 0;
  return out;
}

bool TextStream::decode(bool at_end) {
  size_t pos = 0;
  bool hit = false;
  while (pos < raw_.size() && !hit) {
    const tok::Utf8Seq seq = tok::next_utf8_sequence(std::string_view(raw_).substr(pos));
    const size_t len = std::max<size_t>(seq.len, 1);
    std::string_view ch;
    if (seq.status == tok::Utf8Status::kComplete) {
      ch = std::string_view(raw_).substr(pos, len);
    } else if (seq.status == tok::Utf8Status::kIncomplete && !at_end) {
      break;  // the start of a character: wait for the token that completes it
    } else {
      ch = kReplacement;
    }
    pos += len;
    hit = append_char(ch, raw_decoded_ + pos);
  }
  raw_.erase(0, pos);
  raw_decoded_ += pos;
  return hit;
}

bool TextStream::append_char(std::string_view ch, uint64_t raw_after) {
  held_.append(ch);
  const size_t text_len = emitted_ + held_.size();
  // Tokens whose last raw byte is in this character end here.
  while (n_determined_ < tokens_.size() && tokens_[n_determined_].raw_end <= raw_after) {
    tokens_[n_determined_++].text_end = text_len;
  }
  // Feed the stop automata. Stop strings and the text are valid UTF-8, so a stop can only
  // start and end on character boundaries: every match ends at the end of this character.
  const Stop* best = nullptr;
  for (Stop& s : stops_) {
    uint32_t k = s.state;
    for (char c : ch) {
      while (k > 0 && s.text[k] != c) k = s.fail[k - 1];
      if (s.text[k] == c) ++k;
      if (k == s.text.size()) break;
    }
    s.state = k;
    if (k == s.text.size() && (best == nullptr || s.text.size() > best->text.size())) best = &s;
  }
  if (best == nullptr) return false;
  stop_cut_ = text_len - best->text.size();
  matched_stop_ = best->original_index;
  return true;
}

void TextStream::release(size_t upto, Delta& out) {
  SS_CHECK(upto >= emitted_ && upto <= emitted_ + held_.size());
  const size_t n = upto - emitted_;
  out.text.append(held_, 0, n);
  held_.erase(0, n);
  emitted_ = upto;
  while (n_determined_ > 0 && *tokens_.front().text_end <= emitted_) {
    out.tokens.push_back(std::move(tokens_.front().piece));
    tokens_.pop_front();
    --n_determined_;
  }
}

void TextStream::finish_at_stop(Delta& out) {
  stopped_ = true;
  done_ = true;
  out.stopped = true;
  release(stop_cut_, out);
  // Tokens that reach into the stop string but contributed emitted text are released too;
  // the rest lie inside the stop (or after it) and are dropped.
  while (!tokens_.empty() && tokens_.front().piece.text_offset < stop_cut_) {
    out.tokens.push_back(std::move(tokens_.front().piece));
    tokens_.pop_front();
  }
  tokens_.clear();
  n_determined_ = 0;
  held_.clear();
  raw_.clear();
}

}  // namespace shardserve
