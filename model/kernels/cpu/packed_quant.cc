#include "model/kernels/cpu/packed_quant.h"

#include <cmath>
#include <cstring>

#include "base/check.h"
#include "model/kernels/cpu/quant_internal.h"

namespace shardserve::kernels {
namespace {

constexpr size_t kHeaderBytes = 64;
constexpr size_t kChunkBytes = 64;

int chunks_of(DType type) {
  return type == DType::Q4_1 ? 4 : 8;
}

// The scale and the 32 signed quants of one block of a type kept in byte panels: column k of
// the block is q[k] * d exactly (Q8_0 as stored; Q4_0 nibble - 8; Q5_0 five bits - 16).
uint16_t signed_quants(DType type, const uint8_t* src, int8_t q[kQK]) {
  switch (type) {
    case DType::Q8_0: {
      BlockQ8_0 blk;
      std::memcpy(&blk, src, sizeof blk);
      std::memcpy(q, blk.qs, kQK);
      return blk.d;
    }
    case DType::Q4_0: {
      BlockQ4_0 blk;
      std::memcpy(&blk, src, sizeof blk);
      for (int j = 0; j < kQK / 2; ++j) {
        q[j] = static_cast<int8_t>((blk.qs[j] & 0x0f) - 8);
        q[j + kQK / 2] = static_cast<int8_t>((blk.qs[j] >> 4) - 8);
      }
      return blk.d;
    }
    case DType::Q5_0: {
      BlockQ5_0 blk;
      std::memcpy(&blk, src, sizeof blk);
      uint32_t qh;
      std::memcpy(&qh, blk.qh, sizeof qh);
      for (int j = 0; j < kQK / 2; ++j) {
        const int lo = (blk.qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
        const int hi = (blk.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
        q[j] = static_cast<int8_t>(lo - 16);
        q[j + kQK / 2] = static_cast<int8_t>(hi - 16);
      }
      return blk.d;
    }
    default:
      SS_CHECK(false, "no byte panels for this type");
      return 0;
  }
}

// The quant block of one activation row's block b, and its 32 signed quants.
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
  const bool q4 = type == DType::Q4_1;
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
        int32_t sum = 0;
        for (int k = 0; k < kQK; ++k) {
          const int quad = k / 4, j = k % 4;
          int qw;
          if (q4) {
            const uint8_t byte = rec[kHeaderBytes + (quad % 4) * kChunkBytes + 4 * lane + j];
            qw = quad < 4 ? (byte & 0x0f) : (byte >> 4);
          } else {
            qw = static_cast<int>(rec[kHeaderBytes + quad * kChunkBytes + 4 * lane + j]) - 128;
          }
          sum += qw * qx[k];
        }
        acc = std::fma(static_cast<float>(sum), fp16_to_fp32(d16) * sc.d, acc);
        if (q4) acc = std::fma(fp16_to_fp32(m16), sc.s, acc);
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

// The AVX-512 kernels, by family.
void packed_matmul_avx512_any(DType type, const uint8_t* panels, int64_t n_cols, int64_t row_begin,
                              int64_t row_end, int64_t b_begin, int64_t b_end,
                              const QuantActivations& x, float* out, int64_t ldo) {
  static const PackedQuantMatmulFn legacy = internal::packed_quant_matmul_avx512();
  static const PackedQuantMatmulFn kquant = internal::packed_kquant_matmul_avx512();
  (internal::is_kquant(type) ? kquant : legacy)(type, panels, n_cols, row_begin, row_end, b_begin,
                                                b_end, x, out, ldo);
}

}  // namespace

bool has_quant_panels(DType type) {
  return type == DType::Q4_1 || type == DType::Q8_0 || type == DType::Q4_0 || type == DType::Q5_0 ||
         internal::is_kquant(type);
}

bool use_quant_panels(DType type, Isa isa) {
  return has_quant_panels(type) && isa == Isa::Avx512 &&
         internal::packed_quant_matmul_avx512() != nullptr &&
         internal::packed_kquant_matmul_avx512() != nullptr;
}

size_t quant_panel_block_bytes(DType type) {
  SS_CHECK(has_quant_panels(type), "no packed layout for this type");
  if (internal::is_kquant(type)) return internal::kquant_record_bytes(type);
  return kHeaderBytes + chunks_of(type) * kChunkBytes;
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
      uint8_t* quants = rec + kHeaderBytes + 4 * lane;
      if (type == DType::Q4_1) {
        BlockQ4_1 blk;
        std::memcpy(&blk, row + b * sizeof blk, sizeof blk);
        std::memcpy(rec + 2 * lane, &blk.d, 2);
        std::memcpy(rec + 32 + 2 * lane, &blk.m, 2);
        for (int c = 0; c < 4; ++c) std::memcpy(quants + c * kChunkBytes, blk.qs + 4 * c, 4);
      } else {
        int8_t q[kQK];
        const uint16_t d = signed_quants(type, row + b * src_block_bytes, q);
        std::memcpy(rec + 2 * lane, &d, 2);
        for (int c = 0; c < 8; ++c)
          for (int j = 0; j < 4; ++j)
            quants[c * kChunkBytes + j] = static_cast<uint8_t>(q[4 * c + j] ^ 0x80);
      }
    }
  }
  return panels;
}

void activation_block_scales(DType type, const void* row, int64_t n_cols, ActBlockScale* scales) {
  const int64_t n_blocks = n_cols / kQK;
  if (type == DType::Q8_1) {
    const BlockQ8_1* b = static_cast<const BlockQ8_1*>(row);
    for (int64_t i = 0; i < n_blocks; ++i)
      scales[i] = {.d = fp16_to_fp32(b[i].d), .s = fp16_to_fp32(b[i].s), .bias = 0};
    return;
  }
  SS_CHECK(type == DType::Q8_0, "activation scales of a type other than Q8_0 / Q8_1");
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(row);
  for (int64_t i = 0; i < n_blocks; ++i) {
    int32_t sum = 0;
    for (int k = 0; k < kQK; ++k) sum += b[i].qs[k];
    scales[i] = {.d = fp16_to_fp32(b[i].d), .s = 0.0f, .bias = -128 * sum};
  }
}

PackedQuantMatmulFn packed_quant_matmul_for(Isa isa) {
  if (isa == Isa::Avx512 && internal::packed_quant_matmul_avx512() &&
      internal::packed_kquant_matmul_avx512())
    return packed_matmul_avx512_any;
  return packed_matmul_scalar_any;
}

}  // namespace shardserve::kernels
