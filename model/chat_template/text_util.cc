#include "model/chat_template/text_util.h"

#include <algorithm>

#include "base/utf8.h"

namespace shardserve::chat_template {

uint32_t decode_code_point(std::string_view s, size_t i, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int n = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    *len = 1;
    return b0;
  }
  uint32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (int k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      *len = 1;
      return b0;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  *len = static_cast<size_t>(n);
  return cp;
}

std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> out;
  out.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size();) {
    out.push_back(i);
    size_t len = 0;
    decode_code_point(s, i, &len);
    i += len;
  }
  out.push_back(s.size());
  return out;
}

size_t code_point_count(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    size_t len = 0;
    decode_code_point(s, i, &len);
    i += len;
  }
  return n;
}

bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    out.push_back(decode_code_point(s, i, &len));
    i += len;
  }
  return out;
}

}  // namespace

std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right) {
  std::vector<uint32_t> set;
  if (chars != nullptr) set = code_points(*chars);
  auto strippable = [&](uint32_t cp) {
    return chars == nullptr ? is_py_space(cp) : std::find(set.begin(), set.end(), cp) != set.end();
  };
  const std::vector<size_t> offs = code_point_offsets(s);
  size_t first = 0, last = offs.size() - 1;  // code point indices [first, last)
  auto cp_at = [&](size_t k) {
    size_t len = 0;
    return decode_code_point(s, offs[k], &len);
  };
  if (left) {
    while (first < last && strippable(cp_at(first))) ++first;
  }
  if (right) {
    while (last > first && strippable(cp_at(last - 1))) --last;
  }
  return std::string(s.substr(offs[first], offs[last] - offs[first]));
}

std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep != nullptr) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t hit = s.find(*sep, pos);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, hit - pos));
      pos = hit + sep->size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size()) {
      size_t len = 0;
      if (!is_py_space(decode_code_point(s, i, &len))) break;
      i += len;
    }
  };
  skip_space();
  while (i < s.size()) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      // Python keeps the remainder as is, trailing whitespace included.
      out.emplace_back(s.substr(i));
      return out;
    }
    const size_t start = i;
    while (i < s.size()) {
      size_t len = 0;
      if (is_py_space(decode_code_point(s, i, &len))) break;
      i += len;
    }
    out.emplace_back(s.substr(start, i - start));
    skip_space();
  }
  return out;
}

std::vector<std::string> py_rsplit(std::string_view s, const std::string* sep, int64_t maxsplit) {
  if (maxsplit < 0) return py_split(s, sep, maxsplit);
  std::vector<std::string> out;  // collected right to left
  if (sep != nullptr) {
    size_t end = s.size();
    while (static_cast<int64_t>(out.size()) < maxsplit && end >= sep->size()) {
      const size_t hit = s.substr(0, end).rfind(*sep);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    out.emplace_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
  }
  const std::vector<size_t> offs = code_point_offsets(s);
  size_t k = offs.size() - 1;  // code points [0, k) remain
  auto space_before = [&](size_t at) {
    size_t len = 0;
    return is_py_space(decode_code_point(s, offs[at - 1], &len));
  };
  while (k > 0 && space_before(k)) --k;
  while (k > 0) {
    if (static_cast<int64_t>(out.size()) >= maxsplit) {
      // Python keeps the remainder as is, leading whitespace included.
      out.emplace_back(s.substr(0, offs[k]));
      break;
    }
    const size_t end = k;
    while (k > 0 && !space_before(k)) --k;
    out.emplace_back(s.substr(offs[k], offs[end] - offs[k]));
    while (k > 0 && space_before(k)) --k;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

namespace {

// Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (the scripts
// chat templates meet in practice); other code points have no case here.
uint32_t upper_cp(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x137 && (c & 1)) return c - 1;
  if (c >= 0x139 && c <= 0x148 && !(c & 1)) return c - 1;
  if (c >= 0x14A && c <= 0x177 && (c & 1)) return c - 1;
  if ((c == 0x17A || c == 0x17C || c == 0x17E)) return c - 1;
  if (c >= 0x3B1 && c <= 0x3C9) return c == 0x3C2 ? 0x3A3 : c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

uint32_t lower_cp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x137 && !(c & 1)) return c + 1;
  if (c >= 0x139 && c <= 0x148 && (c & 1)) return c + 1;
  if (c >= 0x14A && c <= 0x177 && !(c & 1)) return c + 1;
  if ((c == 0x179 || c == 0x17B || c == 0x17D)) return c + 1;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

bool is_cased(uint32_t c) {
  return upper_cp(c) != c || lower_cp(c) != c || c == 0xDF;
}

void append_upper(uint32_t c, std::string* out) {
  if (c == 0xDF) {  // ß
    *out += "SS";
    return;
  }
  append_utf8(*out, upper_cp(c));
}

// Applies `f(code_point, index, previous_code_point_was_cased, out)` over s.
template <typename F>
std::string map_code_points(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  bool prev_cased = false;
  size_t k = 0;
  for (size_t i = 0; i < s.size(); ++k) {
    size_t len = 0;
    const uint32_t c = decode_code_point(s, i, &len);
    if (len == 1 && c >= 0x80) {
      out += s[i];  // invalid byte: keep as is
    } else {
      f(c, k, prev_cased, &out);
    }
    prev_cased = is_cased(c);
    i += len;
  }
  return out;
}

}  // namespace

std::string py_upper(std::string_view s) {
  return map_code_points(s,
                         [](uint32_t c, size_t, bool, std::string* out) { append_upper(c, out); });
}

std::string py_lower(std::string_view s) {
  return map_code_points(
      s, [](uint32_t c, size_t, bool, std::string* out) { append_utf8(*out, lower_cp(c)); });
}

std::string py_title(std::string_view s) {
  return map_code_points(s, [](uint32_t c, size_t, bool prev_cased, std::string* out) {
    if (prev_cased) {
      append_utf8(*out, lower_cp(c));
    } else {
      append_upper(c, out);
    }
  });
}

std::string jinja_title(std::string_view s) {
  // Jinja: words start after runs of [-\s({\[<]; each word is word[0].upper() + rest.lower().
  bool at_word_start = true;
  return map_code_points(s, [&](uint32_t c, size_t, bool, std::string* out) {
    const bool sep = c == '-' || is_py_space(c) || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      append_utf8(*out, c);
      at_word_start = true;
    } else if (at_word_start) {
      append_upper(c, out);
      at_word_start = false;
    } else {
      append_utf8(*out, lower_cp(c));
    }
  });
}

std::string py_capitalize(std::string_view s) {
  return map_code_points(s, [](uint32_t c, size_t k, bool, std::string* out) {
    if (k == 0) {
      append_upper(c, out);
    } else {
      append_utf8(*out, lower_cp(c));
    }
  });
}

std::string py_replace(std::string_view s, std::string_view from, std::string_view to,
                       int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` between every code point (and at both ends).
    const std::vector<size_t> offs = code_point_offsets(s);
    int64_t done = 0;
    for (size_t k = 0; k + 1 < offs.size(); ++k) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += s.substr(offs[k], offs[k + 1] - offs[k]);
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out += s.substr(pos, hit - pos);
    out += to;
    pos = hit + from.size();
    ++done;
  }
  out += s.substr(pos);
  return out;
}

}  // namespace shardserve::chat_template
