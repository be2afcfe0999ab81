#include "model/kernels/cpu/packed_quant.h"

#include <cmath>
#include <cstring>

#include "base/check.h"
#include "model/kernels/cpu/packed_quant_layout.h"
#include "model/kernels/cpu/quant_internal.h"

namespace shardserve::kernels {
namespace {

using internal::QuantBits;

constexpr size_t kHeaderBytes = 64;

// How a 32-column type is kept: its quant tile, the offset its stored quants carry (a weight is
// d * (q - offset), or d * q + m for the types with a min) and whether it has a min.
struct LegacyFormat {
  QuantBits bits;
  int offset;
  bool has_min;
};

LegacyFormat legacy_format(DType type) {
  switch (type) {
    case DType::Q4_0:
      return {QuantBits::k4, 8, false};
    case DType::Q4_1:
      return {QuantBits::k4, 0, true};
    case DType::Q5_0:
      return {QuantBits::k5, 16, false};
    case DType::Q5_1:
      return {QuantBits::k5, 0, true};
    case DType::Q8_0:
      return {QuantBits::k8, 128, false};
    default:
      SS_CHECK(false, "no 32-column panels for this type");
      return {};
  }
}

// One block of a 32-column type, decoded: scale, min (or 0) and the stored unsigned quants.
struct LegacyBlock {
  uint16_t d = 0, m = 0;
  uint8_t q[kQK] = {};
};

// Nibble j of a 16-byte quant array: low nibbles are elements 0..15, high ones 16..31.
int nibble(const uint8_t* qs, int k) {
  return k < kQK / 2 ? qs[k] & 0x0f : qs[k - kQK / 2] >> 4;
}

LegacyBlock decode_legacy(DType type, const uint8_t* src) {
  LegacyBlock blk;
  switch (type) {
    case DType::Q8_0: {
      BlockQ8_0 b;
      std::memcpy(&b, src, sizeof b);
      blk.d = b.d;
      for (int k = 0; k < kQK; ++k) blk.q[k] = static_cast<uint8_t>(b.qs[k] + 128);
      break;
    }
    case DType::Q4_0:
    case DType::Q4_1: {
      BlockQ4_1 b{};  // Q4_0 is Q4_1 without m
      const bool min = type == DType::Q4_1;
      std::memcpy(&b.d, src, 2);
      if (min) std::memcpy(&b.m, src + 2, 2);
      std::memcpy(b.qs, src + (min ? 4 : 2), sizeof b.qs);
      blk.d = b.d;
      blk.m = b.m;
      for (int k = 0; k < kQK; ++k) blk.q[k] = static_cast<uint8_t>(nibble(b.qs, k));
      break;
    }
    default: {  // Q5_0, Q5_1
      BlockQ5_1 b{};
      const bool min = type == DType::Q5_1;
      std::memcpy(&b.d, src, 2);
      if (min) std::memcpy(&b.m, src + 2, 2);
      std::memcpy(b.qh, src + (min ? 4 : 2), sizeof b.qh);
      std::memcpy(b.qs, src + (min ? 8 : 6), sizeof b.qs);
      uint32_t qh;
      std::memcpy(&qh, b.qh, sizeof qh);
      blk.d = b.d;
      blk.m = b.m;
      for (int k = 0; k < kQK; ++k)
        blk.q[k] = static_cast<uint8_t>(nibble(b.qs, k) | (((qh >> k) & 1u) << 4));
    }
  }
  return blk;
}

// The quants of one activation row's block b.
const int8_t* act_quants(const QuantActivations& x, int64_t t, int64_t b) {
  const uint8_t* row = x.rows + static_cast<size_t>(t) * x.row_stride;
  if (x.type == DType::Q8_1) return reinterpret_cast<const BlockQ8_1*>(row)[b].qs;
  return reinterpret_cast<const BlockQ8_0*>(row)[b].qs;
}

// The reference: the chain of packed_quant.h for each output, read back from the panels.
void packed_quant_matmul_scalar(DType type, const uint8_t* panels, int64_t n_cols,
                                int64_t row_begin, int64_t row_end, int64_t b_begin, int64_t b_end,
                                const QuantActivations& x, float* out, int64_t ldo) {
  const int64_t n_blocks = n_cols / kQK;
  const size_t block_bytes = quant_panel_block_bytes(type);
  const LegacyFormat f = legacy_format(type);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t p = r / kQuantPanelRows, lane = r % kQuantPanelRows;
    for (int64_t t = 0; t < x.n_tokens; ++t) {
      float acc = 0.0f;
      for (int64_t b = b_begin; b < b_end; ++b) {
        const uint8_t* rec = panels + (static_cast<size_t>(p * n_blocks + b)) * block_bytes;
        uint16_t d16, m16;
        std::memcpy(&d16, rec + 2 * lane, 2);
        std::memcpy(&m16, rec + 32 + 2 * lane, 2);
        const int8_t* qx = act_quants(x, t, b);
        const ActBlockScale& sc = x.scales[t * x.scales_stride + b];
        int32_t sum = -f.offset * sc.sum;
        for (int k = 0; k < kQK; ++k)
          sum += internal::get_tile_quant(f.bits, rec + kHeaderBytes, lane, k) * qx[k];
        acc = std::fma(static_cast<float>(sum), fp16_to_fp32(d16) * sc.d, acc);
        if (f.has_min) acc = std::fma(fp16_to_fp32(m16), sc.s, acc);
      }
      out[t * ldo + r] = acc;
    }
  }
}

// The scalar reference of any type with panels.
void packed_matmul_scalar_any(DType type, const uint8_t* panels, int64_t n_cols, int64_t row_begin,
                              int64_t row_end, int64_t b_begin, int64_t b_end,
                              const QuantActivations& x, float* out, int64_t ldo) {
  (internal::is_kquant(type) ? internal::packed_kquant_matmul_scalar : packed_quant_matmul_scalar)(
      type, panels, n_cols, row_begin, row_end, b_begin, b_end, x, out, ldo);
}

// The kernels of one level, by family.
void packed_matmul_avx512_any(DType type, const uint8_t* panels, int64_t n_cols, int64_t row_begin,
                              int64_t row_end, int64_t b_begin, int64_t b_end,
                              const QuantActivations& x, float* out, int64_t ldo) {
  static const PackedQuantMatmulFn legacy = internal::packed_quant_matmul_avx512();
  static const PackedQuantMatmulFn kquant = internal::packed_kquant_matmul_avx512();
  (internal::is_kquant(type) ? kquant : legacy)(type, panels, n_cols, row_begin, row_end, b_begin,
                                                b_end, x, out, ldo);
}

void packed_matmul_avx2_any(DType type, const uint8_t* panels, int64_t n_cols, int64_t row_begin,
                            int64_t row_end, int64_t b_begin, int64_t b_end,
                            const QuantActivations& x, float* out, int64_t ldo) {
  static const PackedQuantMatmulFn legacy = internal::packed_quant_matmul_avx2();
  static const PackedQuantMatmulFn kquant = internal::packed_kquant_matmul_avx2();
  (internal::is_kquant(type) ? kquant : legacy)(type, panels, n_cols, row_begin, row_end, b_begin,
                                                b_end, x, out, ldo);
}

// The dispatcher of level `isa` where this build has both families' kernels for it, else null.
PackedQuantMatmulFn simd_kernel(Isa isa) {
  if (isa == Isa::Avx512 && internal::packed_quant_matmul_avx512() &&
      internal::packed_kquant_matmul_avx512())
    return packed_matmul_avx512_any;
  if (isa == Isa::Avx2 && internal::packed_quant_matmul_avx2() &&
      internal::packed_kquant_matmul_avx2())
    return packed_matmul_avx2_any;
  return nullptr;
}

}  // namespace

