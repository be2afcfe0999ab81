// Memory read bandwidth, the ceiling of a memory-bound decode step: T threads each sum their
// contiguous share of a buffer (1 GiB by default, far larger than any cache) with the widest
// vector loads the compiler has (-O3 -march=native), best of R passes. The buffer is written
// once before timing so that its pages are resident. Prints one JSON object.
//
// Built and run by bench/quant/compare_types.py (c++ -O3 -march=native -pthread):
//   membw [--gib 1] [--threads 2] [--passes 10]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

uint64_t sum(const uint64_t* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  double gib = 1;
  int threads = 2, passes = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--gib"))
      gib = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--passes"))
      passes = std::atoi(argv[i + 1]);
  }
  const size_t n = static_cast<size_t>(gib * (1 << 30)) / sizeof(uint64_t);
  std::vector<uint64_t> buf(n, 1);
  std::vector<uint64_t> sums(threads);
  double best = 1e30;
  for (int pass = 0; pass < passes; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      const size_t begin = n * t / threads, end = n * (t + 1) / threads;
      pool.emplace_back([&, t, begin, end] { sums[t] = sum(buf.data() + begin, end - begin); });
    }
    for (auto& th : pool) th.join();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    uint64_t total = 0;
    for (uint64_t s : sums) total += s;
    if (total != n) return std::fprintf(stderr, "membw: sum %llu\n", (unsigned long long)total), 1;
  }
  std::printf("{\"bytes\": %zu, \"threads\": %d, \"passes\": %d, \"read_gb_per_s\": %.2f}\n",
              n * sizeof(uint64_t), threads, passes, n * sizeof(uint64_t) / best / 1e9);
  return 0;
}
