#include "model/tokenizer/bert_text.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <cstdint>
#include <cstring>

#include "base/check.h"

namespace shardserve::tok {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// The Unicode version of the category tables HuggingFace tokenizers uses (the
// unicode_categories crate): U+2E42 (8.0) is punctuation there, U+2E43 (9.0) is not.
constexpr UVersionInfo kHfCategoryVersion = {8, 0, 0, 0};

// The characters assigned by Unicode 8.0 whose category has since moved into or out of
// the classes BERT looks at (control, punctuation, nonspacing mark), with their 8.0
// category. Found by comparing Unicode 8.0's categories (the tables of PyPI's
// unicodedata2 8.0.0) with ICU's over every code point; with them, every code point alone
// and between letters tokenizes as in HuggingFace, and wordpiece_golden.json checks each.
struct CategoryIn8 {
  char32_t c;
  int8_t category;
};
constexpr CategoryIn8 kChangedSince8[] = {
    {0x166D, U_OTHER_PUNCTUATION},       // CANADIAN SYLLABICS CHI SIGN, now So
    {0x1734, U_NON_SPACING_MARK},        // HANUNOO SIGN PAMUDPOD, now Mc
    {0x1885, U_OTHER_LETTER},            // MONGOLIAN LETTER ALI GALI BALUDA, now Mn
    {0x1886, U_OTHER_LETTER},            // MONGOLIAN LETTER ALI GALI THREE BALUDA, now Mn
    {0xA9BD, U_COMBINING_SPACING_MARK},  // JAVANESE CONSONANT SIGN KERET, now Mn
    {0x111C9, U_OTHER_PUNCTUATION},      // SHARADA SANDHI MARK, now Mn
};

// General category as HuggingFace sees it: its Unicode 8.0 category, U_UNASSIGNED for
// characters assigned later.
int8_t hf_category(char32_t c) {
  const auto cp = static_cast<UChar32>(c);
  if (c < 0x80) return u_charType(cp);
  UVersionInfo age;
  u_charAge(cp, age);
  if (std::memcmp(age, kHfCategoryVersion, sizeof(UVersionInfo)) > 0) return U_UNASSIGNED;
  for (const CategoryIn8& changed : kChangedSince8)
    if (changed.c == c) return changed.category;
  return u_charType(cp);
}

bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;  // BERT counts these as whitespace
  const int8_t cat = hf_category(c);
  return cat == U_CONTROL_CHAR || cat == U_FORMAT_CHAR || cat == U_PRIVATE_USE_CHAR ||
         cat == U_SURROGATE;
}

bool is_whitespace(char32_t c) {
  return u_isUWhiteSpace(static_cast<UChar32>(c));  // includes \t \n \r
}

// BERT's "CJK Unified Ideographs" list as HuggingFace spells it (its fifth range starts at
// U+2B920, not U+2B820 as in Google's BERT and transformers' slow BertTokenizer).
bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// BERT treats every non-alphanumeric printable ASCII character as punctuation.
bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  if (c < 0x80) return false;
  return (U_MASK(hf_category(c)) & U_GC_P_MASK) != 0;
}

bool is_nonspacing_mark(char32_t c) {
  return hf_category(c) == U_NON_SPACING_MARK;
}

bool all_ascii(std::u32string_view text) {
  for (char32_t c : text)
    if (c >= 0x80) return false;
  return true;
}

