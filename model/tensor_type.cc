// The table of tensor types: GGUF block layouts and the dot-product pairing of ggml's CPU
// backend (weight type -> activation type).
#include "model/tensor_type.h"

#include <array>

#include "base/check.h"

namespace shardserve {
namespace {

constexpr int64_t kQK = 32;    // elements per block of the legacy quants (Q4_0 ... Q8_1)
constexpr int64_t kQKK = 256;  // elements per super-block of the K-quants

// Bytes per block, spelled out from the block structs (fp16 = 2 bytes).
constexpr std::array kTypes = {
    DTypeInfo{DType::F32, "F32", 1, 4, DType::F32},
    DTypeInfo{DType::F16, "F16", 1, 2, DType::F16},
    DTypeInfo{DType::Q4_0, "Q4_0", kQK, 2 + kQK / 2, DType::Q8_0},
    DTypeInfo{DType::Q4_1, "Q4_1", kQK, 2 + 2 + kQK / 2, DType::Q8_1},
    DTypeInfo{DType::Q5_0, "Q5_0", kQK, 2 + 4 + kQK / 2, DType::Q8_0},
    DTypeInfo{DType::Q5_1, "Q5_1", kQK, 2 + 2 + 4 + kQK / 2, DType::Q8_1},
    DTypeInfo{DType::Q8_0, "Q8_0", kQK, 2 + kQK, DType::Q8_0},
    DTypeInfo{DType::Q8_1, "Q8_1", kQK, 2 + 2 + kQK, DType::Q8_1},
    // 16 bytes of 4-bit scales and mins, 2-bit quants, d, dmin
    DTypeInfo{DType::Q2_K, "Q2_K", kQKK, kQKK / 16 + kQKK / 4 + 2 + 2, DType::Q8_K},
    // 1 high bit per element, 2-bit low quants, 12 bytes of 6-bit scales, d
    DTypeInfo{DType::Q3_K, "Q3_K", kQKK, kQKK / 8 + kQKK / 4 + 12 + 2, DType::Q8_K},
    // d, dmin, 12 bytes of 6-bit scales/mins, 4-bit quants
    DTypeInfo{DType::Q4_K, "Q4_K", kQKK, 2 + 2 + 12 + kQKK / 2, DType::Q8_K},
    // d, dmin, scales, 1 high bit per element, 4-bit low quants
    DTypeInfo{DType::Q5_K, "Q5_K", kQKK, 2 + 2 + 12 + kQKK / 8 + kQKK / 2, DType::Q8_K},
    // 4-bit low quants, 2-bit high quants, 16 int8 scales, d
    DTypeInfo{DType::Q6_K, "Q6_K", kQKK, kQKK / 2 + kQKK / 4 + kQKK / 16 + 2, DType::Q8_K},
    // float d, int8 quants, int16 sums of 16 quants
    DTypeInfo{DType::Q8_K, "Q8_K", kQKK, 4 + kQKK + 2 * kQKK / 16, DType::Q8_K},
    DTypeInfo{DType::BF16, "BF16", 1, 2, DType::BF16},
};

static_assert(kTypes[3].block_bytes == 20 && kTypes[8].block_bytes == 84 &&
              kTypes[9].block_bytes == 110 && kTypes[10].block_bytes == 144 &&
              kTypes[11].block_bytes == 176 && kTypes[12].block_bytes == 210 &&
              kTypes[13].block_bytes == 292);

const DTypeInfo* find(uint32_t raw_type) {
  for (const DTypeInfo& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == raw_type) return &t;
  }
  return nullptr;
}

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t raw_type) {
  const DTypeInfo* t = find(raw_type);
  if (t == nullptr) return std::nullopt;
  return *t;
}

const DTypeInfo& info(DType type) {
  const DTypeInfo* t = find(static_cast<uint32_t>(type));
  SS_CHECK(t != nullptr, "unknown DType");
  return *t;
}

size_t row_bytes(DType type, int64_t n) {
  const DTypeInfo& t = info(type);
  SS_CHECK(n >= 0 && n % t.block_size == 0, "row length is not a multiple of the block size");
  return static_cast<size_t>(n / t.block_size) * t.block_bytes;
}

}  // namespace shardserve
