// What a WordPieceTokenizer knows, as read from tokenizer.json (wordpiece_json.cc) and
// used by encode/decode (wordpiece.cc). Internal to model/tokenizer.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "model/tokenizer/bert_text.h"
#include "model/tokenizer/wordpiece.h"

namespace shardserve::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIdMap = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;

// An entry of tokenizer.json's added_tokens, matched in the text before WordPiece.
struct AddedToken {
  std::u32string content;  // as written; normalized ones hold the normalized form
  TokenId id = -1;
  bool special = false;      // skipped by decode(skip_special)
  bool single_word = false;  // only where no word character touches it
  bool lstrip = false;       // takes the whitespace before it
  bool rstrip = false;       // takes the whitespace after it
  bool normalized = false;   // matched in normalized text instead of the raw text
};

struct WordPieceModel {
  std::vector<std::string> id_to_token;  // [n_vocab]; "" where no token has the id
  TokenIdMap token_to_id;                // whole vocabulary
  TokenIdMap continuation_to_id;         // entries that start with the prefix, without it
  TokenId unk_id = -1;
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;

  bool has_normalizer = false;
  BertNormalizerOptions normalizer;

  std::vector<AddedToken> added_raw;         // normalized == false
  std::vector<AddedToken> added_normalized;  // normalized == true
  std::vector<bool> is_special;              // [n_vocab]: added with special == true

  std::vector<TokenId> prefix_ids;  // post-processor, around the text's ids
  std::vector<TokenId> suffix_ids;
  TokenId pad_id = -1;

  bool has_decoder = false;  // WordPiece decoder; without one, tokens are joined by ' '
  std::string decoder_prefix = "##";
  bool decoder_cleanup = true;
};

// Reads tokenizer.json text; errors name `origin` and the offending key.
Result<WordPieceModel> parse_wordpiece_json(std::string_view json, const std::string& origin);

}  // namespace shardserve::tok
