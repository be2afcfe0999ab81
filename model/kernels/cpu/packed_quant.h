// Quantized weights (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q3_K, Q4_K, Q5_K, Q6_K) repacked
// for a register-blocked integer matrix product, and that product: the fast path of matmul() for a
// WeightMatrix that carries `quant_panels` (the Llama projections and LM head on CPUs with AVX2 or
// AVX-512 VNNI).
//
// Why: the row-at-a-time dots (quant.h) decode every weight block again for each token and
// reduce each 32-value block across lanes. Here the lanes of a vector are 16 different rows, so
// one vpdpbusd multiplies 4 quants of 16 rows by 4 quants of one token (broadcast), sums stay
// per row in their lane, and a decoded block serves up to 8 tokens from registers. With AVX2
// (packed_quant_avx2.h) a vector holds 8 rows, vpmaddubsw and vpmaddwd stand in for vpdpbusd, and
// a decoded block waits in L1 for up to 64 tokens.
//
// Layout: rows in panels of 16; panel p holds, for each block b of the type (32 columns; 256
// for K-quants) in order, one 64-byte-aligned record of kind-specific size.
//
// 32-column types: a header (64 bytes) of d[16] as f16 (row r of the panel in slot r), then for
// Q4_1 / Q5_1 m[16] as f16 (else 32 bytes of zeros), then one quant tile (packed_quant_layout.h)
// of the row's unsigned quants: Q4_0 / Q4_1 nibbles, Q5_0 / Q5_1 5 bits, Q8_0 bytes of q + 128.
// 16 rows x 32 columns take 320 bytes for Q4_0 / Q4_1 (5 bits a weight; 4.5 / 5 in GGUF), 384 for
// Q5_0 / Q5_1 (6; 5.5 / 6) and 576 for Q8_0 (9; 8.5).
//
// K-quants (256-column super-blocks; a weight is d * sc * q - dmin * m for Q4_K / Q5_K, with a
// 6-bit scale sc and min m per 32 columns, d * sc * (q - 32) for Q6_K, with a signed 8-bit sc
// per 16 columns, and d * sc * (q - 4) for Q3_K, likewise with a signed 6-bit sc), one record of
// 320 bytes of scales and 8 sub-blocks of 32 columns:
//   [0, 32)    d[16] as f16;  [32, 64) dmin[16] as f16 (Q3_K / Q6_K: zeros);
//   [64, 320)  Q4_K / Q5_K: sc[j][16] (u8, sub-block j = 0..7), then m as [i][16][2] (u8, the
//              mins of sub-blocks 2i and 2i+1 of each row side by side, i = 0..3);
//              Q3_K / Q6_K: sc[g][16] (i8, 16-column group g = 0..15);
//   then sub-block j = 0..7, each a quant tile of 4, 5 or 6 bits (Q6_K's quants are q, 0..63;
//   Q3_K's are q, 0..7, in a 4-bit tile).
//   16 rows x 256 columns take 2368 bytes for Q3_K (4.625 bits a weight against 3.4375 in GGUF:
//   the 3-bit quants take nibbles, so that Q3_K runs Q6_K's arithmetic at Q4_K's speed) and Q4_K
//   (4.625 / 4.5), 2880 for Q5_K (5.625 / 5.5) and 3392 for Q6_K (6.625 / 6.5625).
// Rows past n_rows are zero. 16 rows x 32 columns take 320 bytes for Q4_1 (20 per row, as in
// GGUF) and 576 for Q8_0 (36 per row, 34 in GGUF).
//
// Arithmetic of the 32-column types, per output (row r, token t), over blocks b = b_begin ..
// b_end - 1 in order, from acc = 0.0f:
//   i   = sum over the block's 32 columns of q_w * q_x - offset * sum_x   (exact, int32; offset
//         8 for Q4_0, 16 for Q5_0, 128 for Q8_0, else 0)
//   acc = fma(float(i), d_w * d_x, acc)                          (d_w * d_x rounded to float)
//   acc = fma(m_w, s_x, acc)                                     (Q4_1 / Q5_1; s_x as in Q8_1)
// with d_x, s_x the activation block's f16 scale and scaled sum converted to float.
// K-quants take Q8_K activations (float d_x per super-block, bsum_x per 16 columns, and sum_x per
// 32 columns computed once per activation row); per super-block, in order:
//   Q4_K, Q5_K: i = sum_j sc_j * (sum over sub-block j of q_w * q_x)        (exact, int32)
//               n = sum_j m_j * sum_x[j]                                     (exact, int32)
//               acc = fma(float(i), d_w * d_x, acc);  acc = fma(float(n), -(dmin_w * d_x), acc)
//   Q3_K, Q6_K: i = sum_g sc_g * (sum over group g of q_w * q_x - o * bsum_x[g]);
//               acc = fma(float(i), d_w * d_x, acc)     (offset o: 32 for Q6_K, 4 for Q3_K)
// Every step rounds the same way in the scalar reference and the SIMD kernel, so results are the
// same bits for any ISA, tiling, thread split or number of tokens: a sequence's result never
// depends on its batch. (Against quant.h's dots, which follow llama.cpp's order, results differ
// by float rounding, about 1e-6 relative.)
//
// Thread-safe, allocates nothing (except the packers); callers split rows over threads in whole
// panels for speed (any split is correct: each call writes only its own rows).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "model/kernels/cpu/quant.h"

