// Search latency of the knowledge base's vector index against a brute-force scan (issue 19).
//
// Lab: N synthetic chunks (random unit 384-d vectors, the all-MiniLM-L6-v2 width), one
// VectorIndex with the default options; validate first (recall@10 of the index against the
// exact scan over the queries), then time Q single-threaded top-10 searches each way and print
// p50/p99 in microseconds. Random Gaussian vectors are the index's hardest case.
//
// Usage: bench_knowledge_search [N=100000] [queries=200]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <vector>

#include "coordinator/knowledge/vector_index.h"

using shardserve::knowledge::brute_force_search;
using shardserve::knowledge::l2_normalize;
using shardserve::knowledge::VectorIndex;

namespace {

constexpr size_t kDim = 384, kK = 10;

std::vector<float> random_unit(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n * kDim);
  for (float& x : v) x = normal(rng);
  for (size_t i = 0; i < n; ++i) l2_normalize(std::span<float>(v.data() + i * kDim, kDim));
  return v;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void print_latency(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  std::printf("%-12s p50 %9.1f us   p99 %9.1f us\n", what, us[us.size() / 2],
              us[std::min(us.size() - 1, us.size() * 99 / 100)]);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  const size_t q = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200;
  const std::vector<float> data = random_unit(n, 1), queries = random_unit(q, 2);
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int64_t>(i);

  auto t0 = std::chrono::steady_clock::now();
  VectorIndex index(kDim);
  for (size_t i = 0; i < n; ++i) {
    if (!index.add(ids[i], std::span<const float>(data.data() + i * kDim, kDim)).ok()) return 1;
  }
  std::printf("N=%zu dim=%zu: index built in %.1f s (%.0f vectors/s)\n", n, kDim, seconds_since(t0),
              static_cast<double>(n) / seconds_since(t0));

  std::vector<double> index_us, scan_us;
  size_t hits = 0;
  for (size_t i = 0; i < q; ++i) {
    std::span<const float> query(queries.data() + i * kDim, kDim);
    t0 = std::chrono::steady_clock::now();
    auto exact = brute_force_search(data, ids, kDim, query, kK);
    scan_us.push_back(seconds_since(t0) * 1e6);
    t0 = std::chrono::steady_clock::now();
    auto approx = index.search(query, kK);
    index_us.push_back(seconds_since(t0) * 1e6);
    std::set<int64_t> truth;
    for (auto& s : exact) truth.insert(s.chunk_id);
    for (auto& s : *approx) hits += truth.count(s.chunk_id);
  }
  std::printf("recall@10 %.3f over %zu queries\n", static_cast<double>(hits) / (q * kK), q);
  print_latency("hnsw", index_us);
  print_latency("brute force", scan_us);
  return 0;
}
