// The chat page's files under server.web_root, as the HTTP server serves them at `/`.
//
// A URL path maps to the file of the same relative path under the root; a path ending in `/`
// to that directory's index.html. Paths with a `..` segment, a backslash or a NUL byte map to
// nothing (no escape from the root), and so do directories and missing files. The content
// type follows the extension: html, js (ES modules need a JavaScript type), css, svg, png,
// json, ico, txt; anything else is application/octet-stream.
//
// Pure functions of their arguments and the file system: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace shardserve {

struct StaticFile {
  std::string path;          // the file on disk
  std::string content_type;  // for the Content-Type header
};

// The file under `root` that answers the (percent-decoded) URL path `url_path`, if any.
std::optional<StaticFile> find_static_file(const std::string& root, std::string_view url_path);

// The Content-Type for a file name, by its extension.
std::string content_type_for(std::string_view file_name);

}  // namespace shardserve
