#include "model/chat_template/lexer.h"

#include <algorithm>
#include <cstdint>

#include "base/utf8.h"

namespace shardserve::chat_template {

std::string format_pos(Pos pos) {
  return std::to_string(pos.line) + ":" + std::to_string(pos.col);
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // Normalize newlines (\r\n and \r become \n) and drop one trailing newline, as Jinja does.
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  Result<std::vector<Token>> run() {
    bool line_starting = true;
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t tag = find_tag(pos);
      if (tag == std::string::npos) {
        emit_text(pos, src_.substr(pos));
        break;
      }
      const char kind = src_[tag + 1];  // '{', '%' or '#'
      char sign = 0;
      if (tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')) {
        sign = src_[tag + 2];
      }
      std::string text = src_.substr(pos, tag - pos);
      strip_before_tag(&text, sign, kind != '{', line_starting);
      emit_text(pos, std::move(text));
      const size_t body = tag + 2 + (sign ? 1 : 0);
      size_t end = 0;
      if (kind == '#') {
        if (!lex_comment(tag, body, &end, &line_starting)) return error_;
      } else if (kind == '%' && is_raw_begin(body, &end)) {
        line_starting = src_[end - 1] == '\n';
        if (!lex_raw(tag, end, &end, &line_starting)) return error_;
      } else {
        if (!lex_tag(tag, body, kind == '%', &end, &line_starting)) return error_;
      }
      pos = end;
    }
    tokens_.push_back({Token::Type::kEof, "", pos_of(src_.size())});
    return std::move(tokens_);
  }

 private:
  Pos pos_of(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line = static_cast<size_t>(it - line_starts_.begin());
    return Pos{static_cast<int>(line), static_cast<int>(offset - line_starts_[line - 1] + 1)};
  }

