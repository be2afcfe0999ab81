#include "model/tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <utility>

#include "model/tokenizer/unicode.h"

namespace shardserve::tok {

TokenId Vocab::find(std::string_view s) const {
  auto it = token_to_id.find(std::string(s));
  return it == token_to_id.end() ? kNoToken : it->second;
}

TokenId Vocab::byte_to_token(uint8_t byte) const {
  if (type == VocabType::kSpm) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const char buf[6] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
    const TokenId id = find(std::string_view(buf, 6));
    if (id != kNoToken) return id;
    return find(std::string(1, static_cast<char>(byte)));
  }
  return find(byte_to_unicode(byte));
}

std::string Vocab::merge_key(std::string_view left, std::string_view right) {
  std::string key;
  key.reserve(left.size() + right.size() + 1);
  key.append(left);
  key.push_back('\0');
  key.append(right);
  return key;
}

int Vocab::rank(std::string_view left, std::string_view right) const {
  auto it = merge_rank.find(merge_key(left, right));
  return it == merge_rank.end() ? -1 : it->second;
}

namespace {

constexpr std::string_view kKeyModel = "tokenizer.ggml.model";
constexpr std::string_view kKeyPre = "tokenizer.ggml.pre";
constexpr std::string_view kKeyTokens = "tokenizer.ggml.tokens";
constexpr std::string_view kKeyTypes = "tokenizer.ggml.token_type";
constexpr std::string_view kKeyScores = "tokenizer.ggml.scores";
constexpr std::string_view kKeyMerges = "tokenizer.ggml.merges";

Error key_error(std::string_view key, std::string_view what) {
  return Error{"tokenizer metadata '" + std::string(key) + "': " + std::string(what)};
}

// An optional key: absent leaves `out` alone; present with the wrong type is an Error.
Status read_opt_bool(const gguf::File& file, std::string_view key, bool& out) {
  if (!file.find(key)) return Status::Ok();
  auto v = file.get_bool(key);
  if (!v.ok()) return v.error();
  out = v.value();
  return Status::Ok();
}

struct PreInfo {
  PreType type;
  bool clean_spaces;
  bool ignore_merges;
  bool add_bos;
};

// Pre-tokenizer names llama.cpp maps onto the families supported here.
bool lookup_pre(std::string_view name, PreInfo& info) {
  struct Entry {
    std::initializer_list<std::string_view> names;
    PreInfo info;
  };
  static const Entry kEntries[] = {
      {{"default"}, {PreType::kDefault, true, false, false}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"},
       {PreType::kLlama3, true, true, true}},
      {{"gpt-2", "gpt2", "phi-2"}, {PreType::kGpt2, true, false, false}},
      {{"smollm"}, {PreType::kSmollm, false, false, false}},
      {{"starcoder", "refact", "codeshell"}, {PreType::kStarcoder, true, false, false}},
      {{"qwen2", "deepseek-r1-qwen"}, {PreType::kQwen2, false, false, false}},
  };
  for (const auto& e : kEntries) {
    for (auto n : e.names) {
      if (n == name) {
        info = e.info;
        return true;
      }
    }
  }
  return false;
}

Status load_type(const gguf::File& file, Vocab& v) {
  auto model = file.get_string(kKeyModel);
  if (!model.ok()) return model.error();
  v.model_name = std::string(model.value());
  if (const gguf::Value* pre = file.find(kKeyPre)) {
    if (pre->type != gguf::ValueType::String) return key_error(kKeyPre, "expected a string");
    v.pre_name = std::string(pre->str);
  }

  if (v.model_name == "llama") {
    v.type = VocabType::kSpm;
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
    v.pre = PreType::kDefault;
    v.add_space_prefix = true;
    v.clean_spaces = false;
    v.add_bos = true;
    v.add_eos = false;
  } else if (v.model_name == "gpt2") {
    v.type = VocabType::kBpe;
    v.bos = 11;
    v.eos = 11;
    v.add_space_prefix = false;
    v.clean_spaces = true;
    PreInfo info{PreType::kDefault, true, false, false};
    if (!v.pre_name.empty() && !lookup_pre(v.pre_name, info)) {
      return Error{"unsupported pre-tokenizer type '" + v.pre_name + "' (" + std::string(kKeyPre) +
                   "); supported: default, gpt-2, llama-bpe (llama3), smollm, starcoder, qwen2"};
    }
    v.pre = info.type;
    v.clean_spaces = info.clean_spaces;
    v.ignore_merges = info.ignore_merges;
    v.add_bos = info.add_bos;
  } else {
    return Error{"unsupported tokenizer model '" + v.model_name + "' (" + std::string(kKeyModel) +
                 "); supported: gpt2 (byte-level BPE), llama (SentencePiece)"};
  }
  if (auto s = read_opt_bool(file, "tokenizer.ggml.add_space_prefix", v.add_space_prefix); !s)
    return s;
  return Status::Ok();
}

Status load_tokens(const gguf::File& file, Vocab& v) {
  auto tokens = file.get_string_array(kKeyTokens);
  if (!tokens.ok()) return tokens.error();
  const size_t n = tokens.value().size();
  if (n == 0) return key_error(kKeyTokens, "the vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return key_error(kKeyTokens, "too many tokens");

  std::vector<float> scores;
  if (const gguf::Value* sv = file.find(kKeyScores)) {
    if (sv->type == gguf::ValueType::Array && sv->elem_type == gguf::ValueType::I32) {
      auto is = file.get_i32_array(kKeyScores);
      if (!is.ok()) return is.error();
      scores.assign(is.value().begin(), is.value().end());
    } else {
      auto fs = file.get_f32_array(kKeyScores);
      if (!fs.ok()) return fs.error();
      scores = std::move(fs.value());
    }
    if (scores.size() < n) {
      return key_error(kKeyScores, "has " + std::to_string(scores.size()) + " entries for " +
                                       std::to_string(n) + " tokens");
    }
  }
  std::vector<int32_t> types;
  if (const gguf::Value* tv = file.find(kKeyTypes)) {
    if (tv->type != gguf::ValueType::Array || tv->elem_type != gguf::ValueType::I32)
      return key_error(kKeyTypes, "expected an array of int32");
    auto ts = file.get_i32_array(kKeyTypes);
    if (!ts.ok()) return ts.error();
    types = std::move(ts.value());
    if (types.size() < n) {
      return key_error(kKeyTypes, "has " + std::to_string(types.size()) + " entries for " +
                                      std::to_string(n) + " tokens");
    }
  }

  v.text.resize(n);
  v.score.assign(n, 0.0f);
  v.attr.assign(n, kAttrNormal);
  v.token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string word(tokens.value()[i]);
    if (word.empty()) word = "[EMPTY_" + std::to_string(i) + "]";
    v.token_to_id[word] = static_cast<TokenId>(i);
    v.text[i] = std::move(word);
    if (!scores.empty()) v.score[i] = scores[i];
    if (!types.empty()) {
      switch (types[i]) {
        case 1:
          v.attr[i] = kAttrNormal;
          break;
        case 2:
          v.attr[i] = kAttrUnknown;
          break;
        case 3:
          v.attr[i] = kAttrControl;
          break;
        case 4:
          v.attr[i] = kAttrUserDefined;
          break;
        case 5:
          v.attr[i] = kAttrUnused;
          break;
        case 6:
          v.attr[i] = kAttrByte;
          break;
        default:
          v.attr[i] = kAttrUndefined;
          break;
      }
    }
  }
  return Status::Ok();
}

Status load_merges(const gguf::File& file, Vocab& v) {
  if (v.type != VocabType::kBpe) return Status::Ok();
  auto merges = file.get_string_array(kKeyMerges);
  if (!merges.ok()) return merges.error();
  v.merge_rank.reserve(merges.value().size());
  int rank = 0;
  for (std::string_view m : merges.value()) {
    std::string_view first, second;
    const size_t pos = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
    if (pos != std::string_view::npos) {
      first = m.substr(0, pos);
      second = m.substr(pos + 1);
    }
    v.merge_rank.emplace(Vocab::merge_key(first, second), rank++);
  }
  return Status::Ok();
}

Status load_special_ids(const gguf::File& file, Vocab& v) {
  const std::pair<std::string_view, TokenId*> keys[] = {
      {"tokenizer.ggml.bos_token_id", &v.bos},
      {"tokenizer.ggml.eos_token_id", &v.eos},
      {"tokenizer.ggml.eot_token_id", &v.eot},
      {"tokenizer.ggml.eom_token_id", &v.eom},
      {"tokenizer.ggml.unknown_token_id", &v.unk},
      {"tokenizer.ggml.seperator_token_id", &v.sep},
      {"tokenizer.ggml.padding_token_id", &v.pad},
      {"tokenizer.ggml.mask_token_id", &v.mask},
      {"tokenizer.ggml.fim_pre_token_id", &v.fim_pre},
      {"tokenizer.ggml.fim_suf_token_id", &v.fim_suf},
      {"tokenizer.ggml.fim_mid_token_id", &v.fim_mid},
      {"tokenizer.ggml.fim_pad_token_id", &v.fim_pad},
      {"tokenizer.ggml.fim_rep_token_id", &v.fim_rep},
      {"tokenizer.ggml.fim_sep_token_id", &v.fim_sep},
      {"tokenizer.ggml.prefix_token_id", &v.fim_pre},
      {"tokenizer.ggml.suffix_token_id", &v.fim_suf},
      {"tokenizer.ggml.middle_token_id", &v.fim_mid},
  };
  for (const auto& [key, id] : keys) {
    if (*id != kNoToken && !v.valid(*id)) *id = kNoToken;  // default out of range: disabled
    if (!file.find(key)) continue;
    auto val = file.get_uint(key);
    if (!val.ok()) return val.error();
    // Out of range: llama.cpp keeps the default id; so do we.
    if (val.value() < static_cast<uint64_t>(v.n_vocab())) *id = static_cast<TokenId>(val.value());
  }
  if (auto s = read_opt_bool(file, "tokenizer.ggml.add_bos_token", v.add_bos); !s) return s;
  if (auto s = read_opt_bool(file, "tokenizer.ggml.add_eos_token", v.add_eos); !s) return s;
  if (v.add_bos && !v.valid(v.bos))
    return key_error("tokenizer.ggml.bos_token_id", "add_bos_token is set but no valid BOS id");
  if (v.add_eos && !v.valid(v.eos))
    return key_error("tokenizer.ggml.eos_token_id", "add_eos_token is set but no valid EOS id");
  return Status::Ok();
}

bool in(std::string_view s, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

// llama.cpp recognizes several special tokens by their text; the first match (in id order
// here) fills an unset id, and the token is forced to be a control token.
void infer_special_tokens(Vocab& v) {
  struct Rule {
    TokenId* id;
    std::initializer_list<std::string_view> names;
  };
  const Rule rules[] = {
      {&v.eot,
       {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
        "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}},
      {&v.eom, {"<|eom_id|>"}},
      {&v.fim_pre,
       {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
        "<|code_prefix|>", "<|prefix|>"}},
      {&v.fim_suf,
       {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
        "<|code_suffix|>", "<|suffix|>"}},
      {&v.fim_mid,
       {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
        "<|code_middle|>", "<|middle|>"}},
      {&v.fim_pad, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
      {&v.fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
      {&v.fim_sep, {"<|file_sep|>"}},
  };
  for (TokenId id = 0; id < v.n_vocab(); ++id) {
    // Only the text that maps to this id counts (duplicate texts map to their last id).
    if (v.token_to_id.at(v.text[id]) != id) continue;
    for (const auto& rule : rules) {
      if (*rule.id == kNoToken && in(v.text[id], rule.names)) {
        *rule.id = id;
        v.attr[id] |= kAttrControl;
      }
    }
  }
  for (TokenId id = 0; id < v.n_vocab(); ++id) {
    if ((v.attr[id] & kAttrControl) && v.text[id].find("unused") != std::string::npos)
      v.attr[id] |= kAttrUnused;
  }

  v.eog.clear();
  for (TokenId id : {v.fim_pad, v.fim_rep, v.fim_sep})
    if (id != kNoToken) v.eog.insert(id);
  for (TokenId id = 0; id < v.n_vocab(); ++id) {
    if (v.token_to_id.at(v.text[id]) != id) continue;
    if (in(v.text[id], {"<|eot_id|>",
                        "<|im_end|>",
                        "<|end|>",
                        "<|return|>",
                        "<|call|>",
                        "<|flush|>",
                        "<|calls|>",
                        "<end_of_turn>",
                        "<|endoftext|>",
                        "</s>",
                        "<|eom_id|>",
                        "<EOT>",
                        "_<EOT>",
                        "[EOT]",
                        "[EOS]",
                        "<|end_of_text|>",
                        "<end_of_utterance>",
                        "<eos>",
                        "<turn|>",
                        "<|tool_response>",
                        "<｜end▁of▁sentence｜>",
                        "[e~["})) {
      v.eog.insert(id);
      v.attr[id] |= kAttrControl;
    }
    if (in(v.text[id], {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}))
      v.attr[id] = kAttrUserDefined;
  }
  for (TokenId id : {v.eos, v.eot, v.eom})
    if (id != kNoToken) v.eog.insert(id);

  // gpt-oss / solar-open: "<|end|>" is not end-of-generation when "<|return|>"/"<|call|>" are.
  bool has_return = false, has_call = false, has_flush = false;
  TokenId end_id = kNoToken;
  for (TokenId id : v.eog) {
    const std::string& t = v.text[id];
    if (t == "<|return|>")
      has_return = true;
    else if (t == "<|call|>" || t == "<|calls|>")
      has_call = true;
    else if (t == "<|flush|>")
      has_flush = true;
    else if (t == "<|end|>")
      end_id = id;
  }
  if (end_id != kNoToken && ((has_return && has_call) || (has_call && has_flush))) {
    v.eog.erase(end_id);
    v.attr[end_id] = kAttrUserDefined;
  }
}

void build_special_cache(const gguf::File& file, Vocab& v) {
  for (TokenId id = 0; id < v.n_vocab(); ++id) {
    if (v.attr[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown))
      v.special_tokens.push_back(id);
  }
  std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(),
                   [&](TokenId a, TokenId b) { return v.text[a].size() > v.text[b].size(); });
  for (uint32_t k = 0; k < v.special_tokens.size(); ++k)
    if (!v.text[v.special_tokens[k]].empty()) v.special_by_text.push_back(k);
  const auto text_of = [&](uint32_t k) -> const std::string& {
    return v.text[v.special_tokens[k]];
  };
  // std::string orders bytewise (char_traits<char> compares as unsigned char).
  std::stable_sort(v.special_by_text.begin(), v.special_by_text.end(),
                   [&](uint32_t a, uint32_t b) { return text_of(a) < text_of(b); });
  v.special_first_byte.assign(257, 0);
  for (uint32_t k : v.special_by_text)
    ++v.special_first_byte[static_cast<unsigned char>(text_of(k)[0]) + 1];
  for (size_t b = 1; b < v.special_first_byte.size(); ++b)
    v.special_first_byte[b] += v.special_first_byte[b - 1];

  // Per-model strip attributes llama.cpp sets from the model name (Phi-3's special tokens
  // swallow the whitespace that follows them).
  std::string name;
  if (const gguf::Value* n = file.find("general.name"); n && n->type == gguf::ValueType::String)
    name = std::string(n->str);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (TokenId id : v.special_tokens) v.attr[id] |= kAttrRstrip;
    if (TokenId id = v.find("</s>"); id != kNoToken) v.attr[id] |= kAttrRstrip;
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (TokenId id = v.find(t); id != kNoToken) v.attr[id] &= ~static_cast<uint32_t>(kAttrRstrip);
    }
  }
}

}  // namespace

std::vector<uint32_t> Vocab::special_in(std::string_view s) const {
  std::vector<uint32_t> found;
  if (special_by_text.empty()) return found;
  std::vector<bool> seen(special_tokens.size());
  const auto text_of = [&](uint32_t k) -> const std::string& { return text[special_tokens[k]]; };
  for (size_t i = 0; i < s.size(); ++i) {
    const auto first = static_cast<unsigned char>(s[i]);
    auto lo = special_by_text.begin() + special_first_byte[first];
    auto hi = special_by_text.begin() + special_first_byte[first + 1];
    // [lo, hi): the texts whose first d bytes are s[i, i + d); one of length d (a prefix of the
    // others, so first in bytewise order) occurs at i.
    for (size_t d = 1; lo != hi; ++d) {
      for (; lo != hi && text_of(*lo).size() == d; ++lo) {
        if (!seen[*lo]) {
          seen[*lo] = true;
          found.push_back(*lo);
        }
      }
      if (lo == hi || i + d >= s.size()) break;
      const auto c = static_cast<unsigned char>(s[i + d]);
      const auto byte_d = [&](uint32_t k) { return static_cast<unsigned char>(text_of(k)[d]); };
      lo = std::lower_bound(lo, hi, c, [&](uint32_t k, unsigned char x) { return byte_d(k) < x; });
      hi = std::upper_bound(lo, hi, c, [&](unsigned char x, uint32_t k) { return x < byte_d(k); });
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

Result<Vocab> load_vocab(const gguf::File& file) {
  Vocab v;
  if (auto s = load_type(file, v); !s) return s.error();
  if (auto s = load_tokens(file, v); !s) return s.error();
  if (auto s = load_merges(file, v); !s) return s.error();
  if (auto s = load_special_ids(file, v); !s) return s.error();
  infer_special_tokens(v);
  build_special_cache(file, v);
  return v;
}

}  // namespace shardserve::tok
