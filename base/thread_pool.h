// A fixed pool of worker threads for data-parallel loops inside one forward pass.
//
// `parallel_for(n, fn)` cuts [0, n) into a few contiguous chunks per thread, which the
// calling thread and the workers claim one at a time, and returns when all chunks are done.
// A worker that is slow to wake (threads outnumber free cores, an interrupt) costs the loop
// nothing: the others take its chunks. Between loops the workers spin briefly and then sleep
// on a condition variable, so an idle pool costs no CPU.
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
  using Fn = std::function<void(int64_t begin, int64_t end, int thread)>;

  // n_threads counts the calling thread: 1 means no workers, everything runs inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end, thread) on disjoint ranges covering [0, n), each range by one
  // thread; `thread` in [0, size()) names the thread (for per-thread scratch space). A thread
  // may get several ranges of one loop. Which thread gets which range is not fixed, so fn's
  // result must not depend on it.
  void parallel_for(int64_t n, const Fn& fn);

 private:
  void worker_loop(int thread);
  // Claims and runs chunks of the current loop until none is left.
  void run_chunks(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;

  // The current loop; written by the caller while no chunk is claimable, published by the
  // release store of cursor_.
  const Fn* job_ = nullptr;
  int64_t job_n_ = 0;

  // (number of chunks << 32) | next unclaimed chunk. One fetch_add claims a chunk and says
  // whether it exists, so a late worker never reads a loop's fields after the loop ended.
  std::atomic<uint64_t> cursor_{0};
  std::atomic<int64_t> chunks_done_{0};

  std::atomic<uint64_t> generation_{0};  // bumped once per loop, to wake the workers
  std::atomic<bool> stop_{false};
  std::mutex mutex_;  // guards sleeping; pairs with wake_
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

}  // namespace shardserve
