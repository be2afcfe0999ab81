// Text <-> token ids for the vocabularies GGUF files carry.
//
// Built from a GGUF file's `tokenizer.ggml.*` metadata: byte-level BPE (`gpt2` model with
// the `gpt2`, `llama-bpe`, `smollm`, `qwen2` pre-tokenizers, plus `default` and
// `starcoder`) and SentencePiece-style (`llama` model). Special and added tokens (control /
// user-defined types) are matched verbatim in the input when `parse_special` is set.
// Results match llama.cpp's tokenizer on the same file (llama_tokenize, llama_detokenize,
// llama_token_to_piece with special = true). A Tokenizer is immutable after construction
// and thread-safe; it does not reference the gguf::File after from_gguf returns.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/token_id.h"
#include "model/gguf/gguf.h"

namespace shardserve {

namespace tok {
struct Vocab;
class PreTokenizer;
}  // namespace tok

class Tokenizer {
 public:
  // Errors name the missing or malformed metadata key, or the unsupported model/pre type.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::File& file);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: prepend BOS (and append EOS) as the vocabulary's add_bos/add_eos flags say.
  // parse_special: text of special tokens in `text` becomes those tokens (user-defined
  // tokens are always matched, as in llama.cpp). Never fails: invalid UTF-8 is tokenized
  // as U+FFFD. Cost is linear in the text (plus one scan per special token that occurs in
  // it, however many the vocabulary has).
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;
  // The raw bytes a token stands for (may be part of a UTF-8 character). Special tokens
  // render as their text; unused tokens and ids outside [0, n_vocab) render as "".
  std::string token_to_piece(TokenId id) const;
  // Concatenated pieces; special tokens are rendered unless skip_special. Applies
  // llama.cpp's detokenizer rules: SPM drops the leading space of the first token, gpt-2
  // style vocabularies clean " ," " ." " 's" etc. The bytes may be invalid UTF-8 when the
  // ids split a character; use IncrementalDecoder for streaming.
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;

  int32_t n_vocab() const;
  TokenId bos_id() const;             // -1 if none
  TokenId eos_id() const;             // -1 if none
  TokenId eot_id() const;             // -1 if none: end of turn (<|im_end|>, <|eot_id|>, ...)
  bool add_bos() const;               // whether encode(add_special = true) prepends BOS
  bool add_eos() const;               // whether encode(add_special = true) appends EOS
  bool is_special(TokenId id) const;  // control (or unknown) tokens: not text
  bool is_end_of_generation(TokenId id) const;  // eos, eot, <|im_end|> and similar
  std::optional<TokenId> find(std::string_view token_text) const;  // exact vocab entry
  // The vocabulary entry as stored in the file (e.g. "Ġthe", "▁the", "<0x0A>"); "" if out
  // of range.
  const std::string& token_text(TokenId id) const;
  // "gpt2" (byte-level BPE) or "llama" (SentencePiece), and the pre-tokenizer name.
  const std::string& model_type() const;
  const std::string& pre_type() const;

 private:
  Tokenizer();

  std::unique_ptr<const tok::Vocab> vocab_;
  std::unique_ptr<const tok::PreTokenizer> pre_;  // BPE only
  std::vector<std::string> pieces_;               // [n_vocab] token_to_piece, precomputed
};

// Turns a stream of token ids into text without ever emitting part of a UTF-8 character:
// bytes of an incomplete character are held until the character completes. Bytes that can
// never form a character become U+FFFD at once, so every string returned is valid UTF-8.
// Pieces are concatenated as token_to_piece gives them (no leading-space removal or space
// cleaning: the stream usually continues a prompt). One decoder per stream; not
// thread-safe; the Tokenizer must outlive it.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special = true);
  std::string push(TokenId id);  // text completed by this token (possibly empty)
  std::string flush();           // whatever is held (invalid bytes become U+FFFD)

 private:
  std::string drain(bool at_end);

  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;  // bytes not yet returned: an incomplete UTF-8 character
};

}  // namespace shardserve
