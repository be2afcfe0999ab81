#include "model/grammar/grammar_parser.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

#include "base/utf8.h"
#include "model/grammar/utf8.h"

namespace shardserve::grammar {
namespace {

constexpr size_t kMaxSymbols = size_t{1} << 22;  // after expanding repetitions
constexpr uint32_t kUnbounded = UINT32_MAX;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// How a character reads in a message: 'x', or \xHH for bytes that do not print.
std::string describe(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\x%02X", u);
  return buf;
}

// Sorted, merged (overlapping or adjacent) ranges.
std::vector<CharRange> normalize(std::vector<CharRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const CharRange& a, const CharRange& b) { return a.lo < b.lo; });
  std::vector<CharRange> merged;
  for (const CharRange& r : ranges) {
    if (!merged.empty() && r.lo <= merged.back().hi + 1) {
      merged.back().hi = std::max(merged.back().hi, r.hi);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

std::vector<CharRange> complement(const std::vector<CharRange>& ranges) {
  std::vector<CharRange> out;
  uint32_t next = 0;
  for (const CharRange& r : ranges) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return out;
}

// A parsed piece of a sequence, as alternatives. One alternative is spliced into the
// enclosing sequence; more become a helper rule.
using Fragment = std::vector<Sequence>;

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<ParsedGrammar> run() {
    skip_space();
    while (!at_end()) {
      if (!parse_rule()) return error_;
      skip_space();
    }
    return std::move(out_);
  }

 private:
  struct Cursor {
    size_t pos = 0;
    uint32_t line = 1;
    size_t line_start = 0;
  };

  Location here() const {
    return {cur_.line, static_cast<uint32_t>(cur_.pos - cur_.line_start + 1)};
  }
  bool at_end() const { return cur_.pos >= text_.size(); }
  char peek(size_t ahead = 0) const {
    return cur_.pos + ahead < text_.size() ? text_[cur_.pos + ahead] : '\0';
  }
  void advance(size_t n = 1) {
    for (size_t i = 0; i < n && !at_end(); ++i) {
      if (text_[cur_.pos++] == '\n') {
        ++cur_.line;
        cur_.line_start = cur_.pos;
      }
    }
  }
  // Spaces, tabs, newlines and comments.
  void skip_space() {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else if (c == '#') {
        while (!at_end() && peek() != '\n') advance();
      } else {
        break;
      }
    }
  }
  std::string_view scan_name() {
    const size_t begin = cur_.pos;
    while (!at_end() && is_name_char(peek())) advance();
    return text_.substr(begin, cur_.pos - begin);
  }
  // Whether `name ::=` starts here (consumes nothing).
  bool at_rule_start() {
    const Cursor saved = cur_;
    const bool name = !scan_name().empty();
    skip_space();
    const bool yes = name && text_.substr(cur_.pos, 3) == "::=";
    cur_ = saved;
    return yes;
  }
  bool fail(Location where, const std::string& what) {
    error_ = Error::invalid_input(location_prefix(where) + what);
    return false;
  }

  bool parse_rule() {
    const Location where = here();
    const std::string_view name = scan_name();
    if (name.empty()) return fail(where, "expected a rule name, found " + describe(peek()));
    skip_space();
    if (text_.substr(cur_.pos, 3) != "::=") {
      return fail(here(), "expected '::=' after rule name '" + std::string(name) + "'");
    }
    advance(3);
    const uint32_t id = rule_id(name);
    if (out_.rules[id].defined) {
      const Location first = out_.rules[id].where;
      return fail(where, "rule '" + std::string(name) + "' is defined twice (first at line " +
                             std::to_string(first.line) + ":" + std::to_string(first.column) + ")");
    }
    out_.rules[id].defined = true;
    out_.rules[id].where = where;
    current_rule_ = id;
    Fragment alternatives;
    if (!parse_alternatives(alternatives)) return false;
    out_.rules[id].alternatives = std::move(alternatives);
    skip_space();
    if (at_end() || at_rule_start()) return true;
    if (peek() == ')') return fail(here(), "unmatched ')'");
    return fail(here(), "unexpected " + describe(peek()));
  }

  bool parse_alternatives(Fragment& out) {
    do {
      if (!out.empty()) advance();  // the '|'
      Sequence seq;
      if (!parse_sequence(seq)) return false;
      out.push_back(std::move(seq));
      skip_space();
    } while (peek() == '|');
    return true;
  }

  // Items until '|', ')', the end, or the next rule's `name ::=`.
  bool parse_sequence(Sequence& out) {
    while (true) {
      skip_space();
      if (at_end()) return true;
      const char c = peek();
      if (c == '|' || c == ')') return true;
      if (is_name_char(c) && at_rule_start()) return true;
      const Location where = here();
      Fragment frag;
      if (!parse_primary(frag) || !parse_postfix(frag, where)) return false;
      if (frag.size() == 1) {
        if (!count_symbols(frag[0].size(), where)) return false;
        out.insert(out.end(), frag[0].begin(), frag[0].end());
      } else {
        out.push_back(as_symbol(std::move(frag), where));
      }
    }
  }

  bool parse_primary(Fragment& out) {
    const Location where = here();
    const char c = peek();
    if (c == '"') return parse_literal(out);
    if (c == '[') return parse_class(out);
    if (c == '@') return parse_token(out);
    if (c == '.') {
      advance();
      out = {{Symbol{ElementKind::kChars, class_id({{0, kMaxCodePoint}})}}};
      return true;
    }
    if (c == '(') {
      advance();
      if (!parse_alternatives(out)) return false;
      if (peek() != ')') {
        return fail(here(), "expected ')' to close the '(' at line " + std::to_string(where.line) +
                                ":" + std::to_string(where.column));
      }
      advance();
      return true;
    }
    if (is_name_char(c)) {
      const std::string_view name = scan_name();
      const uint32_t id = rule_id(name);
      if (!out_.rules[id].used) {
        out_.rules[id].used = true;
        out_.rules[id].first_use = where;
      }
      out = {{Symbol{ElementKind::kRule, id}}};
      return true;
    }
    return fail(where, "unexpected " + describe(c));
  }

  bool parse_literal(Fragment& out) {
    const Location open = here();
    advance();  // '"'
    Sequence seq;
    while (true) {
      if (at_end() || peek() == '\n') return fail(open, "unterminated string literal");
      if (peek() == '"') break;
      uint32_t cp = 0;
      if (!parse_char(cp)) return false;
      seq.push_back({ElementKind::kChars, class_id({{cp, cp}})});
    }
    advance();
    out = {std::move(seq)};
    return true;
  }

  // @"TEXT": a control token, by its text (escapes as in literals).
  bool parse_token(Fragment& out) {
    const Location at = here();
    advance();  // '@'
    if (peek() != '"') return fail(at, "expected a quoted token text after '@'");
    advance();
    std::string text;
    while (true) {
      if (at_end() || peek() == '\n') return fail(at, "unterminated token text");
      if (peek() == '"') break;
      uint32_t cp = 0;
      if (!parse_char(cp)) return false;
      append_utf8(text, cp);
    }
    advance();
    if (text.empty()) return fail(at, "empty token text");
    auto it = std::find(out_.tokens.begin(), out_.tokens.end(), text);
    const auto k = static_cast<uint32_t>(it - out_.tokens.begin());
    if (it == out_.tokens.end()) out_.tokens.push_back(std::move(text));
    out = {{Symbol{ElementKind::kChars, class_id({{kTokenBase + k, kTokenBase + k}})}}};
    return true;
  }

  bool parse_class(Fragment& out) {
    const Location open = here();
    advance();  // '['
    const bool negated = peek() == '^';
    if (negated) advance();
    std::vector<CharRange> ranges;
    while (true) {
      if (at_end() || peek() == '\n') return fail(open, "unterminated character class");
      if (peek() == ']') break;
      const Location at = here();
      uint32_t lo = 0;
      if (!parse_char(lo)) return false;
      uint32_t hi = lo;
      if (peek() == '-' && peek(1) != ']' && peek(1) != '\0') {
        advance();
        if (!parse_char(hi)) return false;
        if (hi < lo) return fail(at, "character range ends before it starts");
      }
      ranges.push_back({lo, hi});
    }
    advance();
    if (ranges.empty() && !negated) return fail(open, "empty character class");
    ranges = normalize(std::move(ranges));
    if (negated) ranges = complement(ranges);
    if (ranges.empty()) return fail(open, "character class matches nothing");
    out = {{Symbol{ElementKind::kChars, class_id(std::move(ranges))}}};
    return true;
  }

  // One character of a literal or class: an escape or a UTF-8 encoded code point.
  bool parse_char(uint32_t& cp) {
    const Location at = here();
    if (peek() != '\\') {
      Utf8State s;
      while (true) {
        if (at_end()) return fail(at, "invalid UTF-8 in the grammar");
        const Utf8Step step = utf8_feed(s, static_cast<uint8_t>(peek()), cp);
        if (step == Utf8Step::kInvalid) return fail(at, "invalid UTF-8 in the grammar");
        advance();
        if (step == Utf8Step::kComplete) return true;
      }
    }
    advance();
    const char c = peek();
    size_t digits = 0;
    switch (c) {
      case 'n':
        cp = '\n';
        break;
      case 't':
        cp = '\t';
        break;
      case 'r':
        cp = '\r';
        break;
      case '\\':
      case '"':
      case '\'':
      case '[':
      case ']':
      case '-':
        cp = c;
        break;
      case 'x':
        digits = 2;
        break;
      case 'u':
        digits = 4;
        break;
      case 'U':
        digits = 8;
        break;
      default:
        return fail(
            at, at_end() ? "unfinished escape" : "unknown escape '\\" + std::string(1, c) + "'");
    }
    advance();
    if (digits == 0) return true;
    uint64_t value = 0;
    for (size_t i = 0; i < digits; ++i) {
      const int h = hex_value(peek());
      if (h < 0) {
        return fail(at, "expected " + std::to_string(digits) + " hex digits after '\\" +
                            std::string(1, c) + "'");
      }
      value = value * 16 + static_cast<uint64_t>(h);
      advance();
    }
    if (value > kMaxCodePoint) return fail(at, "code point beyond U+10FFFF");
    cp = static_cast<uint32_t>(value);
    return true;
  }

  bool parse_count(uint32_t& n) {
    skip_space();
    const Location at = here();
    if (peek() < '0' || peek() > '9') return fail(at, "expected a repetition count");
    uint64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      value = value * 10 + static_cast<uint64_t>(peek() - '0');
      if (value > kMaxRepeat) {
        return fail(at, "repetition count above " + std::to_string(kMaxRepeat));
      }
      advance();
    }
    n = static_cast<uint32_t>(value);
    skip_space();
    return true;
  }

