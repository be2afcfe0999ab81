#include "coordinator/serving/route_path.h"

namespace shardserve {

bool match_route_path(std::string_view pattern, std::string_view path,
                      std::vector<std::string>* params) {
  std::vector<std::string> found;
  while (!pattern.empty()) {
    const size_t brace = pattern.find('{');
    const std::string_view literal = pattern.substr(0, brace);
    if (!path.starts_with(literal)) return false;
    path.remove_prefix(literal.size());
    if (brace == std::string_view::npos) {
      pattern = {};
      break;
    }
    pattern.remove_prefix(literal.size());
    if (pattern.starts_with("{*}")) {
      if (pattern.size() != 3 || path.empty()) return false;
      found.emplace_back(path);
      path = {};
      pattern = {};
      break;
    }
    if (!pattern.starts_with("{}")) return false;
    pattern.remove_prefix(2);
    const size_t end = path.find('/');
    const std::string_view segment = path.substr(0, end);
    if (segment.empty()) return false;
    found.emplace_back(segment);
    path.remove_prefix(segment.size());
  }
  if (!path.empty()) return false;
  if (params) params->insert(params->end(), found.begin(), found.end());
  return true;
}

}  // namespace shardserve
