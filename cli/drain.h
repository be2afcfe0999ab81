// SIGTERM's graceful shutdown, as `shardserve coordinator` and `shardserve up` do it: new
// requests get 503 with Retry-After (and /health, /ready 503, so a load balancer moves on)
// while the requests in flight finish, for up to server.drain_timeout_s; then the caller stops.
// A rolling restart behind nginx loses no request.
#pragma once

#include <chrono>
#include <cstdio>

#include "coordinator/coordinator.h"

namespace shardserve::cli {

inline void drain(Coordinator& coordinator, int timeout_s, const char* program) {
  std::fprintf(stderr,
               "shardserve %s: draining: new requests get 503; waiting up to %d s for the "
               "requests in flight\n",
               program, timeout_s);
  const int left =
      coordinator.drain(std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s));
  if (left == 0) {
    std::fprintf(stderr, "shardserve %s: every request in flight finished\n", program);
  } else {
    std::fprintf(stderr, "shardserve %s: %d requests still in flight after %d s are cut off\n",
                 program, left, timeout_s);
  }
}

}  // namespace shardserve::cli
