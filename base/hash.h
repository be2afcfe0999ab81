// 64-bit mixing for the hashes shardserve keys things by (prefix-cache blocks, the router's
// picture of them, request salts, counter-based random draws): splitmix64's finalizer, a
// bijection that spreads every input bit over the whole word. Not cryptographic: where an
// adversary could choose the inputs, key it with a secret (worker/block_manager.h does).
#pragma once

#include <cstdint>

namespace shardserve {

inline constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace shardserve
