#include "coordinator/serving/static_files.h"

#include <sys/stat.h>

#include <array>
#include <utility>

namespace shardserve {
namespace {

// True if `path` (starting with '/') stays under the root: no "..", no backslash, no NUL.
bool safe_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  if (path.find('\\') != std::string_view::npos || path.find('\0') != std::string_view::npos)
    return false;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::string content_type_for(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  }};
  for (const auto& [ext, type] : kTypes)
    if (file_name.ends_with(ext)) return std::string(type);
  return "application/octet-stream";
}

std::optional<StaticFile> find_static_file(const std::string& root, std::string_view url_path) {
  if (root.empty() || !safe_path(url_path)) return std::nullopt;
  std::string path = root + std::string(url_path);
  if (path.ends_with('/')) path += "index.html";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  std::string type = content_type_for(path);
  return StaticFile{std::move(path), std::move(type)};
}

}  // namespace shardserve
