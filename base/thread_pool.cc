#include "base/thread_pool.h"

#include <immintrin.h>

#include <algorithm>

namespace shardserve {
namespace {
// Spin iterations before a worker sleeps: long enough to bridge the gap between the
// loops of one forward pass (microseconds), short enough not to burn a core when idle.
constexpr int kSpinIterations = 20000;
// Spin iterations before a waiting thread yields its core.
constexpr int kSpinBeforeYield = 2000;
// Chunks per thread: enough that the others absorb a late thread's share, few enough that
// each chunk is still a long contiguous run.
constexpr int64_t kChunksPerThread = 4;

constexpr uint64_t kChunkMask = 0xffffffffu;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks(int thread) {
  while (true) {
    const uint64_t claim = cursor_.fetch_add(1, std::memory_order_acq_rel);
    const int64_t n_chunks = static_cast<int64_t>(claim >> 32);
    const int64_t chunk = static_cast<int64_t>(claim & kChunkMask);
    if (chunk >= n_chunks) return;
    // The loop cannot end before this chunk is counted done, so its fields are still valid.
    const int64_t begin = job_n_ * chunk / n_chunks;
    const int64_t end = job_n_ * (chunk + 1) / n_chunks;
    if (begin < end) (*job_)(begin, end, thread);
    chunks_done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, const Fn& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n, 0);
    return;
  }
  const int64_t n_chunks = std::min<int64_t>(n, n_threads_ * kChunksPerThread);
  job_ = &fn;
  job_n_ = n;
  chunks_done_.store(0, std::memory_order_relaxed);
  cursor_.store(static_cast<uint64_t>(n_chunks) << 32, std::memory_order_release);
  generation_.fetch_add(1);  // seq_cst: ordered before the sleepers_ load
  if (sleepers_.load() > 0) {
    std::lock_guard lock(mutex_);
    wake_.notify_all();
  }
  run_chunks(0);
  // Every chunk is claimed; wait for the ones still running elsewhere. Spin briefly, then
  // yield so that a descheduled worker gets the core when threads outnumber cores.
  for (int spins = 0; chunks_done_.load(std::memory_order_acquire) != n_chunks; ++spins) {
    if (spins < kSpinBeforeYield) {
      _mm_pause();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::worker_loop(int thread) {
  uint64_t seen = 0;
  while (true) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load()) {
      if (++spins < kSpinIterations) {
        if (spins < kSpinBeforeYield) {
          _mm_pause();
        } else {
          std::this_thread::yield();
        }
        continue;
      }
      std::unique_lock lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
      sleepers_.fetch_sub(1);
      break;
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_chunks(thread);
  }
}

}  // namespace shardserve
