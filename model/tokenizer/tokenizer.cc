// Tokenizer: special-token partitioning, encode, token pieces and decode. The algorithms
// live in bpe.cc, spm.cc and pretokenizer.cc; the vocabulary in vocab.cc.
#include "model/tokenizer/tokenizer.h"

#include <utility>

#include "model/tokenizer/bpe.h"
#include "model/tokenizer/pretokenizer.h"
#include "model/tokenizer/spm.h"
#include "model/tokenizer/unicode.h"
#include "model/tokenizer/vocab.h"

namespace shardserve {

using tok::kAttrByte;
using tok::kAttrControl;
using tok::kAttrLstrip;
using tok::kAttrNormal;
using tok::kAttrRstrip;
using tok::kAttrUnknown;
using tok::kAttrUserDefined;
using tok::kNoToken;
using tok::Vocab;
using tok::VocabType;

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 ▁

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
  }
  out.append(s, pos);
  s = std::move(out);
}

// A part of the input: raw text [offset, offset + length) or one special token.
struct Fragment {
  TokenId token;  // kNoToken for raw text
  size_t offset;
  size_t length;
};

// llama.cpp's tokenizer_st_partition: for each special token (longest first), split every
// raw fragment at its non-overlapping occurrences, left to right. Tokens with lstrip /
// rstrip swallow ASCII whitespace on that side. Only the tokens that occur in the text can
// split a fragment (fragments are parts of it), so only those are scanned for: the result is
// llama.cpp's, at a cost that does not grow with the thousands of special tokens.
std::vector<Fragment> partition(const Vocab& v, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({kNoToken, 0, text.size()});
  for (uint32_t k : v.special_in(text)) {
    const TokenId special = v.special_tokens[k];
    const uint32_t attr = v.attr[special];
    if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string& tok_text = v.text[special];
    std::vector<Fragment> next;
    next.reserve(frags.size() + 2);
    bool changed = false;
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      size_t off = f.offset, len = f.length;
      while (true) {
        const size_t match = text.substr(0, off + len).find(tok_text, off);
        if (match == std::string_view::npos) {
          if (len > 0) next.push_back({kNoToken, off, len});
          break;
        }
        changed = true;
        if (match > off) {
          size_t left_len = match - off;
          if (attr & kAttrLstrip) {
            while (left_len > 0 && is_ascii_space(text[off + left_len - 1])) --left_len;
          }
          if (left_len > 0) next.push_back({kNoToken, off, left_len});
        }
        next.push_back({special, 0, 0});
        if (match + tok_text.size() >= off + len) break;
        size_t right_off = match + tok_text.size();
        size_t right_len = len - ((match - off) + tok_text.size());
        if (attr & kAttrRstrip) {
          while (right_len > 0 && is_ascii_space(text[right_off])) {
            ++right_off;
            --right_len;
          }
        }
        off = right_off;
        len = right_len;
      }
    }
    if (changed) frags = std::move(next);
  }
  return frags;
}

uint8_t parse_byte_token(const std::string& text) {
  // "<0xXX>"; llama.cpp reads the two characters after "<0x" with strtol.
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (text.size() < 4) return 0;
  const int hi = hex(text[3]);
  if (hi < 0) return 0;
  const int lo = text.size() > 4 ? hex(text[4]) : -1;
  return static_cast<uint8_t>(lo < 0 ? hi : hi * 16 + lo);
}

// llama_decode_text: byte-level alphabet back to bytes.
std::string decode_byte_level(const std::string& text) {
  std::string out;
  for (uint32_t cpt : tok::decode_utf8_lenient(text)) {
    const int byte = tok::unicode_to_byte(cpt);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
      continue;
    }
    std::string utf8;
    tok::append_utf8(utf8, cpt);
    out += "[UNK_BYTE_0x";
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned char c : utf8) {
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
    out += text + "]";
  }
  return out;
}

// llama_token_to_piece(special = true, lstrip = 0).
std::string make_piece(const Vocab& v, TokenId id) {
  const uint32_t attr = v.attr[id];
  const std::string& text = v.text[id];
  if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return text;
  if (attr & kAttrNormal) {
    if (v.type == VocabType::kSpm) {
      std::string s = text;
      replace_all(s, kSpmSpace, " ");
      return s;
    }
    return decode_byte_level(text);
  }
  if (attr & kAttrByte) return std::string(1, static_cast<char>(parse_byte_token(text)));
  return {};  // unused / undefined
}

