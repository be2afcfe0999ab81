#include "config/diagnostics.h"

#include <cstdio>
#include <filesystem>

namespace shardserve::config_internal {

void Diagnostics::add(std::string_view where, std::string_view key_path, std::string_view message) {
  std::string line(where);
  line += ": ";
  if (!key_path.empty()) {
    line += key_path;
    line += ": ";
  }
  line += message;
  lines_.push_back(std::move(line));
}

Error Diagnostics::to_error() const {
  std::string out;
  for (size_t i = 0; i < lines_.size() && i < kMaxLines; ++i) {
    if (i) out += '\n';
    out += lines_[i];
  }
  if (lines_.size() > kMaxLines)
    out += "\n(and " + std::to_string(lines_.size() - kMaxLines) + " more problems)";
  return Error{out};
}

std::string resolve_path(std::string_view base_dir, std::string_view path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.is_relative() && !base_dir.empty()) p = fs::path(base_dir) / p;
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return (ec ? p : abs).lexically_normal().string();
}

std::string in_quotes(std::string_view text, size_t max) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += text.size() > max ? "...\"" : "\"";
  return out;
}

}  // namespace shardserve::config_internal
