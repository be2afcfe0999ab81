// Splits text into the words that byte-level BPE merges within (the "pre-tokenizer").
//
// Each pre-tokenizer type is a list of regexes applied in sequence, as in llama.cpp's
// llm_tokenizer_bpe: every regex splits each piece left by the previous one into its
// matches and the gaps between them. Regexes run in PCRE2 with UTF + UCP (JIT-compiled
// once per PreTokenizer); `\s` is spelled out as llama.cpp's whitespace set so results
// equal llama.cpp's hand-written splitters. Invalid UTF-8 becomes U+FFFD first, exactly
// as llama.cpp does. Immutable after create() and safe to use from many threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/tokenizer/vocab.h"

namespace shardserve::tok {

class PreTokenizer {
 public:
  // Compiles the regexes of `type`; an Error only if PCRE2 rejects one (a bug here).
  static Result<std::unique_ptr<PreTokenizer>> create(PreType type);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // The words of `text`, in order, as UTF-8 (re-encoded from the decoded code points, so
  // malformed input bytes appear as U+FFFD). Concatenated they equal that re-encoding.
  std::vector<std::string> split(std::string_view text) const;

  // The llama.cpp regex list of a pre-tokenizer type (before `\s` expansion).
  static std::vector<std::string> patterns(PreType type);

 private:
  struct Regex;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace shardserve::tok
