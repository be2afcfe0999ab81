#include "coordinator/serving/connection_table.h"

#include <sys/socket.h>

#include <algorithm>

namespace shardserve {

ConnectionTable::ConnectionTable(int max_connections, std::chrono::milliseconds idle_timeout,
                                 metrics::Gauge& open_gauge)
    : max_connections_(max_connections), idle_timeout_(idle_timeout), open_gauge_(open_gauge) {}

ConnectionTable::~ConnectionTable() {
  stop_reaper();
}

std::chrono::milliseconds ConnectionTable::timeout_for(const Entry& e) const {
  if (!e.over_limit) return idle_timeout_;
  return std::min(idle_timeout_, std::chrono::milliseconds(kOverLimitTimeout));
}

bool ConnectionTable::opened(const void* key, int fd, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry e;
  e.fd = fd;
  e.over_limit = static_cast<int>(entries_.size()) >= max_connections_;
  e.deadline = now + timeout_for(e);
  entries_[key] = e;
  open_gauge_.set(static_cast<double>(entries_.size()));
  return e.over_limit;
}

void ConnectionTable::request_started(const void* key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = entries_.find(key); it != entries_.end()) it->second.waiting = false;
}

void ConnectionTable::request_ended(const void* key, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    it->second.waiting = true;
    it->second.deadline = now + timeout_for(it->second);
  }
}

void ConnectionTable::closed(const void* key) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.erase(key);
  open_gauge_.set(static_cast<double>(entries_.size()));
}

bool ConnectionTable::over_limit(const void* key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.over_limit;
}

int ConnectionTable::open() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(entries_.size());
}

int ConnectionTable::reap(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  int reaped = 0;
  for (auto& [key, e] : entries_) {
    if (!e.waiting || e.reaped || e.deadline > now) continue;
    ::shutdown(e.fd, SHUT_RDWR);
    e.reaped = true;
    ++reaped;
  }
  return reaped;
}

void ConnectionTable::start_reaper() {
  reaper_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      stop_cv_.wait_for(lock, std::chrono::milliseconds(500));
      if (stopping_) break;
      lock.unlock();
      reap();
      lock.lock();
    }
  });
}

void ConnectionTable::stop_reaper() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

}  // namespace shardserve
