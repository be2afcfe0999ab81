// The HTTP server's request threads: a fixed set of threads that run blocking work (an
// endpoint waiting for its generation, a stream writing its events) in the order it was
// submitted, so that the server's polling thread never blocks.
//
// Thread-safety: submit() and shutdown() may be called from any thread. shutdown() is
// idempotent; the destructor calls it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shardserve {

class TaskPool {
 public:
  // Starts `threads` (>= 1) threads.
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Queues `task` to run on one of the threads; false (and `task` is not run) once
  // shutdown() has begun.
  bool submit(std::function<void()> task);

  // Refuses new tasks, runs the tasks already queued, and returns when all have ended.
  void shutdown();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool closed_ = false;                      // guarded by mutex_
  std::vector<std::thread> threads_;         // joined once, by shutdown()
  std::once_flag joined_;
};

}  // namespace shardserve
