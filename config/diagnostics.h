// Internal to config/: the list of problems a load collects, and path helpers.
// Each problem is one line "WHERE: KEY.PATH: what is wrong". Not thread-safe (a local value).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace shardserve::config_internal {

class Diagnostics {
 public:
  void add(std::string_view where, std::string_view key_path, std::string_view message);
  bool empty() const { return lines_.empty(); }
  // All lines joined by '\n' (at most kMaxLines, then a count of the rest).
  Error to_error() const;

  static constexpr size_t kMaxLines = 50;

 private:
  std::vector<std::string> lines_;
};

// `path` made absolute against `base_dir` (the working directory when empty), normalized.
std::string resolve_path(std::string_view base_dir, std::string_view path);

// `text` in double quotes with control characters escaped, cut after `max` bytes.
std::string in_quotes(std::string_view text, size_t max = 80);

}  // namespace shardserve::config_internal
