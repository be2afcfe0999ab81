// F32 weights repacked for a register-blocked matrix product, and that product: the fast path
// of matmul() for a WeightMatrix that carries `panels` (the BERT encoder's linears).
//
// Layout: rows in panels of 16; panel p stores its rows k-major, element (r, k) at
// panels[(p * n_cols + k) * 16 + r % 16], rows past n_rows zero, 64-byte aligned. One 16-float
// vector then holds column k of 16 rows, and the product multiplies it by a broadcast activation
// x[t][k]: each vector load serves several tokens and each activation several rows, with no
// horizontal sums at all.
//
// Arithmetic: out(t, r) = one fused multiply-add chain over k in increasing order, from 0:
//   acc = fma(w(r, k), x(t, k), acc) for k = k_begin .. k_end - 1.
// A fused multiply-add rounds once, so this is the same bits at every ISA (the scalar reference
// uses std::fma), whatever the tiling, thread split or number of tokens: a sequence's result
// never depends on its batch. (Against the single-row dot of quant.h, which sums 16 or 64 lanes,
// it differs by float rounding: about sqrt(n) * 2^-24 relative to sum |w x|.)
//
// Thread-safe, allocates nothing (except pack_f32_panels); callers split rows over threads (two
// threads may share a panel: each writes only its own rows).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "model/kernels/cpu/quant.h"

namespace shardserve::kernels {

inline constexpr int64_t kPanelRows = 16;

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;

// n floats, 64-byte aligned, uninitialised.
AlignedFloats aligned_floats(int64_t n);

// Floats taken by the panels of an n_rows x n_cols matrix.
inline int64_t panels_size(int64_t n_rows, int64_t n_cols) {
  return (n_rows + kPanelRows - 1) / kPanelRows * kPanelRows * n_cols;
}

// Packs n_rows rows of n_cols floats (row r at src + r * src_row_bytes; no alignment needed, as
// in a mapped safetensors file) into panels.
AlignedFloats pack_f32_panels(const void* src, size_t src_row_bytes, int64_t n_rows,
                              int64_t n_cols);
// The same into dst (64-byte aligned, panels_size(n_rows, n_cols) floats).
void pack_f32_panels_into(const void* src, size_t src_row_bytes, int64_t n_rows, int64_t n_cols,
                          float* dst);
// Packs the transpose of an n_rows x n_cols matrix (its columns become the panels' rows) into dst
// (64-byte aligned, panels_size(n_cols, n_rows) floats). src is a float matrix, row stride in
// floats.
void pack_f32_panels_of_transpose_into(const float* src, int64_t src_stride, int64_t n_rows,
                                       int64_t n_cols, float* dst);

// out[t * ldo + r] = the chain above over columns [k_begin, k_end) of x row t (at x + t *
// x_stride, indexed by absolute column) for rows [row_begin, row_end) and tokens [0, n_tokens).
using PackedMatmulFn = void (*)(const float* panels, int64_t n_cols, int64_t row_begin,
                                int64_t row_end, int64_t k_begin, int64_t k_end, const float* x,
                                int64_t x_stride, int64_t n_tokens, float* out, int64_t ldo);

// The kernel of level `isa` (a lower level's where `isa` has none); never null.
// Precondition: isa_supported(isa).
PackedMatmulFn packed_matmul_f32_for(Isa isa = best_isa());

namespace internal {
PackedMatmulFn packed_matmul_f32_avx2();  // null where the build lacks the level
PackedMatmulFn packed_matmul_f32_avx512();
}  // namespace internal

}  // namespace shardserve::kernels