  // Applies the postfix operators (*, +, ?, {..}) that follow a primary, in order.
  bool parse_postfix(Fragment& frag, Location where) {
    while (true) {
      const Cursor before = cur_;
      skip_space();
      const char c = peek();
      uint32_t min = 0;
      uint32_t max = 0;
      if (c == '*' || c == '+' || c == '?') {
        advance();
        min = c == '+' ? 1 : 0;
        max = c == '?' ? 1 : kUnbounded;
      } else if (c == '{') {
        const Location open = here();
        advance();
        if (!parse_count(min)) return false;
        max = min;
        if (peek() == ',') {
          advance();
          skip_space();
          max = kUnbounded;
          if (peek() != '}' && !parse_count(max)) return false;
        }
        if (peek() != '}') return fail(here(), "expected '}' to close the '{' of a repetition");
        advance();
        if (max < min) return fail(open, "repetition {m,n} with n < m");
      } else {
        cur_ = before;  // the space belongs to the sequence
        return true;
      }
      if (!repeat(frag, min, max, where)) return false;
    }
  }

  // frag := frag{min,max} (max may be kUnbounded).
  bool repeat(Fragment& frag, uint32_t min, uint32_t max, Location where) {
    if (min == 0 && max == 1) {  // x? : O ::= x | (empty), alternatives of x kept apart
      frag.push_back({});
      const uint32_t opt = new_helper(RuleOrigin::kOptional, where);
      out_.rules[opt].alternatives = std::move(frag);
      frag = {{Symbol{ElementKind::kRule, opt}}};
      return true;
    }
    const uint64_t copies = min + (max == kUnbounded ? 1 : max - min);
    Sequence x;  // the operand as it is copied
    if (copies > 1 || frag.size() > 1) {
      if (min == 0 && max == kUnbounded && frag.size() > 1) {  // (a | b)* : S ::= a S | b S |
        const uint32_t loop = new_helper(RuleOrigin::kRepeat, where);
        for (Sequence& alt : frag) alt.push_back({ElementKind::kRule, loop});
        frag.push_back({});
        out_.rules[loop].alternatives = std::move(frag);
        frag = {{Symbol{ElementKind::kRule, loop}}};
        return true;
      }
      x = {as_symbol(std::move(frag), where)};
    } else {
      x = std::move(frag[0]);
    }
    if (!count_symbols(copies * (x.size() + 1), where)) return false;
    Sequence result;
    for (uint32_t i = 0; i < min; ++i) result.insert(result.end(), x.begin(), x.end());
    if (max == kUnbounded) {  // S ::= x S | (empty)
      const uint32_t loop = new_helper(RuleOrigin::kRepeat, where);
      Sequence body = x;
      body.push_back({ElementKind::kRule, loop});
      out_.rules[loop].alternatives = {std::move(body), {}};
      result.push_back({ElementKind::kRule, loop});
    } else if (max > min) {  // O1 ::= x O2 | (empty), ..., Ok ::= x | (empty)
      uint32_t inner = kUnbounded;
      for (uint32_t i = min; i < max; ++i) {
        const uint32_t opt = new_helper(RuleOrigin::kOptional, where);
        Sequence body = x;
        if (inner != kUnbounded) body.push_back({ElementKind::kRule, inner});
        out_.rules[opt].alternatives = {std::move(body), {}};
        inner = opt;
      }
      result.push_back({ElementKind::kRule, inner});
    }
    frag = {std::move(result)};
    return true;
  }

