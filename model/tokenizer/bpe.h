// Byte-level BPE over one pre-tokenized word, as llama.cpp's llm_tokenizer_bpe_session.
//
// The word's bytes are mapped to GPT-2's printable alphabet, split into characters, and
// adjacent pairs are merged lowest merge rank first (ties: leftmost first) until no pair
// has a rank; each resulting symbol becomes its vocabulary token. An encoder caches the
// tokens of every word it has seen, so repeated words cost one hash lookup. An encoder
// is cheap, single-threaded state: make one per encode() call.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer/vocab.h"

namespace shardserve::tok {

class BpeEncoder {
 public:
  explicit BpeEncoder(const Vocab& vocab) : vocab_(vocab) {}
  // Appends the tokens of `word` (raw UTF-8 bytes, one pre-tokenizer piece) to `out`.
  void encode_word(std::string_view word, std::vector<TokenId>& out);

 private:
  void merge(const std::string& encoded, std::vector<TokenId>& out) const;

  const Vocab& vocab_;
  std::unordered_map<std::string, std::vector<TokenId>> cache_;
};

}  // namespace shardserve::tok
