// GBNF text pieces for the JSON-schema compiler: char sets, escaping, number ranges, formats.
#include "api/json_grammar_text.h"

#include <algorithm>

namespace shardserve::api::json_grammar {

namespace {

constexpr char32_t kSurrogateLo = 0xD800;
constexpr char32_t kSurrogateHi = 0xDFFF;
constexpr char kHex[] = "0123456789abcdef";

std::string hex_byte(uint32_t value) {  // lower case: JSON's \u00xx
  return std::string{kHex[(value >> 4) & 0xF], kHex[value & 0xF]};
}

// Upper-case hex digits of `value`, `digits` long: GBNF escapes (\x1F, \u2028, \U0001F600).
std::string gbnf_hex(uint32_t value, int digits) {
  static constexpr char kUpper[] = "0123456789ABCDEF";
  std::string out(digits, '0');
  for (int i = digits - 1; i >= 0; --i, value >>= 4) out[i] = kUpper[value & 0xF];
  return out;
}

std::string utf8(char32_t c) {
  std::string out;
  append_utf8(out, c);
  return out;
}

// One character inside a GBNF char class.
std::string class_char(char32_t c) {
  switch (c) {
    case '\\':
      return "\\\\";
    case ']':
      return "\\]";
    case '^':
      return "\\x5E";
    case '-':
      return "\\x2D";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      break;
  }
  if (c < 0x20 || c == 0x7F) return cat({"\\x", gbnf_hex(c, 2)});
  if (c < 0x80) return utf8(c);
  if (c <= 0xFFFF) return cat({"\\u", gbnf_hex(c, 4)});  // non-ASCII: visible as escapes
  return cat({"\\U", gbnf_hex(c, 8)});
}

// The set's ranges for rendering: ranges that touch only across the surrogate hole are joined
// (surrogates cannot occur in UTF-8 text, so including them changes nothing).
std::vector<CharSet::Range> render_ranges(const CharSet& set) {
  std::vector<CharSet::Range> out;
  for (const auto& r : set.ranges()) {
    if (!out.empty() && out.back().second == kSurrogateLo - 1 && r.first == kSurrogateHi + 1) {
      out.back().second = r.second;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::string class_body(const std::vector<CharSet::Range>& ranges) {
  std::string out;
  for (const auto& [lo, hi] : ranges) {
    out += class_char(lo);
    if (hi == lo + 1) out += class_char(hi);
    if (hi > lo + 1) {
      out += '-';
      out += class_char(hi);
    }
  }
  return out;
}

// ---- integers as digit strings ----

std::string digit_class(char lo, char hi) {
  if (lo == hi) return gbnf_literal(std::string(1, lo));
  if (lo == '0' && hi == '9') return "[0-9]";
  return std::string("[") + lo + (hi == lo + 1 ? "" : "-") + hi + "]";
}

bool all_chars(std::string_view s, char c) {
  return std::all_of(s.begin(), s.end(), [c](char x) { return x == c; });
}

// Digit strings of lo's length between lo and hi (equal lengths, lo <= hi).
std::string same_length(std::string_view lo, std::string_view hi) {
  size_t common = 0;
  while (common < lo.size() && lo[common] == hi[common]) ++common;
  std::string prefix = common > 0 ? gbnf_literal(lo.substr(0, common)) : "";
  lo.remove_prefix(common);
  hi.remove_prefix(common);
  if (lo.empty()) return prefix;
  const size_t n = lo.size() - 1;  // digits after the first differing one
  const bool lo_floor = all_chars(lo.substr(1), '0');
  const bool hi_ceil = all_chars(hi.substr(1), '9');
  std::vector<std::string> alts;
  char first = lo[0];
  char last = hi[0];
  if (!lo_floor) {  // lo[0], then lo's rest .. 9s (through the common digit: one literal)
    alts.push_back(same_length(lo, cat({lo.substr(0, 1), std::string(n, '9')})));
    ++first;
  }
  if (!hi_ceil) --last;
  if (first <= last) alts.push_back(seq({digit_class(first, last), repeat("[0-9]", n, n)}));
  if (!hi_ceil) {  // hi[0], then 0s .. hi's rest
    alts.push_back(same_length(cat({hi.substr(0, 1), std::string(n, '0')}), hi));
  }
  return seq({prefix, group_alternatives(alts)});
}

// Canonical decimal integers in [lo, hi] (digit strings without leading zeros, lo <= hi).
std::string uint_range(const std::string& lo, const std::string& hi) {
  std::vector<std::string> alts;
  for (size_t len = lo.size(); len <= hi.size(); ++len) {
    std::string a = lo;
    if (len > lo.size()) {  // 10..0
      a.assign(len, '0');
      a[0] = '1';
    }
    const std::string b = len == hi.size() ? hi : std::string(len, '9');
    alts.push_back(same_length(a, b));
  }
  return group_alternatives(alts);
}

// Canonical decimal integers >= lo with at most max(kMaxIntegerDigits, lo's length) digits.
std::string uint_at_least(const std::string& lo) {
  std::vector<std::string> alts = {same_length(lo, std::string(lo.size(), '9'))};
  if (lo.size() < static_cast<size_t>(kMaxIntegerDigits)) {
    alts.push_back(seq({"[1-9]", repeat("[0-9]", lo.size(), kMaxIntegerDigits - 1)}));
  }
  return group_alternatives(alts);
}

// |v| for v < 0, without overflow at INT64_MIN.
uint64_t magnitude(int64_t v) {
  return static_cast<uint64_t>(-(v + 1)) + 1;
}

// ---- decimals ----

struct UBound {
  uint64_t value = 0;
  bool exclusive = false;
};

const std::string& frac_any() {
  static const std::string s = cat({"( \".\" ", repeat("[0-9]", 1, kMaxFractionDigits), " )?"});
  return s;
}
const std::string& frac_nonzero() {  // a fraction with a non-zero digit (ends in one)
  static const std::string s =
      cat({"\".\" ", repeat("[0-9]", 0, kMaxFractionDigits - 1), " [1-9]"});
  return s;
}
const std::string& frac_zero() {  // optional all-zero fraction
  static const std::string s = cat({"( \".\" ", repeat("\"0\"", 1, kMaxFractionDigits), " )?"});
  return s;
}

// Unsigned decimals (integer part, optional fraction) with value in the interval.
std::vector<std::string> decimals(UBound lo, std::optional<UBound> hi) {
  const uint64_t a = lo.value;
  const std::string a_text = gbnf_literal(std::to_string(a));
  const std::string& a_frac = lo.exclusive ? frac_nonzero() : frac_any();
  if (!hi) {
    return {seq({a_text, a_frac}), seq({uint_at_least(std::to_string(a + 1)), frac_any()})};
  }
  const uint64_t b = hi->value;
  if (a > b) return {};
  if (a == b) {
    if (lo.exclusive || hi->exclusive) return {};
    return {seq({a_text, frac_zero()})};
  }
  // Integer part a: [a, a+1) lies below hi. Strictly between: anything. Integer part b: b.
  std::vector<std::string> alts = {seq({a_text, a_frac})};
  if (b - a >= 2) {
    alts.push_back(seq({uint_range(std::to_string(a + 1), std::to_string(b - 1)), frac_any()}));
  }
  if (!hi->exclusive) alts.push_back(seq({gbnf_literal(std::to_string(b)), frac_zero()}));
  return alts;
}

}  // namespace

// ---- CharSet ----

CharSet CharSet::range(char32_t lo, char32_t hi) {
  CharSet set;
  set.add(lo, hi);
  return set;
}

CharSet CharSet::all() {
  return range(0, kMaxCodePoint);
}

void CharSet::add(char32_t lo, char32_t hi) {
  hi = std::min(hi, kMaxCodePoint);
  if (lo > hi) return;
  if (lo <= kSurrogateHi && hi >= kSurrogateLo) {  // cut the surrogates out
    if (lo < kSurrogateLo) add(lo, kSurrogateLo - 1);
    if (hi > kSurrogateHi) add(kSurrogateHi + 1, hi);
    return;
  }
  ranges_.emplace_back(lo, hi);
  std::sort(ranges_.begin(), ranges_.end());
  std::vector<Range> merged;
  for (const auto& r : ranges_) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  ranges_ = std::move(merged);
}

void CharSet::add(const CharSet& other) {
  for (const auto& [lo, hi] : other.ranges_) add(lo, hi);
}

CharSet CharSet::complement() const {
  CharSet out;
  char32_t next = 0;
  for (const auto& [lo, hi] : ranges_) {
    if (lo > next) out.add(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.add(next, kMaxCodePoint);
  return out;
}

CharSet CharSet::intersect(const CharSet& other) const {
  CharSet out;
  size_t i = 0;
  size_t j = 0;
  while (i < ranges_.size() && j < other.ranges_.size()) {
    const char32_t lo = std::max(ranges_[i].first, other.ranges_[j].first);
    const char32_t hi = std::min(ranges_[i].second, other.ranges_[j].second);
    if (lo <= hi) out.add(lo, hi);
    if (ranges_[i].second < other.ranges_[j].second) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

bool CharSet::contains(char32_t c) const {
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [c](const Range& r) { return r.first <= c && c <= r.second; });
}

std::optional<char32_t> CharSet::only() const {
  if (ranges_.size() == 1 && ranges_[0].first == ranges_[0].second) return ranges_[0].first;
  return std::nullopt;
}

// ---- UTF-8 ----

std::optional<std::u32string> decode_utf8(std::string_view text) {
  std::u32string out;
  size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    int len = 0;
    char32_t c = 0;
    if (b0 < 0x80) {
      len = 1;
      c = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      c = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      c = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      c = b0 & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + len > text.size()) return std::nullopt;
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) return std::nullopt;
      c = (c << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMinForLength[len] || c > kMaxCodePoint || (c >= kSurrogateLo && c <= kSurrogateHi)) {
      return std::nullopt;
    }
    out += c;
    i += len;
  }
  return out;
}

// ---- GBNF text ----

std::string char_class(const CharSet& set) {
  const auto positive = render_ranges(set);
  const CharSet rest = set.complement();
  if (!rest.empty()) {
    const auto negative = render_ranges(rest);
    // Open-ended sets (up to U+10FFFF) read better negated.
    if (negative.size() < positive.size() ||
        (negative.size() == positive.size() && set.contains(kMaxCodePoint))) {
      return cat({"[^", class_body(negative), "]"});
    }
  }
  return cat({"[", class_body(positive), "]"});
}

std::string gbnf_literal(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto b = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (b < 0x20 || b == 0x7F) {
          out += cat({"\\x", gbnf_hex(b, 2)});
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string json_escape_char(char32_t c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      break;
  }
  if (c < 0x20) return cat({"\\u00", hex_byte(c)});
  return utf8(c);
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  const auto chars = decode_utf8(text);
  if (chars) {
    for (const char32_t c : *chars) out += json_escape_char(c);
  } else {  // not UTF-8: keep ASCII, replace the rest (callers pass validated JSON text)
    for (const char ch : text) {
      const auto b = static_cast<unsigned char>(ch);
      out += b < 0x80 ? json_escape_char(b) : utf8(0xFFFD);
    }
  }
  return out + "\"";
}

std::string json_string_chars(const CharSet& set) {
  std::vector<std::string> alts;
  bool single_sequence = false;  // the only alternative is a two-part sequence
  CharSet plain = CharSet::range(0x20, kMaxCodePoint);
  plain = plain.minus(CharSet::single('"')).minus(CharSet::single('\\')).intersect(set);
  if (!plain.empty()) {
    alts.push_back(plain.only() ? gbnf_literal(utf8(*plain.only())) : char_class(plain));
  }
  // Two-character escapes.
  static constexpr std::pair<char32_t, char> kShort[] = {
      {'"', '"'}, {'\\', '\\'}, {'\b', 'b'}, {'\f', 'f'}, {'\n', 'n'}, {'\r', 'r'}, {'\t', 't'}};
  CharSet letters;
  for (const auto& [c, letter] : kShort) {
    if (set.contains(c)) letters.add(letter, letter);
  }
  if (letters.only()) {
    alts.push_back(gbnf_literal(std::string("\\") + static_cast<char>(*letters.only())));
  } else if (!letters.empty()) {
    alts.push_back(cat({"\"\\\\\" ", char_class(letters)}));
    single_sequence = true;
  }
  // Other control characters: \u00xx.
  for (uint32_t high = 0; high < 2; ++high) {
    CharSet digits;
    for (uint32_t low = 0; low < 16; ++low) {
      const char32_t c = high * 16 + low;
      const bool has_short =
          std::any_of(std::begin(kShort), std::end(kShort), [c](auto& s) { return s.first == c; });
      if (set.contains(c) && !has_short) digits.add(kHex[low], kHex[low]);
    }
    if (digits.empty()) continue;
    const std::string lead = gbnf_literal(cat({"\\u00", std::string(1, kHex[high])}));
    alts.push_back(lead + " " +
                   (digits.only() ? gbnf_literal(utf8(*digits.only())) : char_class(digits)));
    single_sequence = true;
  }
  if (alts.size() == 1 && single_sequence) return "( " + alts[0] + " )";
  return group_alternatives(alts);
}

std::string repeat(const std::string& expr, uint64_t min, std::optional<uint64_t> max) {
  if (max && *max == 0) return "";
  if (max && min == 1 && *max == 1) return expr;
  if (max && min == 0 && *max == 1) return expr + "?";
  if (!max && min == 0) return expr + "*";
  if (!max && min == 1) return expr + "+";
  if (!max) return expr + "{" + std::to_string(min) + ",}";
  if (min == *max) return expr + "{" + std::to_string(min) + "}";
  return expr + "{" + std::to_string(min) + "," + std::to_string(*max) + "}";
}

std::string cat(std::initializer_list<std::string_view> parts) {
  size_t size = 0;
  for (const auto part : parts) size += part.size();
  std::string out;
  out.reserve(size);
  for (const auto part : parts) out.append(part);
  return out;
}

std::string group_alternatives(const std::vector<std::string>& alternatives) {
  if (alternatives.size() == 1) return alternatives[0];
  std::string out = "(";
  for (size_t i = 0; i < alternatives.size(); ++i) {
    out += (i == 0 ? " " : " | ") + alternatives[i];
  }
  return out + " )";
}

// ---- numbers ----

std::optional<std::string> integer_range(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  if (lo && hi && *lo > *hi) return std::nullopt;
  std::vector<std::string> alts;
  if (!hi || *hi >= 0) {  // v >= 0
    const std::string a = std::to_string(lo && *lo > 0 ? *lo : 0);
    alts.push_back(hi ? uint_range(a, std::to_string(*hi)) : uint_at_least(a));
  }
  if (!lo || *lo < 0) {  // v < 0: "-" and a magnitude >= 1
    const std::string m_lo = std::to_string(hi && *hi < 0 ? magnitude(*hi) : 1);
    const std::string magnitudes =
        lo ? uint_range(m_lo, std::to_string(magnitude(*lo))) : uint_at_least(m_lo);
    alts.push_back(seq({"\"-\"", magnitudes}));
  }
  return group_alternatives(alts);
}

std::optional<std::string> number_range(std::optional<NumberBound> lo,
                                        std::optional<NumberBound> hi) {
  if (lo && hi &&
      (lo->value > hi->value || (lo->value == hi->value && (lo->exclusive || hi->exclusive)))) {
    return std::nullopt;
  }
  std::vector<std::string> alts;
  if (!hi || hi->value > 0 || (hi->value == 0 && !hi->exclusive)) {  // v >= 0
    const UBound l = lo && lo->value >= 0 ? UBound{static_cast<uint64_t>(lo->value), lo->exclusive}
                                          : UBound{0, false};
    std::optional<UBound> h;
    if (hi) h = UBound{static_cast<uint64_t>(hi->value), hi->exclusive};
    for (auto& alt : decimals(l, h)) alts.push_back(std::move(alt));
  }
  if (!lo || lo->value < 0) {  // v < 0: "-" and a magnitude m > 0 with -lo >= m >= -hi
    const UBound m_lo =
        hi && hi->value < 0 ? UBound{magnitude(hi->value), hi->exclusive} : UBound{0, true};
    std::optional<UBound> m_hi;
    if (lo) m_hi = UBound{magnitude(lo->value), lo->exclusive};
    const auto negatives = decimals(m_lo, m_hi);
    if (!negatives.empty()) alts.push_back(seq({"\"-\"", group_alternatives(negatives)}));
  }
  if (alts.empty()) return std::nullopt;
  return group_alternatives(alts);
}

// ---- formats ----

namespace {

const std::string kHexDigit = "[0-9a-fA-F]";

std::string date_body() {
  const std::string month31 = "( \"0\" [13578] | \"1\" [02] )";
  const std::string month30 = "( \"0\" [469] | \"11\" )";
  const std::string day31 = "( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )";
  const std::string day30 = "( \"0\" [1-9] | [12] [0-9] | \"30\" )";
  const std::string day28 = "( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] )";
  // Two digits divisible by 4: 04..96, and with 00.
  const std::string by4 = "\"0\" [48] | [2468] [048] | [13579] [26]";
  const std::string by4_or_00 = "\"0\" [048] | [2468] [048] | [13579] [26]";
  // Leap years: divisible by 4 but not 100 (last two digits), or by 400 (century by 4).
  const std::string leap_year = "( [0-9]{2} ( " + by4 + " ) | ( " + by4_or_00 + " ) \"00\" )";
  return "( [0-9]{4} \"-\" ( " + month31 + " \"-\" " + day31 + " | " + month30 + " \"-\" " + day30 +
         " | \"02-\" " + day28 + " ) | " + leap_year + " \"-02-29\" )";
}

std::string time_body() {
  const std::string hour = "( [01] [0-9] | \"2\" [0-3] )";
  const std::string minute = "[0-5] [0-9]";
  return hour + " \":\" " + minute + " \":\" " + minute + " ( \".\" [0-9]{1,9} )? ( \"Z\" | ( " +
         "\"+\" | \"-\" ) " + hour + " \":\" " + minute + " )";
}

// DNS labels of 1..62 characters: letters, digits, inner hyphens. A top-level label starts
// with a letter. At most four labels keep a hostname under 253 characters.
const std::string kLabel = "[a-zA-Z0-9] ( [a-zA-Z0-9\\x2D]{0,60} [a-zA-Z0-9] )?";
const std::string kTopLabel = "[a-zA-Z] ( [a-zA-Z0-9\\x2D]{0,60} [a-zA-Z0-9] )?";

std::string hostname_body() {
  return "( " + kLabel + " \".\" ){0,3} " + kTopLabel;
}

std::string email_body() {
  // Dot-atom local part of at most 63 characters; a domain of two or three labels.
  const std::string atom = "[a-zA-Z0-9!#$%&'*+/=?\\x5E_`{|}~\\x2D]{1,15}";
  return atom + " ( \".\" " + atom + " ){0,3} \"@\" ( " + kLabel + " \".\" ){1,2} " + kTopLabel;
}

std::string uri_body() {
  const std::string pct = "\"%\" " + kHexDigit + " " + kHexDigit;
  const std::string pchar = "( [a-zA-Z0-9._~!$&'()*+,;=:@\\x2D] | " + pct + " )";
  const std::string qchar = "( [a-zA-Z0-9._~!$&'()*+,;=:@/?\\x2D] | " + pct + " )";
  return cat({"\"http\" \"s\"? \"://\" ", hostname_body(), " ( \":\" [0-9]{1,5} )? ( \"/\" ", pchar,
              "* )* ( \"?\" ", qchar, "* )? ( \"#\" ", qchar, "* )?"});
}

}  // namespace

std::optional<std::string> format_body(std::string_view format) {
  if (format == "date") return date_body();
  if (format == "time") return time_body();
  if (format == "date-time") return date_body() + " \"T\" " + time_body();
  if (format == "uuid") {
    return kHexDigit + "{8} \"-\" " + kHexDigit + "{4} \"-\" " + kHexDigit + "{4} \"-\" " +
           kHexDigit + "{4} \"-\" " + kHexDigit + "{12}";
  }
  if (format == "ipv4") {
    const std::string octet =
        "( \"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9]{2} | [1-9] [0-9] | [0-9] )";
    return octet + " ( \".\" " + octet + " ){3}";
  }
  if (format == "hostname") return hostname_body();
  if (format == "email") return email_body();
  if (format == "uri") return uri_body();
  return std::nullopt;
}

// Joins non-empty GBNF sequence parts with spaces.
std::string seq(std::initializer_list<std::string> parts) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

}  // namespace shardserve::api::json_grammar