  bool count_symbols(uint64_t n, Location where) {
    n_symbols_ += n;
    if (n_symbols_ <= kMaxSymbols) return true;
    return fail(where, "grammar too large: more than " + std::to_string(kMaxSymbols) +
                           " symbols after expanding repetitions");
  }

  // The fragment as one symbol: itself, or a reference to a helper rule holding it.
  Symbol as_symbol(Fragment frag, Location where) {
    if (frag.size() == 1 && frag[0].size() == 1) return frag[0][0];
    const uint32_t group = new_helper(RuleOrigin::kGroup, where);
    out_.rules[group].alternatives = std::move(frag);
    return {ElementKind::kRule, group};
  }

  uint32_t rule_id(std::string_view name) {
    auto it = rule_ids_.find(name);
    if (it != rule_ids_.end()) return it->second;
    const auto id = static_cast<uint32_t>(out_.rules.size());
    out_.rules.push_back({});
    out_.rules.back().name = std::string(name);
    rule_ids_.emplace(std::string(name), id);
    return id;
  }

  uint32_t new_helper(RuleOrigin origin, Location where) {
    const auto id = static_cast<uint32_t>(out_.rules.size());
    const uint32_t n = ++helpers_[current_rule_];
    ParsedRule rule;
    rule.name = out_.rules[current_rule_].name + "/" + std::to_string(n);
    rule.origin = origin;
    rule.defined = true;
    rule.used = true;
    rule.where = rule.first_use = where;
    out_.rules.push_back(std::move(rule));
    return id;
  }

  uint32_t class_id(std::vector<CharRange> ranges) {
    std::vector<std::pair<uint32_t, uint32_t>> key;
    key.reserve(ranges.size());
    for (const CharRange& r : ranges) key.emplace_back(r.lo, r.hi);
    auto [it, added] = class_ids_.emplace(std::move(key), out_.classes.size());
    if (added) out_.classes.push_back(std::move(ranges));
    return it->second;
  }

  std::string_view text_;
  Cursor cur_;
  ParsedGrammar out_;
  Error error_;
  uint32_t current_rule_ = 0;  // the user rule being parsed (names its helpers)
  size_t n_symbols_ = 0;
  std::map<std::string, uint32_t, std::less<>> rule_ids_;
  std::map<uint32_t, uint32_t> helpers_;  // user rule -> helpers made for it so far
  std::map<std::vector<std::pair<uint32_t, uint32_t>>, uint32_t> class_ids_;
};

}  // namespace

std::string location_prefix(Location where) {
  return "line " + std::to_string(where.line) + ":" + std::to_string(where.column) + ": ";
}

Result<ParsedGrammar> parse_gbnf(std::string_view text) {
  return Parser(text).run();
}

}  // namespace shardserve::grammar
