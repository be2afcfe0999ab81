#include "model/kernels/cpu/packed_f32.h"

#include <cmath>
#include <cstring>

#include "base/check.h"

namespace shardserve::kernels {
namespace {

// The reference: one std::fma chain per output.
void packed_matmul_scalar(const float* panels, int64_t n_cols, int64_t row_begin, int64_t row_end,
                          int64_t k_begin, int64_t k_end, const float* x, int64_t x_stride,
                          int64_t n_tokens, float* out, int64_t ldo) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const float* w = panels + (r / kPanelRows) * n_cols * kPanelRows + r % kPanelRows;
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * x_stride;
      float acc = 0.0f;
      for (int64_t k = k_begin; k < k_end; ++k) acc = std::fma(w[k * kPanelRows], xt[k], acc);
      out[t * ldo + r] = acc;
    }
  }
}

}  // namespace

AlignedFloats aligned_floats(int64_t n) {
  const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  SS_CHECK(p != nullptr, "out of memory");
  return AlignedFloats(static_cast<float*>(p));
}

AlignedFloats pack_f32_panels(const void* src, size_t src_row_bytes, int64_t n_rows,
                              int64_t n_cols) {
  AlignedFloats panels = aligned_floats(panels_size(n_rows, n_cols));
  pack_f32_panels_into(src, src_row_bytes, n_rows, n_cols, panels.get());
  return panels;
}

void pack_f32_panels_into(const void* src, size_t src_row_bytes, int64_t n_rows, int64_t n_cols,
                          float* dst) {
  const int64_t n_panels = (n_rows + kPanelRows - 1) / kPanelRows;
  const uint8_t* bytes = static_cast<const uint8_t*>(src);
  for (int64_t p = 0; p < n_panels; ++p) {
    float* panel = dst + p * n_cols * kPanelRows;
    for (int64_t i = 0; i < kPanelRows; ++i) {
      const int64_t r = p * kPanelRows + i;
      for (int64_t k = 0; k < n_cols; ++k) {
        float v = 0.0f;
        if (r < n_rows) std::memcpy(&v, bytes + r * src_row_bytes + k * sizeof(float), sizeof v);
        panel[k * kPanelRows + i] = v;
      }
    }
  }
}

void pack_f32_panels_of_transpose_into(const float* src, int64_t src_stride, int64_t n_rows,
                                       int64_t n_cols, float* dst) {
  // Row c of the transpose is column c of src; its element k is src[k][c].
  const int64_t n_panels = (n_cols + kPanelRows - 1) / kPanelRows;
  for (int64_t p = 0; p < n_panels; ++p) {
    float* panel = dst + p * n_rows * kPanelRows;
    for (int64_t k = 0; k < n_rows; ++k)
      for (int64_t i = 0; i < kPanelRows; ++i) {
        const int64_t c = p * kPanelRows + i;
        panel[k * kPanelRows + i] = c < n_cols ? src[k * src_stride + c] : 0.0f;
      }
  }
}

PackedMatmulFn packed_matmul_f32_for(Isa isa) {
  if (isa == Isa::Avx512)
    if (PackedMatmulFn f = internal::packed_matmul_f32_avx512()) return f;
  if (isa == Isa::Avx512 || isa == Isa::Avx2)
    if (PackedMatmulFn f = internal::packed_matmul_f32_avx2()) return f;
  return packed_matmul_scalar;
}

}  // namespace shardserve::kernels
