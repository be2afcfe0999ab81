// A fixed pool of worker threads for data-parallel loops inside one forward pass.
//
// `parallel_for(n, fn)` splits [0, n) into one contiguous range per thread (the calling
// thread takes part) and returns when all ranges are done. Between loops the workers
// spin briefly and then sleep on a condition variable, so an idle pool costs no CPU.
// One thread at a time may call parallel_for (the pool belongs to one forward pass);
// fn must not call parallel_for on the same pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shardserve {

class ThreadPool {
 public:
  // n_threads counts the calling thread: 1 means no workers, everything runs inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end, thread_index) on disjoint ranges covering [0, n).
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker_loop(int index);
  void run_share(int index);

  int n_threads_;
  std::vector<std::thread> workers_;

  // The current job; written by the caller before bumping generation_.
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;

  std::atomic<uint64_t> generation_{0};  // bumped once per job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<bool> stop_{false};
  std::mutex mutex_;  // guards sleeping; pairs with wake_
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

}  // namespace shardserve
