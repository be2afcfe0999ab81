#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <algorithm>

#include "model/tokenizer/unicode.h"

namespace shardserve::tok {

namespace {

// The GPT-2, Llama-3 and Qwen2 patterns llama.cpp runs through hand-written splitters.
constexpr std::string_view kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr std::string_view kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// llama.cpp's whitespace set (the Unicode White_Space property), as class members.
constexpr std::string_view kWhitespace =
    "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

// Rewrites \s and \S with kWhitespace so PCRE2's notion of space cannot differ from
// llama.cpp's (PCRE2's \s follows its own Unicode tables and version).
std::string expand_whitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char d = pattern[++i];
      if (d == 's') {
        if (in_class) {
          out.append(kWhitespace);
        } else {
          out.append("[").append(kWhitespace).append("]");
        }
      } else if (d == 'S' && !in_class) {
        out.append("[^").append(kWhitespace).append("]");
      } else {
        out.push_back(c);
        out.push_back(d);
      }
      continue;
    }
    if (c == '[' && !in_class)
      in_class = true;
    else if (c == ']' && in_class)
      in_class = false;
    out.push_back(c);
  }
  return out;
}

// Code point index range [begin, end) of the text.
struct Span {
  size_t begin;
  size_t end;
};

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  // llama.cpp's hand-written splitters emit each unmatched code point on its own; its
  // std::regex path emits a whole unmatched gap as one piece.
  bool gap_per_char = false;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string> PreTokenizer::patterns(PreType type) {
  switch (type) {
    case PreType::kGpt2:
      return {std::string(kGpt2)};
    case PreType::kLlama3:
      return {std::string(kLlama3)};
    case PreType::kQwen2:
      return {std::string(kQwen2)};
    case PreType::kSmollm:
    case PreType::kStarcoder:
      return {"\\p{N}", std::string(kGpt2)};
    case PreType::kDefault:
      break;
  }
  return {"[\\p{P}\\$\\+<=>\\^~\\|]+", std::string(kGpt2), "\\p{N}+", "[0-9][0-9][0-9]"};
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(PreType type) {
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  for (const std::string& pattern : patterns(type)) {
    const std::string expanded = expand_whitespace(pattern);
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    auto regex = std::make_unique<Regex>();
    regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expanded.data()), expanded.size(),
                                PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr);
    if (!regex->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return Error{"pre-tokenizer regex '" + pattern + "' does not compile at offset " +
                   std::to_string(err_offset) + ": " + reinterpret_cast<const char*>(msg)};
    }
    pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
    regex->gap_per_char = pattern == kGpt2 || pattern == kLlama3 || pattern == kQwen2;
    pre->regexes_.push_back(std::move(regex));
  }
  return pre;
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  const std::vector<uint32_t> cpts = decode_utf8_lenient(text);
  const size_t n = cpts.size();

  // What PCRE2 sees: valid UTF-8, with code points it would reject (surrogates) as U+FFFD
  // (same class for every regex here: not a letter, number or space).
  std::string subject;
  subject.reserve(text.size() + 8);
  std::vector<size_t> byte_of(n + 1);  // code point -> byte offset in subject
  for (size_t i = 0; i < n; ++i) {
    byte_of[i] = subject.size();
    const uint32_t c = cpts[i];
    append_utf8(subject, (c >= 0xD800 && c <= 0xDFFF) ? kReplacementChar : c);
  }
  byte_of[n] = subject.size();
  std::vector<uint32_t> cpt_at(subject.size() + 1, 0);  // byte offset -> code point index
  for (size_t i = 0; i <= n; ++i) cpt_at[byte_of[i]] = static_cast<uint32_t>(i);

  std::vector<Span> pieces;
  if (n > 0) pieces.push_back({0, n});
  for (const auto& regex : regexes_) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(regex->code, nullptr);
    std::vector<Span> next;
    next.reserve(pieces.size() * 2);
    auto emit_gap = [&](size_t b, size_t e) {
      if (b >= e) return;
      if (regex->gap_per_char) {
        for (size_t i = b; i < e; ++i) next.push_back({i, i + 1});
      } else {
        next.push_back({b, e});
      }
    };
    for (const Span& piece : pieces) {
      const auto* base = reinterpret_cast<PCRE2_SPTR>(subject.data() + byte_of[piece.begin]);
      const size_t len = byte_of[piece.end] - byte_of[piece.begin];
      const size_t base_byte = byte_of[piece.begin];
      size_t start = 0;  // byte offset within the piece
      size_t prev_end = piece.begin;
      while (start < len) {
        const int rc = pcre2_match(regex->code, base, len, start, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0) break;  // no (further) match; errors cannot happen on valid UTF-8
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t mb = cpt_at[base_byte + ov[0]];
        const size_t me = cpt_at[base_byte + ov[1]];
        if (me == mb) {  // empty match: step over one code point
          start = byte_of[mb + 1] - base_byte;
          continue;
        }
        emit_gap(prev_end, mb);
        next.push_back({mb, me});
        prev_end = me;
        start = ov[1];
      }
      emit_gap(prev_end, piece.end);
    }
    pcre2_match_data_free(md);
    pieces = std::move(next);
  }

  std::vector<std::string> words;
  words.reserve(pieces.size());
  for (const Span& p : pieces) {
    std::string w;
    for (size_t i = p.begin; i < p.end; ++i) append_utf8(w, cpts[i]);
    words.push_back(std::move(w));
  }
  return words;
}

}  // namespace shardserve::tok