bool has_quant_panels(DType type) {
  return type == DType::Q4_0 || type == DType::Q4_1 || type == DType::Q5_0 || type == DType::Q5_1 ||
         type == DType::Q8_0 || internal::is_kquant(type);
}

bool use_quant_panels(DType type, Isa isa) {
  return has_quant_panels(type) && simd_kernel(isa) != nullptr;
}

size_t quant_panel_block_bytes(DType type) {
  SS_CHECK(has_quant_panels(type), "no packed layout for this type");
  if (internal::is_kquant(type)) return internal::kquant_record_bytes(type);
  return kHeaderBytes + internal::quant_tile_bytes(legacy_format(type).bits);
}

size_t quant_panels_bytes(DType type, int64_t n_rows, int64_t n_cols) {
  const int64_t n_panels = (n_rows + kQuantPanelRows - 1) / kQuantPanelRows;
  return static_cast<size_t>(n_panels * (n_cols / info(type).block_size)) *
         quant_panel_block_bytes(type);
}

AlignedBytes pack_quant_panels(DType type, const uint8_t* src, size_t src_row_bytes, int64_t n_rows,
                               int64_t n_cols) {
  SS_CHECK(has_quant_panels(type) && n_cols % info(type).block_size == 0,
           "matrix cannot be packed");
  const size_t bytes = quant_panels_bytes(type, n_rows, n_cols);
  void* mem = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  SS_CHECK(mem != nullptr, "out of memory packing weights");
  AlignedBytes panels(static_cast<uint8_t*>(mem));
  std::memset(panels.get(), 0, bytes);
  const int64_t n_blocks = n_cols / info(type).block_size;
  const size_t block_bytes = quant_panel_block_bytes(type);
  const size_t src_block_bytes = info(type).block_bytes;
  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t p = r / kQuantPanelRows, lane = r % kQuantPanelRows;
    const uint8_t* row = src + static_cast<size_t>(r) * src_row_bytes;
    if (internal::is_kquant(type)) {
      internal::pack_kquant_row(type, row, n_blocks, lane,
                                panels.get() + static_cast<size_t>(p * n_blocks) * block_bytes);
      continue;
    }
    for (int64_t b = 0; b < n_blocks; ++b) {
      uint8_t* rec = panels.get() + static_cast<size_t>(p * n_blocks + b) * block_bytes;
      const LegacyBlock blk = decode_legacy(type, row + b * src_block_bytes);
      std::memcpy(rec + 2 * lane, &blk.d, 2);
      std::memcpy(rec + 32 + 2 * lane, &blk.m, 2);
      for (int k = 0; k < kQK; ++k)
        internal::put_tile_quant(legacy_format(type).bits, rec + kHeaderBytes, lane, k, blk.q[k]);
    }
  }
  return panels;
}

