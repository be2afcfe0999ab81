// BERT's text preparation before WordPiece, as HuggingFace tokenizers does it: the
// BertNormalizer (clean, pad CJK ideographs, strip accents, lowercase) and the
// BertPreTokenizer (split on whitespace, isolate punctuation), over code points.
//
// Unicode properties come from ICU. HuggingFace takes general categories (control, mark,
// punctuation) from tables of Unicode 8.0, so a character assigned later has no category
// there: it is never removed as a control character, never dropped as an accent and never
// split off as punctuation. ICU's character age reproduces that; the six older characters
// whose category has changed since 8.0 are listed in bert_text.cc. Whitespace, lowercase
// mappings and NFD are today's Unicode, as in HuggingFace. Stateless and thread-safe;
// never fails.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardserve::tok {

// Code points of `text`. Each ill-formed UTF-8 sequence (maximal subpart, as Python's
// errors="replace") becomes one U+FFFD; surrogates and overlongs are ill-formed.
std::u32string decode_utf8_strict(std::string_view text);
// UTF-8 of `text`; code points that are not Unicode scalar values become U+FFFD.
std::string encode_utf8(std::u32string_view text);

struct BertNormalizerOptions {
  bool clean_text = true;             // drop NUL, U+FFFD and controls; whitespace -> ' '
  bool handle_chinese_chars = true;   // ' ' around each CJK ideograph
  std::optional<bool> strip_accents;  // NFD then drop nonspacing marks; unset: = lowercase
  bool lowercase = true;              // full per-character lowercase mapping
};

// Values that are not Unicode scalar values are treated as U+FFFD.
std::u32string bert_normalize(std::u32string_view text, const BertNormalizerOptions& options);

// The words of `text`: split at whitespace (dropped) and around each punctuation
// character (kept as a word of its own): ASCII 33-47, 58-64, 91-96, 123-126 and the
// Unicode P* categories. No empty words.
std::vector<std::u32string> bert_pre_tokenize(std::u32string_view text);

// The character classes of the regexes (`\s`, `\w`) that HuggingFace's added-token
// matching uses for lstrip/rstrip and single_word.
bool is_regex_space(char32_t c);
bool is_regex_word(char32_t c);

}  // namespace shardserve::tok
