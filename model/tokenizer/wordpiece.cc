#include "model/tokenizer/wordpiece.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "model/tokenizer/bert_text.h"
#include "model/tokenizer/wordpiece_model.h"

namespace shardserve {

namespace {

using tok::AddedToken;
using tok::WordPieceModel;

// A stretch of the text: an added token (id >= 0) or text for the next stage (id -1).
struct Piece {
  std::u32string_view text;
  TokenId id = -1;
};

// HuggingFace's AddedVocabulary::find_matches: leftmost-longest non-overlapping matches of
// `tokens` in `s`, with single_word, lstrip and rstrip applied; the pieces cover `s`.
std::vector<Piece> split_added(std::u32string_view s, const std::vector<AddedToken>& tokens) {
  std::vector<Piece> pieces;
  size_t done = 0;  // end of the last piece emitted
  size_t pos = 0;   // where the search for the next match starts
  const size_t n = s.size();
  while (!tokens.empty() && pos < n) {
    const AddedToken* best = nullptr;
    size_t start = pos;
    for (; start < n && !best; ++start)
      for (const AddedToken& t : tokens)
        if (t.content[0] == s[start] && s.substr(start).starts_with(t.content) &&
            (!best || t.content.size() > best->content.size()))
          best = &t;
    if (!best) break;
    --start;
    size_t stop = start + best->content.size();
    pos = stop;
    if (best->single_word) {
      const bool free_before = start == 0 || !tok::is_regex_word(s[start - 1]);
      const bool free_after = stop == n || !tok::is_regex_word(s[stop]);
      if (!free_before || !free_after) continue;
    }
    if (best->lstrip) {
      size_t begin = start;
      while (begin > 0 && tok::is_regex_space(s[begin - 1])) --begin;
      start = std::max(begin, done);
    }
    if (best->rstrip) {
      while (stop < n && tok::is_regex_space(s[stop])) ++stop;
      pos = stop;
    }
    if (done < start) pieces.push_back({s.substr(done, start - done), -1});
    pieces.push_back({s.substr(start, stop - start), best->id});
    done = stop;
  }
  if (done < n) pieces.push_back({s.substr(done), -1});
  return pieces;
}

// Greedy longest-match-first WordPiece of one word; [UNK] for the whole word when a
// position has no vocabulary piece or the word is too long.
void wordpiece(const WordPieceModel& m, std::u32string_view word, std::vector<TokenId>& out) {
  if (word.size() > m.max_input_chars_per_word) {
    out.push_back(m.unk_id);
    return;
  }
  const std::string text = tok::encode_utf8(word);
  const size_t first = out.size();
  size_t start = 0;
  while (start < text.size()) {
    const tok::TokenIdMap& vocab = start == 0 ? m.token_to_id : m.continuation_to_id;
    size_t end = text.size();
    TokenId found = -1;
    while (start < end) {
      auto it = vocab.find(std::string_view(text).substr(start, end - start));
      if (it != vocab.end()) {
        found = it->second;
        break;
      }
      --end;  // back one character: over its UTF-8 continuation bytes too
      while (end > start && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    }
    if (found < 0) {
      out.resize(first);
      out.push_back(m.unk_id);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// HuggingFace's decoders::wordpiece::cleanup, in its order.
void cleanup(std::string& s) {
  static constexpr std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
      {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
      {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) replace_all(s, from, to);
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::unique_ptr<const WordPieceModel> model)
    : model_(std::move(model)) {}

WordPieceTokenizer::~WordPieceTokenizer() = default;

Result<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::from_json_file(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error{"cannot open tokenizer file '" + path +
                 "': run scripts/fetch-models, or give the path of the model's tokenizer.json"};
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return Error{"cannot read tokenizer file '" + path + "'"};
  return from_json(text.view(), path);
}

Result<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::from_json(
    std::string_view json, const std::string& origin) {
  auto model = tok::parse_wordpiece_json(json, origin);
  if (!model.ok()) return model.error();
  return std::unique_ptr<WordPieceTokenizer>(
      new WordPieceTokenizer(std::make_unique<const WordPieceModel>(std::move(model).value())));
}

std::vector<TokenId> WordPieceTokenizer::encode(std::string_view text, bool add_special) const {
  const WordPieceModel& m = *model_;
  std::vector<TokenId> ids;
  if (add_special) ids = m.prefix_ids;
  const std::u32string chars = tok::decode_utf8_strict(text);
  // Added tokens are found in the raw text first, then (normalized ones) in each
  // normalized remainder; what is left is split into words for WordPiece.
  for (const Piece& raw : split_added(chars, m.added_raw)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    const std::u32string normalized =
        m.has_normalizer ? tok::bert_normalize(raw.text, m.normalizer) : std::u32string(raw.text);
    for (const Piece& piece : split_added(normalized, m.added_normalized)) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        continue;
      }
      for (const std::u32string& word : tok::bert_pre_tokenize(piece.text)) wordpiece(m, word, ids);
    }
  }
  if (add_special) ids.insert(ids.end(), m.suffix_ids.begin(), m.suffix_ids.end());
  return ids;
}

std::string WordPieceTokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  const WordPieceModel& m = *model_;
  std::string out;
  bool first = true;
  for (TokenId id : ids) {
    if (id < 0 || id >= n_vocab() || (skip_special && m.is_special[id])) continue;
    std::string token = m.id_to_token[id];
    if (token.empty()) continue;  // an id no token has
    if (!m.has_decoder) {
      if (!first) out.push_back(' ');
      out.append(token);
      first = false;
      continue;
    }
    if (!first) {
      if (token.starts_with(m.decoder_prefix))
        token.erase(0, m.decoder_prefix.size());
      else
        token.insert(0, 1, ' ');
    }
    if (m.decoder_cleanup) cleanup(token);
    out.append(token);
    first = false;
  }
  return out;
}

int32_t WordPieceTokenizer::n_vocab() const {
  return static_cast<int32_t>(model_->id_to_token.size());
}

TokenId WordPieceTokenizer::cls_id() const {
  return model_->prefix_ids.size() == 1 ? model_->prefix_ids[0] : -1;
}

TokenId WordPieceTokenizer::sep_id() const {
  return model_->suffix_ids.size() == 1 ? model_->suffix_ids[0] : -1;
}

TokenId WordPieceTokenizer::pad_id() const {
  return model_->pad_id;
}

TokenId WordPieceTokenizer::unk_id() const {
  return model_->unk_id;
}

const std::string& WordPieceTokenizer::token_text(TokenId id) const {
  static const std::string kEmpty;
  return id < 0 || id >= n_vocab() ? kEmpty : model_->id_to_token[id];
}

}  // namespace shardserve
