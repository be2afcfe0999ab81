// Tensor element types as they appear in GGUF files, and their block layouts.
//
// Numbering follows GGUF (ggml_type), so a raw type id read from a file maps directly.
// Quantized types store fixed-size blocks of `block_size` elements in `block_bytes` bytes;
// a row of n elements (n a multiple of block_size) takes n / block_size * block_bytes bytes.
// `dot_type` is the type an activation row is quantized to before a dot product with a
// weight row of this type (the same pairing llama.cpp uses, so results match it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shardserve {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,  // activation type for Q4_1 / Q5_1 dots
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,  // activation type for K-quant dots
  BF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;
  int64_t block_size;  // elements per block (1 for plain floats)
  size_t block_bytes;  // bytes per block
  DType dot_type;      // type the other operand of a dot product is converted to
};

// Info for a raw GGUF type id; nullopt for ids this build does not support.
std::optional<DTypeInfo> dtype_info(uint32_t raw_type);
// Info for a known type (always succeeds).
const DTypeInfo& info(DType type);

// Bytes taken by a row of n elements. Precondition: n % block_size == 0.
size_t row_bytes(DType type, int64_t n);

}  // namespace shardserve
