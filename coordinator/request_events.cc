#include "coordinator/request_events.h"

#include <utility>

#include "base/check.h"

namespace shardserve {

RequestEvents::RequestEvents(int64_t request_id, uint64_t group_id, size_t capacity)
    : request_id_(request_id), group_id_(group_id), capacity_(capacity) {
  SS_CHECK(capacity >= 1);
}

bool RequestEvents::wait(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds timeout) {
  return ready_.wait_for(lock, timeout, [&] { return !events_.empty() || finished_; }) &&
         !events_.empty();
}

std::optional<RequestEvent> RequestEvents::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!wait(lock, timeout)) return std::nullopt;
  RequestEvent e = std::move(events_.front());
  events_.pop_front();
  if (e.terminal()) finished_ = true;
  return e;
}

std::vector<RequestEvent> RequestEvents::pop_all(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::vector<RequestEvent> out;
  if (!wait(lock, timeout)) return out;
  out.reserve(events_.size());
  for (RequestEvent& e : events_) out.push_back(std::move(e));
  events_.clear();
  if (out.back().terminal()) finished_ = true;
  return out;
}

bool RequestEvents::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

bool RequestEvents::ended() const {
  std::lock_guard lock(mu_);
  return ended_;
}

bool RequestEvents::push(RequestEvent event) {
  SS_CHECK(!event.terminal(), "terminal events go through end()");
  {
    std::lock_guard lock(mu_);
    if (ended_ || events_.size() >= capacity_) return false;
    events_.push_back(std::move(event));
  }
  ready_.notify_all();
  return true;
}

bool RequestEvents::end(RequestEvent terminal) {
  SS_CHECK(terminal.terminal(), "end() takes a terminal event");
  {
    std::lock_guard lock(mu_);
    if (ended_) return false;
    ended_ = true;
    events_.push_back(std::move(terminal));
  }
  ready_.notify_all();
  return true;
}

}  // namespace shardserve
