// SentencePiece-style tokenization (llama.cpp's llm_tokenizer_spm_session).
//
// The text (spaces already escaped to U+2581) is split into UTF-8 characters; adjacent
// symbols whose concatenation is a vocabulary entry merge, highest score first (ties:
// leftmost first). Symbols that are not tokens are re-split along the merges that built
// them, down to byte-fallback tokens <0xXX>. Stateless; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "model/tokenizer/vocab.h"

namespace shardserve::tok {

// Appends the tokens of `text` to `out`.
void spm_encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out);

}  // namespace shardserve::tok