// The three in-place passes of llama.cpp's clean_up_tokenization_spaces, verbatim in effect.
void clean_spaces(std::string& t) {
  const int n1 = static_cast<int>(t.size());
  int total = n1 ? 1 : 0;
  for (int i = 1; i < n1; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    t[total++] = x;
  }
  const int n2 = total;
  total = n2 ? 1 : 0;
  for (int i = 1; i < n2; ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < n2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
      --total;
      t[++i] = '\0';
    }
    t[total++] = x;
  }
  const int n3 = total;
  total = n3 ? 1 : 0;
  for (int i = 1; i < n3; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < n3) {
      const char x1 = t[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < n3) {
        const char x2 = t[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
      }
    }
    t[total++] = x;
  }
  t.resize(static_cast<size_t>(total));
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::File& file) {
  auto vocab = tok::load_vocab(file);
  if (!vocab.ok()) return vocab.error();
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  auto v = std::make_unique<Vocab>(std::move(vocab).value());
  if (v->type == VocabType::kBpe) {
    auto pre = tok::PreTokenizer::create(v->pre);
    if (!pre.ok()) return pre.error();
    t->pre_ = std::move(pre).value();
  }
  t->pieces_.resize(v->text.size());
  for (TokenId id = 0; id < v->n_vocab(); ++id) t->pieces_[id] = make_piece(*v, id);
  t->vocab_ = std::move(v);
  return t;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const Vocab& v = *vocab_;
  std::vector<TokenId> out;
  const std::vector<Fragment> frags = partition(v, text, parse_special);
  if (add_special && v.add_bos) out.push_back(v.bos);

  if (v.type == VocabType::kSpm) {
    bool prev_special = true;  // the first fragment gets the space prefix
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
        prev_special = true;
        continue;
      }
      std::string s = (v.add_space_prefix && prev_special) ? " " : "";
      s.append(text.substr(f.offset, f.length));
      replace_all(s, " ", kSpmSpace);
      tok::spm_encode(v, s, out);
      prev_special = false;
    }
  } else {
    tok::BpeEncoder bpe(v);
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
        continue;
      }
      for (const std::string& word : pre_->split(text.substr(f.offset, f.length)))
        bpe.encode_word(word, out);
    }
  }

  if (add_special && v.add_eos) out.push_back(v.eos);
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id) const {
  return vocab_->valid(id) ? pieces_[id] : std::string();
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  const Vocab& v = *vocab_;
  std::string out;
  bool remove_space = v.add_space_prefix;
  for (TokenId id : ids) {
    if (!v.valid(id) || (skip_special && (v.attr[id] & (kAttrUnknown | kAttrControl)))) {
      remove_space = false;
      continue;
    }
    std::string_view piece = pieces_[id];
    if (remove_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    remove_space = false;
    out.append(piece);
  }
  if (v.clean_spaces) clean_spaces(out);
  return out;
}

int32_t Tokenizer::n_vocab() const {
  return vocab_->n_vocab();
}
TokenId Tokenizer::bos_id() const {
  return vocab_->bos;
}
TokenId Tokenizer::eos_id() const {
  return vocab_->eos;
}
TokenId Tokenizer::eot_id() const {
  return vocab_->eot;
}
bool Tokenizer::add_bos() const {
  return vocab_->add_bos;
}
bool Tokenizer::add_eos() const {
  return vocab_->add_eos;
}

bool Tokenizer::is_special(TokenId id) const {
  return vocab_->valid(id) && (vocab_->attr[id] & (kAttrControl | kAttrUnknown));
}

bool Tokenizer::is_end_of_generation(TokenId id) const {
  return vocab_->eog.count(id) > 0;
}

std::optional<TokenId> Tokenizer::find(std::string_view token_text) const {
  const TokenId id = vocab_->find(token_text);
  if (id == kNoToken) return std::nullopt;
  return id;
}

const std::string& Tokenizer::token_text(TokenId id) const {
  static const std::string kEmpty;
  return vocab_->valid(id) ? vocab_->text[id] : kEmpty;
}

const std::string& Tokenizer::model_type() const {
  return vocab_->model_name;
}
const std::string& Tokenizer::pre_type() const {
  return vocab_->pre_name;
}

}  // namespace shardserve
