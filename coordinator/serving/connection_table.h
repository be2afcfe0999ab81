// The HTTP server's open connections: how many there are (against server.max_connections),
// and a deadline for each connection that owes the server a request header.
//
// A connection owes a header from the moment it opens, and again from the end of each
// response (keep-alive). If its header is not complete idle_timeout later (an idle client, or
// one that drips its header a byte at a time: inactivity timeouts alone never end those),
// reap() shuts its socket down; the server's polling thread then sees the socket end and
// closes the connection as usual. A connection opened while `max_connections` were already
// open is "over the limit": it is to be answered 503 and closed, and has at most
// kOverLimitTimeout to send its request.
//
// Connections are named by an opaque key (the server's connection handle) and their socket.
// reap() touches a socket only while its connection is in the table, and closed() must be
// called before the socket is closed, so a reused descriptor is never shut down by mistake.
//
// Thread-safety: every method may be called from any thread; one mutex guards the table.
// The reaper thread (start_reaper) calls reap() twice a second until stop_reaper().
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "coordinator/metrics/metrics.h"

namespace shardserve {

class ConnectionTable {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kOverLimitTimeout{5};

  // `open_gauge`: set to the number of open connections.
  ConnectionTable(int max_connections, std::chrono::milliseconds idle_timeout,
                  metrics::Gauge& open_gauge);
  ~ConnectionTable();
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;

  // A connection opened on socket `fd`; returns true if it is over the limit.
  bool opened(const void* key, int fd, Clock::time_point now = Clock::now());
  // Its request header is complete: no deadline until the response ends.
  void request_started(const void* key);
  // Its response ended; it owes the next header.
  void request_ended(const void* key, Clock::time_point now = Clock::now());
  // It is closing (before its socket is closed).
  void closed(const void* key);

  bool over_limit(const void* key) const;
  int open() const;

  // Shuts down (shutdown(2), never close) the sockets whose deadline is before `now`, once
  // each; returns how many.
  int reap(Clock::time_point now = Clock::now());

  void start_reaper();
  void stop_reaper();  // idempotent

 private:
  struct Entry {
    int fd = -1;
    bool over_limit = false;
    bool waiting = true;  // owes a header (deadline applies)
    bool reaped = false;
    Clock::time_point deadline;
  };
  std::chrono::milliseconds timeout_for(const Entry& e) const;

  const int max_connections_;
  const std::chrono::milliseconds idle_timeout_;
  metrics::Gauge& open_gauge_;

  mutable std::mutex mutex_;
  std::unordered_map<const void*, Entry> entries_;  // guarded by mutex_
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread reaper_;
};

}  // namespace shardserve
