// UTF-8 helpers for the chat-template interpreter: Python's string operations work on code
// points, and its str.strip()/split() know Unicode whitespace. Invalid UTF-8 bytes are treated as
// single code points (U+FFFD-free round trip: bytes are kept as they were).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardserve::chat_template {

// Byte offsets of each code point start in `s`, plus s.size() at the end.
std::vector<size_t> code_point_offsets(std::string_view s);
// Number of code points.
size_t code_point_count(std::string_view s);
// Python str.isspace() for one code point.
bool is_py_space(uint32_t cp);
// Decodes the code point at s[i]; sets *len to its byte length (1 for an invalid byte).
uint32_t decode_code_point(std::string_view s, size_t i, size_t* len);

// Python str.strip/lstrip/rstrip. chars == nullptr strips whitespace; otherwise any code point
// in *chars.
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);
// Python str.split(sep, maxsplit). sep == nullptr splits on runs of whitespace.
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit);
// Python str.rsplit(sep, maxsplit): the same, splitting from the right.
std::vector<std::string> py_rsplit(std::string_view s, const std::string* sep, int64_t maxsplit);
// Python's str.upper()/lower() for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
// (other scripts pass through unchanged; Python would map a few more).
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
// Python str.title() and Jinja's `title` filter (words split at -, whitespace, ([{<).
std::string py_title(std::string_view s);
std::string jinja_title(std::string_view s);
// Python str.capitalize(): first upper, rest lower.
std::string py_capitalize(std::string_view s);
// Python str.replace(old, new, count); count < 0 replaces all.
std::string py_replace(std::string_view s, std::string_view from, std::string_view to,
                       int64_t count);

}  // namespace shardserve::chat_template