std::u32string nfd(std::u32string_view text) {
  if (all_ascii(text)) return std::u32string(text);
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* nfd = unorm2_getNFDInstance(&status);
  SS_CHECK(U_SUCCESS(status), "ICU has no NFD data: the ICU installation is broken");
  std::u16string in;
  in.reserve(text.size());
  for (char32_t c : text) {
    UChar buf[U16_MAX_LENGTH];
    int32_t n = 0;
    UBool error = false;
    U16_APPEND(buf, n, U16_MAX_LENGTH, static_cast<UChar32>(c), error);
    SS_CHECK(!error);  // bert_normalize replaced what is not a scalar value
    in.append(reinterpret_cast<const char16_t*>(buf), static_cast<size_t>(n));
  }
  // Most text grows little; when it grows more, ICU says how much room it needs.
  std::u16string out(in.size() * 2 + 16, u'\0');
  int32_t len = unorm2_normalize(
      nfd, reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()),
      reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    out.assign(static_cast<size_t>(len), u'\0');
    len = unorm2_normalize(nfd, reinterpret_cast<const UChar*>(in.data()),
                           static_cast<int32_t>(in.size()), reinterpret_cast<UChar*>(out.data()),
                           static_cast<int32_t>(out.size()), &status);
  }
  SS_CHECK(U_SUCCESS(status));
  std::u32string result;
  result.reserve(static_cast<size_t>(len));
  for (int32_t i = 0; i < len;) {
    UChar32 c;
    U16_NEXT(out.data(), i, len, c);
    result.push_back(static_cast<char32_t>(c));
  }
  return result;
}

// Appends the full lowercase mapping of `c` on its own (no context: a capital sigma always
// becomes U+03C3, as Rust's char::to_lowercase does), in the root locale.
void append_lowercase(std::u32string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    return;
  }
  UChar src[U16_MAX_LENGTH];
  int32_t n = 0;
  UBool error = false;
  U16_APPEND(src, n, U16_MAX_LENGTH, static_cast<UChar32>(c), error);
  UChar dst[16];  // the longest full lowercase mapping is 3 code points
  UErrorCode status = U_ZERO_ERROR;
  const int32_t len = u_strToLower(dst, 16, src, n, "", &status);
  if (error || U_FAILURE(status)) {
    out.push_back(c);
    return;
  }
  for (int32_t i = 0; i < len;) {
    UChar32 lower;
    U16_NEXT(dst, i, len, lower);
    out.push_back(static_cast<char32_t>(lower));
  }
}

}  // namespace

std::u32string decode_utf8_strict(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t length = text.size();
  for (size_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT_OR_FFFD(s, i, length, c);
    out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = kReplacement;
    uint8_t buf[U8_MAX_LENGTH];
    int32_t n = 0;
    U8_APPEND_UNSAFE(buf, n, static_cast<UChar32>(c));
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
  }
  return out;
}

std::u32string bert_normalize(std::u32string_view text, const BertNormalizerOptions& options) {
  std::u32string s;
  s.reserve(text.size());
  for (char32_t c : text) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = kReplacement;
    if (options.clean_text) {
      if (c == 0 || c == kReplacement || is_control(c)) continue;
      if (is_whitespace(c)) c = ' ';
    }
    if (options.handle_chinese_chars && is_chinese_char(c)) {
      s.push_back(' ');
      s.push_back(c);
      s.push_back(' ');
    } else {
      s.push_back(c);
    }
  }
  if (options.strip_accents.value_or(options.lowercase)) {
    std::u32string decomposed = nfd(s);
    s.clear();
    for (char32_t c : decomposed)
      if (!is_nonspacing_mark(c)) s.push_back(c);
  }
  if (options.lowercase) {
    std::u32string lower;
    lower.reserve(s.size());
    for (char32_t c : s) append_lowercase(lower, c);
    s = std::move(lower);
  }
  return s;
}

std::vector<std::u32string> bert_pre_tokenize(std::u32string_view text) {
  std::vector<std::u32string> words;
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (char32_t c : text) {
    if (is_whitespace(c)) {
      flush();
    } else if (is_punctuation(c)) {
      flush();
      words.emplace_back(1, c);
    } else {
      word.push_back(c);
    }
  }
  flush();
  return words;
}

bool is_regex_space(char32_t c) {
  return u_isUWhiteSpace(static_cast<UChar32>(c));
}

// UTS #18's \w, which Rust's regex crate implements: Alphabetic, marks, decimal digits,
// connector punctuation and Join_Control.
bool is_regex_word(char32_t c) {
  const auto cp = static_cast<UChar32>(c);
  if (u_hasBinaryProperty(cp, UCHAR_ALPHABETIC) || u_hasBinaryProperty(cp, UCHAR_JOIN_CONTROL))
    return true;
  return (U_GET_GC_MASK(cp) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

}  // namespace shardserve::tok
