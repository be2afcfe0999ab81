// Bounds the time one blocking operation may take: arm() before it, disarm() after. If the
// deadline passes while armed, the process prints what it was waiting for and exits with
// status 3 (a peer died or hung; the group cannot continue). One background thread per
// Watchdog; arm/disarm are cheap (two atomic stores) and may be called from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace shardserve {

class Watchdog {
 public:
  // `who` names this process in the message, e.g. "rank 1 of group smollm2-tp2".
  Watchdog(std::string who, double timeout_s);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void arm(const char* operation);  // `operation` must be a string literal
  void disarm();

 private:
  void run();

  const std::string who_;
  const double timeout_s_;
  std::atomic<int64_t> armed_at_ns_{0};  // 0: disarmed
  std::atomic<const char*> operation_{nullptr};
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace shardserve