void activation_block_scales(DType type, const void* row, int64_t n_cols, ActBlockScale* scales) {
  SS_CHECK(type == DType::Q8_0 || type == DType::Q8_1,
           "activation scales of a type other than Q8_0 / Q8_1");
  const bool q8_1 = type == DType::Q8_1;
  const size_t block_bytes = q8_1 ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
  for (int64_t i = 0; i < n_cols / kQK; ++i) {
    const uint8_t* blk = static_cast<const uint8_t*>(row) + i * block_bytes;
    uint16_t d, s = 0;
    std::memcpy(&d, blk, 2);
    if (q8_1) std::memcpy(&s, blk + 2, 2);
    const int8_t* qs = reinterpret_cast<const int8_t*>(blk + (q8_1 ? 4 : 2));
    int32_t sum = 0;
    for (int k = 0; k < kQK; ++k) sum += qs[k];
    scales[i] = {.d = fp16_to_fp32(d), .s = q8_1 ? fp16_to_fp32(s) : 0.0f, .sum = sum};
  }
}

PackedQuantMatmulFn packed_quant_matmul_for(Isa isa) {
  const PackedQuantMatmulFn simd = simd_kernel(isa);
  return simd ? simd : packed_matmul_scalar_any;
}

}  // namespace shardserve::kernels