namespace shardserve::kernels {

inline constexpr int64_t kQuantPanelRows = 16;

// Whether `type` has a packed layout (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q3_K, Q4_K, Q5_K, Q6_K).
bool has_quant_panels(DType type);
// Whether matmul() should pack weights of `type` at load: a packed layout exists and the kernel
// for it runs at `isa` (AVX2 or AVX-512 VNNI; below that the row dots are faster than the
// reference).
bool use_quant_panels(DType type, Isa isa = best_isa());

// Bytes of one panel's record for one block of the type (32 columns; 256 for K-quants).
size_t quant_panel_block_bytes(DType type);
// Bytes of the panels of an n_rows x n_cols matrix (n_cols a multiple of the block size).
size_t quant_panels_bytes(DType type, int64_t n_rows, int64_t n_cols);

struct AlignedByteFree {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedByteFree>;

// Packs n_rows rows of a matrix of a type with panels (row r at src + r * src_row_bytes, n_cols
// columns) into freshly allocated 64-byte-aligned panels. Precondition: has_quant_panels(type).
AlignedBytes pack_quant_panels(DType type, const uint8_t* src, size_t src_row_bytes, int64_t n_rows,
                               int64_t n_cols);

// Per activation block: its scale and, for Q8_1, its scaled sum as floats, and the sum of its
// quants (sum_x above).
struct ActBlockScale {
  float d = 0.0f;
  float s = 0.0f;
  int32_t sum = 0;
};

// Fills scales[b] for the n_cols / 32 blocks of one activation row in `type` (Q8_0 or Q8_1).
void activation_block_scales(DType type, const void* row, int64_t n_cols, ActBlockScale* scales);

// Fills sums[j] = the sum of the quants of columns 32j .. 32j + 31 of one Q8_K activation row.
void activation_sub_sums(const void* row, int64_t n_cols, int16_t* sums);

// Activation rows in the weights' dot type (Q8_1 for Q4_1 / Q5_1, Q8_K for K-quants, Q8_0 for
// the others), with their scales (Q8_0, Q8_1) or 32-column sums (Q8_K).
struct QuantActivations {
  DType type = DType::Q8_1;
  const uint8_t* rows = nullptr;  // row t at rows + t * row_stride, GGUF blocks
  size_t row_stride = 0;
  const ActBlockScale* scales = nullptr;  // row t's block b at scales[t * scales_stride + b]
  int64_t scales_stride = 0;
  const int16_t* sub_sums = nullptr;  // row t's 32 columns j at sub_sums[t * sub_sums_stride + j]
  int64_t sub_sums_stride = 0;
  int64_t n_tokens = 0;
};

// out[t * ldo + r] = the chain above over blocks [b_begin, b_end) (indices of the type's blocks
// in the full rows) for rows [row_begin, row_end) and every token t of x. `panels` holds the
// whole matrix of n_cols columns. Precondition: x.type is the dot type of `type`.
using PackedQuantMatmulFn = void (*)(DType type, const uint8_t* panels, int64_t n_cols,
                                     int64_t row_begin, int64_t row_end, int64_t b_begin,
                                     int64_t b_end, const QuantActivations& x, float* out,
                                     int64_t ldo);

// The kernel of level `isa` (AVX2, AVX-512), or the scalar reference below AVX2; never null.
PackedQuantMatmulFn packed_quant_matmul_for(Isa isa = best_isa());

namespace internal {
inline bool is_kquant(DType type) {
  return type == DType::Q3_K || type == DType::Q4_K || type == DType::Q5_K || type == DType::Q6_K;
}
// The K-quant halves (packed_kquant*.cc): record size, packing one row, the scalar reference.
size_t kquant_record_bytes(DType type);
void pack_kquant_row(DType type, const uint8_t* row, int64_t n_blocks, int64_t lane,
                     uint8_t* panel);
void packed_kquant_matmul_scalar(DType type, const uint8_t* panels, int64_t n_cols,
                                 int64_t row_begin, int64_t row_end, int64_t b_begin, int64_t b_end,
                                 const QuantActivations& x, float* out, int64_t ldo);
// Kernels of one level, null where the build lacks it: 32-column types, and K-quants.
PackedQuantMatmulFn packed_quant_matmul_avx512();
PackedQuantMatmulFn packed_kquant_matmul_avx512();
PackedQuantMatmulFn packed_quant_matmul_avx2();
PackedQuantMatmulFn packed_kquant_matmul_avx2();
}  // namespace internal

}  // namespace shardserve::kernels
