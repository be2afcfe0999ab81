// Matching a request path against a route's pattern, for the HTTP server's route table.
//
// Promise: `match_route_path(pattern, path, params)` is true when `path` has the pattern's
// segments ('/'-separated), where "{}" matches any one non-empty segment and a final "{*}"
// matches the non-empty rest of the path, slashes included (a model id such as "org/model").
// The matched segments are appended to `params` in order (only on success). An empty segment
// (a doubled or trailing slash) never matches "{}". Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shardserve {

bool match_route_path(std::string_view pattern, std::string_view path,
                      std::vector<std::string>* params);

}  // namespace shardserve
