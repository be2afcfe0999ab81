#include "parallel/watchdog.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace shardserve {
namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Watchdog::Watchdog(std::string who, double timeout_s)
    : who_(std::move(who)), timeout_s_(timeout_s), thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void Watchdog::arm(const char* operation) {
  operation_.store(operation, std::memory_order_relaxed);
  armed_at_ns_.store(now_ns(), std::memory_order_release);
}

void Watchdog::disarm() {
  armed_at_ns_.store(0, std::memory_order_release);
}

void Watchdog::run() {
  const int64_t limit_ns = static_cast<int64_t>(timeout_s_ * 1e9);
  std::unique_lock lock(mutex_);
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; })) {
    const int64_t since = armed_at_ns_.load(std::memory_order_acquire);
    if (since == 0 || now_ns() - since < limit_ns) continue;
    std::fprintf(stderr,
                 "shardserve: %s: %s waited more than %.0f s for its peers; a peer rank has "
                 "died or stopped answering. Exiting so the group can be restarted.\n",
                 who_.c_str(), operation_.load(), timeout_s_);
    std::fflush(stderr);
    std::_Exit(3);
  }
}

}  // namespace shardserve
