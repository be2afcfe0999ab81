#include "api/request_id.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

namespace shardserve::api {

namespace {

std::mt19937_64& thread_rng() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng = [] {
    std::random_device device;
    const uint64_t time =
        static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
    const uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
    std::seed_seq seed{device(), device(), static_cast<uint32_t>(time),
                       static_cast<uint32_t>(time >> 32), static_cast<uint32_t>(n)};
    return std::mt19937_64(seed);
  }();
  return rng;
}

}  // namespace

std::string make_request_id(std::string_view prefix) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr uint64_t kSize = sizeof(kAlphabet) - 1;  // 62
  std::mt19937_64& rng = thread_rng();
  std::string id(prefix);
  id.reserve(prefix.size() + kRequestIdRandomChars);
  for (int i = 0; i < kRequestIdRandomChars; ++i) {
    uint64_t x;
    do {
      x = rng();
    } while (x >= UINT64_MAX - UINT64_MAX % kSize);  // no modulo bias
    id += kAlphabet[x % kSize];
  }
  return id;
}

}  // namespace shardserve::api