  bool fail(size_t offset, const std::string& message) {
    error_ = Error{format_pos(pos_of(offset)) + ": " + message};
    return false;
  }

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return std::string::npos;
  }

  void emit_text(size_t offset, std::string text) {
    if (!text.empty()) tokens_.push_back({Token::Type::kText, std::move(text), pos_of(offset)});
  }

  // Whitespace control for the text before a tag: `-` strips all trailing whitespace; otherwise
  // (unless `+`) lstrip_blocks strips spaces and tabs back to the line start for block tags.
  static void strip_before_tag(std::string* text, char sign, bool lstrip, bool line_starting) {
    if (sign == '-') {
      size_t n = text->size();
      while (n > 0 && is_space((*text)[n - 1])) --n;
      text->resize(n);
    } else if (sign != '+' && lstrip) {
      const size_t nl = text->rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting) {
        bool all_space = l_pos < text->size();
        for (size_t k = l_pos; k < text->size(); ++k) all_space = all_space && is_space((*text)[k]);
        if (all_space) text->resize(l_pos);
      }
    }
  }

  // After a block or comment end: `-` eats all whitespace, trim_blocks eats one newline.
  size_t after_end(size_t end, char sign, bool trim, bool* line_starting) const {
    if (sign == '-') {
      while (end < src_.size() && is_space(src_[end])) ++end;
    } else if (sign != '+' && trim && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    *line_starting = end > 0 && src_[end - 1] == '\n';
    return end;
  }

  bool lex_comment(size_t tag, size_t body, size_t* end, bool* line_starting) {
    for (size_t i = body; i + 1 < src_.size(); ++i) {
      if ((src_[i] == '-' || src_[i] == '+') && src_.compare(i + 1, 2, "#}") == 0) {
        *end = after_end(i + 3, src_[i], true, line_starting);
        return true;
      }
      if (src_.compare(i, 2, "#}") == 0) {
        *end = after_end(i + 2, 0, true, line_starting);
        return true;
      }
    }
    return fail(tag, "missing end of comment tag '#}'");
  }

  // `{% raw %}` (with optional - or + controls): sets *end to the offset after the tag.
  bool is_raw_begin(size_t body, size_t* end) const {
    size_t i = body;
    while (i < src_.size() && is_space(src_[i])) ++i;
    if (src_.compare(i, 3, "raw") != 0 || (i + 3 < src_.size() && is_name_char(src_[i + 3]))) {
      return false;
    }
    i += 3;
    while (i < src_.size() && is_space(src_[i])) ++i;
    if (src_.compare(i, 3, "-%}") == 0) {
      i += 3;
      while (i < src_.size() && is_space(src_[i])) ++i;
      *end = i;
      return true;
    }
    if (src_.compare(i, 2, "%}") == 0) {
      *end = i + 2;
      return true;
    }
    return false;
  }

  bool lex_raw(size_t tag, size_t start, size_t* end, bool* line_starting) {
    for (size_t i = src_.find("{%", start); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t j = i + 2;
      char sign = 0;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) sign = src_[j++];
      while (j < src_.size() && is_space(src_[j])) ++j;
      if (src_.compare(j, 6, "endraw") != 0) continue;
      j += 6;
      while (j < src_.size() && is_space(src_[j])) ++j;
      char end_sign = 0;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) end_sign = src_[j++];
      if (src_.compare(j, 2, "%}") != 0) continue;
      std::string text = src_.substr(start, i - start);
      strip_before_tag(&text, sign, true, *line_starting);
      emit_text(start, std::move(text));
      *end = after_end(j + 2, end_sign, true, line_starting);
      return true;
    }
    return fail(tag, "missing end of raw block '{% endraw %}'");
  }

  bool lex_tag(size_t tag, size_t i, bool block, size_t* end, bool* line_starting) {
    tokens_.push_back({block ? Token::Type::kBlockBegin : Token::Type::kVarBegin, "", pos_of(tag)});
    std::vector<char> brackets;
    while (true) {
      while (i < src_.size() && is_space(src_[i])) ++i;
      if (i >= src_.size()) {
        return fail(tag, block ? "unterminated block tag: missing '%}'"
                               : "unterminated expression: missing '}}'");
      }
      if (brackets.empty()) {
        const char* close = block ? "%}" : "}}";
        char sign = 0;
        size_t at = i;
        if ((src_[i] == '-' || (block && src_[i] == '+')) && src_.compare(i + 1, 2, close) == 0) {
          sign = src_[i];
          at = i + 1;
        }
        if (src_.compare(at, 2, close) == 0) {
          tokens_.push_back({block ? Token::Type::kBlockEnd : Token::Type::kVarEnd, "", pos_of(i)});
          *end = after_end(at + 2, sign, block, line_starting);
          return true;
        }
      }
      if (!lex_one(&i, &brackets)) return false;
    }
  }

  bool lex_one(size_t* io, std::vector<char>* brackets) {
    size_t i = *io;
    const size_t start = i;
    const char c = src_[i];
    if (is_digit(c)) {
      std::string digits;
      bool is_float = false;
      auto take_digits = [&] {
        size_t n = 0;
        while (i < src_.size() &&
               (is_digit(src_[i]) ||
                (src_[i] == '_' && n > 0 && i + 1 < src_.size() && is_digit(src_[i + 1])))) {
          if (src_[i] != '_') digits += src_[i];
          ++i;
          ++n;
        }
      };
      take_digits();
      if (i + 1 < src_.size() && src_[i] == '.' && is_digit(src_[i + 1])) {
        is_float = true;
        digits += src_[i++];
        take_digits();
      }
      if (i < src_.size() && (src_[i] == 'e' || src_[i] == 'E')) {
        size_t j = i + 1;
        if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
        if (j < src_.size() && is_digit(src_[j])) {
          is_float = true;
          digits += 'e';
          digits.append(src_, i + 1, j - i - 1);
          i = j;
          take_digits();
        }
      }
      tokens_.push_back(
          {is_float ? Token::Type::kFloat : Token::Type::kInt, digits, pos_of(start)});
    } else if (is_name_start(c)) {
      while (i < src_.size() && is_name_char(src_[i])) ++i;
      tokens_.push_back({Token::Type::kName, src_.substr(start, i - start), pos_of(start)});
    } else if (c == '\'' || c == '"') {
      std::string value;
      ++i;
      while (true) {
        if (i >= src_.size()) return fail(start, "unterminated string literal");
        const char d = src_[i];
        if (d == c) {
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < src_.size()) {
          i = unescape(i, &value);
          continue;
        }
        value += d;
        ++i;
      }
      tokens_.push_back({Token::Type::kString, std::move(value), pos_of(start)});
    } else {
      static const char* kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                   "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                   ">",  "<",  "=",  ".",  ":",  "|",  ",", ";"};
      std::string op;
      for (const char* candidate : kOps) {
        if (src_.compare(i, std::char_traits<char>::length(candidate), candidate) == 0) {
          op = candidate;
          break;
        }
      }
      if (op.empty()) return fail(start, std::string("unexpected character '") + c + "'");
      if (op == "(" || op == "[" || op == "{") {
        brackets->push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
      } else if (op == ")" || op == "]" || op == "}") {
        if (brackets->empty()) return fail(start, "unexpected '" + op + "'");
        if (brackets->back() != op[0]) {
          return fail(start, "unexpected '" + op + "', expected '" + brackets->back() + "'");
        }
        brackets->pop_back();
      }
      i += op.size();
      tokens_.push_back({Token::Type::kOp, op, pos_of(start)});
    }
    *io = i;
    return true;
  }

  // Python "unicode-escape" decoding of one escape at src_[i] == '\\'; returns the next offset.
  size_t unescape(size_t i, std::string* out) const {
    const char e = src_[i + 1];
    auto hex = [&](size_t from, int n, uint32_t* cp) {
      if (from + n > src_.size()) return false;
      uint32_t v = 0;
      for (int k = 0; k < n; ++k) {
        const char h = src_[from + k];
        const int d = is_digit(h)              ? h - '0'
                      : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                      : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                               : -1;
        if (d < 0) return false;
        v = v * 16 + d;
      }
      *cp = v;
      return true;
    };
    switch (e) {
      case 'n':
        *out += '\n';
        return i + 2;
      case 't':
        *out += '\t';
        return i + 2;
      case 'r':
        *out += '\r';
        return i + 2;
      case '\\':
        *out += '\\';
        return i + 2;
      case '\'':
        *out += '\'';
        return i + 2;
      case '"':
        *out += '"';
        return i + 2;
      case 'a':
        *out += '\a';
        return i + 2;
      case 'b':
        *out += '\b';
        return i + 2;
      case 'f':
        *out += '\f';
        return i + 2;
      case 'v':
        *out += '\v';
        return i + 2;
      case '\n':
        return i + 2;  // line continuation
      case 'x':
      case 'u':
      case 'U': {
        const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        if (hex(i + 2, n, &cp) && cp <= 0x10FFFF) {
          append_utf8(*out, cp);
          return i + 2 + n;
        }
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = 0;
          size_t j = i + 1;
          for (int k = 0; k < 3 && j < src_.size() && src_[j] >= '0' && src_[j] <= '7'; ++k, ++j) {
            cp = cp * 8 + (src_[j] - '0');
          }
          append_utf8(*out, cp);
          return j;
        }
    }
    *out += '\\';  // unknown escapes stay as written
    return i + 1;
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  Error error_;
};

}  // namespace

Result<std::vector<Token>> tokenize(std::string_view source) {
  return Lexer(source).run();
}

}  // namespace shardserve::chat_template
