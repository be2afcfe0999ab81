#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace shardserve {
namespace {

// Every index of [0, n) is visited exactly once, by ranges that name a valid thread.
void expect_each_index_once(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> visits(static_cast<size_t>(n));
  std::atomic<bool> bad_range{false};
  pool.parallel_for(n, [&](int64_t begin, int64_t end, int thread) {
    if (begin >= end || begin < 0 || end > n || thread < 0 || thread >= pool.size())
      bad_range = true;
    for (int64_t i = begin; i < end; ++i) visits[static_cast<size_t>(i)]++;
  });
  EXPECT_FALSE(bad_range) << "n = " << n;
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(visits[static_cast<size_t>(i)], 1) << i << " of " << n;
}

TEST(ThreadPool, CoversEveryIndexOnceForAnySizeAndThreadCount) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 3, 4, 7, 64, 1001}) expect_each_index_once(pool, n);
  }
}

TEST(ThreadPool, NonPositiveThreadCountRunsInline) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1);
  expect_each_index_once(pool, 10);
}

TEST(ThreadPool, ManyShortLoopsBackToBack) {
  // A forward pass is hundreds of short loops; each must see the previous one's writes.
  ThreadPool pool(3);
  std::vector<int64_t> values(300, 0);
  for (int round = 0; round < 2000; ++round) {
    pool.parallel_for(static_cast<int64_t>(values.size()), [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) values[static_cast<size_t>(i)] += i;
    });
  }
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(values[i], 2000 * static_cast<int64_t>(i));
}

TEST(ThreadPool, SleepingWorkersWakeForTheNextLoop) {
  ThreadPool pool(3);
  expect_each_index_once(pool, 100);
  // Long enough for the workers to pass their spin phase and sleep on the condition variable.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  expect_each_index_once(pool, 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  expect_each_index_once(pool, 3);
}

}  // namespace
}  // namespace shardserve
