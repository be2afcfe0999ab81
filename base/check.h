// SS_CHECK: for conditions that can only fail through a programming error.
// Prints file:line, the condition and an optional message, then aborts.
// Expected failures (bad input, bad files) are Results instead (base/status.h).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace shardserve::detail {
[[noreturn]] inline void check_failed(const char* file, int line, const char* cond,
                                      const char* msg) {
  std::fprintf(stderr, "%s:%d: check failed: %s%s%s\n", file, line, cond, msg[0] ? ": " : "", msg);
  std::abort();
}
}  // namespace shardserve::detail

#define SS_CHECK(cond, ...)                                                                     \
  do {                                                                                          \
    if (!(cond)) ::shardserve::detail::check_failed(__FILE__, __LINE__, #cond, "" __VA_ARGS__); \
  } while (0)
