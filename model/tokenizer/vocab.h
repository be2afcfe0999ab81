// The vocabulary a Tokenizer works from, loaded from a GGUF file's tokenizer.ggml.* keys.
//
// Loading follows llama.cpp's llama_vocab::load: the same defaults per model type, the
// same token attributes (including the ones it infers from token text: end-of-turn, FIM
// and end-of-generation tokens become control tokens), the same special-token ids and
// add_bos/add_eos/add_space_prefix flags. Errors name the key that is missing or malformed,
// or the unsupported model / pre-tokenizer type. Immutable after load; thread-safe.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/token_id.h"
#include "model/gguf/gguf.h"

namespace shardserve::tok {

inline constexpr TokenId kNoToken = -1;

enum class VocabType { kBpe, kSpm };

// Pre-tokenizer families (regex sets), named as in llama.cpp.
enum class PreType { kDefault, kGpt2, kLlama3, kSmollm, kStarcoder, kQwen2 };

// Token attribute bits, as llama.cpp's llama_token_attr.
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
  kAttrLstrip = 1 << 7,
  kAttrRstrip = 1 << 8,
};

struct Vocab {
  VocabType type = VocabType::kSpm;
  PreType pre = PreType::kDefault;
  std::string model_name;  // tokenizer.ggml.model
  std::string pre_name;    // tokenizer.ggml.pre

  std::vector<std::string> text;  // [n_vocab] token text as stored (byte-level or ▁-escaped)
  std::vector<float> score;       // [n_vocab] SPM merge priority (0 when absent)
  std::vector<uint32_t> attr;     // [n_vocab] TokenAttr bits
  std::unordered_map<std::string, TokenId> token_to_id;  // last id wins on duplicates

  // BPE merge ranks keyed by merge_key(left, right); the first occurrence of a pair wins.
  std::unordered_map<std::string, int> merge_rank;

  TokenId bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken;
  TokenId sep = kNoToken, pad = kNoToken, mask = kNoToken;
  TokenId fim_pre = kNoToken, fim_suf = kNoToken, fim_mid = kNoToken;
  TokenId fim_pad = kNoToken, fim_rep = kNoToken, fim_sep = kNoToken;
  std::set<TokenId> eog;  // tokens that end generation

  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  bool ignore_merges = false;  // a pre-token that is itself a vocab entry skips merging
  bool clean_spaces = false;   // decode removes " ," " ." " 's" etc. (gpt-2 style)

  // Control, user-defined and unknown tokens, longest text first: what parse_special finds.
  std::vector<TokenId> special_tokens;
  // The same tokens by text (indices into special_tokens, texts in bytewise order), and per
  // first byte b the range [special_first_byte[b], special_first_byte[b + 1]) of those whose
  // text starts with b: special_in looks them all up in one pass over a text.
  std::vector<uint32_t> special_by_text;
  std::vector<uint32_t> special_first_byte;  // [257]

  int32_t n_vocab() const { return static_cast<int32_t>(text.size()); }
  bool valid(TokenId id) const { return id >= 0 && id < n_vocab(); }
  TokenId find(std::string_view s) const;
  // The indices into special_tokens, ascending, of the tokens whose text occurs in `s`. Cost:
  // one walk down the texts sharing a prefix with s[i..] per position i, whatever the number
  // of special tokens (Gemma 3 has 6414).
  std::vector<uint32_t> special_in(std::string_view s) const;
  // The token for one raw byte: <0xXX> for SPM (or the byte itself), the mapped code
  // point for byte-level BPE. kNoToken if the vocabulary lacks it.
  TokenId byte_to_token(uint8_t byte) const;
  // Merge rank of the pair, or -1.
  int rank(std::string_view left, std::string_view right) const;
  static std::string merge_key(std::string_view left, std::string_view right);
};

Result<Vocab> load_vocab(const gguf::File& file);

}  // namespace shardserve::tok
