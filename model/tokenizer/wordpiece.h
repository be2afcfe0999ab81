// Text <-> token ids for BERT's WordPiece vocabularies, read from a HuggingFace
// tokenizer.json (model WordPiece, normalizer BertNormalizer, pre-tokenizer
// BertPreTokenizer, post-processor TemplateProcessing or BertProcessing, decoder
// WordPiece).
//
// encode gives the ids HuggingFace's BertTokenizerFast (the Rust tokenizers library that
// sentence-transformers uses) gives with truncation and padding off: added tokens written
// in the text ("[MASK]", "[SEP]") become their ids as there; the rest is normalized,
// split into words and each word into the longest vocabulary pieces first, "##" marking a
// piece that continues a word; a word that cannot be split, or is longer than
// max_input_chars_per_word characters, is one [UNK]. The tokenizer never truncates: the
// caller decides what a too-long input means. See bert_text.h for the Unicode rules.
//
// Immutable after construction and thread-safe. Loading errors name the file and the
// tokenizer.json key that is missing or wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/token_id.h"

namespace shardserve {

namespace tok {
struct WordPieceModel;
}  // namespace tok

class WordPieceTokenizer {
 public:
  static Result<std::unique_ptr<WordPieceTokenizer>> from_json_file(const std::string& path);
  // The same from tokenizer.json text; `origin` names it in error messages.
  static Result<std::unique_ptr<WordPieceTokenizer>> from_json(std::string_view json,
                                                               const std::string& origin);
  ~WordPieceTokenizer();
  WordPieceTokenizer(const WordPieceTokenizer&) = delete;
  WordPieceTokenizer& operator=(const WordPieceTokenizer&) = delete;

  // add_special: wrap the ids as the post-processor says ([CLS] ... [SEP]). Never fails:
  // invalid UTF-8 becomes U+FFFD, which cleaning then drops. Linear in the text (times
  // the number of added tokens, 5 for BERT).
  std::vector<TokenId> encode(std::string_view text, bool add_special) const;
  // Tokens joined as HuggingFace's WordPiece decoder does: "##" pieces glued to the word
  // before them, others after a space, then its cleanup (" ." -> ".", " n't" -> "n't",
  // ...). Ids outside [0, n_vocab) are skipped; added special tokens too if skip_special.
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;

  int32_t n_vocab() const;  // one past the largest id of the vocabulary and added tokens
  TokenId cls_id() const;   // prepended by encode(add_special); -1 if none
  TokenId sep_id() const;   // appended by encode(add_special); -1 if none
  TokenId pad_id() const;   // tokenizer.json's padding.pad_id, else "[PAD]"; -1 if none
  TokenId unk_id() const;
  // The vocabulary entry ("hello", "##lo", "[CLS]"); "" for ids outside [0, n_vocab).
  const std::string& token_text(TokenId id) const;

 private:
  explicit WordPieceTokenizer(std::unique_ptr<const tok::WordPieceModel> model);
  std::unique_ptr<const tok::WordPieceModel> model_;
};

}  // namespace shardserve
