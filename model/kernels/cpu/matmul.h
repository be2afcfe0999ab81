// Matrix products between quantized weights and activation rows, the hot loop of the model.
//
// A WeightMatrix views rows of a (possibly quantized) weight tensor inside the mapped model
// file, possibly a column slice of each row (row-parallel shards): row r starts at
// data + r * row_stride. Activations are converted once per step to the weight type's dot
// type (ActivationRows) and reused by every matrix that reads the same input (Q, K and V;
// gate and up). Work is split over output rows on a ThreadPool; results are written, not
// accumulated. Nothing allocates except ActivationRows growing its buffer.
// F32 weights with several tokens go through a tiled multi-token kernel (matmul_f32.h) whose
// outputs are bit for bit the single-row dot's, so no result depends on the step's token count;
// F32 weights with packed panels always go through the panel kernel (packed_f32.h), faster, and
// as independent of the token count; so do weights with quant panels (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K, Q6_K: packed_quant.h, AVX2 or AVX-512 VNNI).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "model/kernels/cpu/packed_quant.h"
#include "model/tensor_type.h"

namespace shardserve::kernels {

struct WeightMatrix {
  DType type = DType::F32;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;  // bytes between consecutive rows
  int64_t n_rows = 0;     // output features
  int64_t n_cols = 0;     // input features (a multiple of the type's block size)
  // Optional, F32 only: the same rows packed by pack_f32_panels (packed_f32.h); products then
  // use them, with that kernel's arithmetic, for any number of tokens.
  const float* panels = nullptr;
  // Optional, types with panels only (has_quant_panels): the same rows packed by pack_quant_panels
  // (packed_quant.h); products then use them for any number of tokens.
  const uint8_t* quant_panels = nullptr;
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_stride; }
};

// Activation rows converted to one dot type.
class ActivationRows {
 public:
  // Converts n_rows rows of n_cols floats (row-major, leading dimension ld) to `type`.
  void quantize(DType type, const float* x, int64_t n_rows, int64_t n_cols, int64_t ld,
                ThreadPool& pool);
  // Views n_rows rows of n_cols floats (leading dimension ld) as F32 activations, without a
  // copy: x must stay unchanged while the rows are used.
  void view_f32(const float* x, int64_t n_rows, int64_t n_cols, int64_t ld);
  DType type() const { return type_; }
  int64_t n_rows() const { return n_rows_; }
  int64_t n_cols() const { return n_cols_; }
  size_t row_stride() const { return row_stride_; }  // bytes between consecutive rows
  const void* row(int64_t i) const { return base_ + static_cast<size_t>(i) * row_stride_; }
  // Q8_0 / Q8_1 / Q8_K rows seen by the packed quant kernel: the rows with their block scales
  // (Q8_0, Q8_1) or 32-column sums (Q8_K).
  QuantActivations quant_view() const;

 private:
  DType type_ = DType::F32;
  int64_t n_rows_ = 0, n_cols_ = 0;
  size_t row_stride_ = 0;
  const uint8_t* base_ = nullptr;  // data_.data(), or the viewed rows
  std::vector<uint8_t> data_;
  std::vector<ActBlockScale> scales_;  // Q8_0 / Q8_1 with quant panels in use: per row, block
  std::vector<int16_t> sub_sums_;      // Q8_K with quant panels in use: per row, 32 columns
};

// y[t * ldy + r] = dot(w.row(r), x.row(t)) for every row r of w and row t of x.
// Precondition: x.type() == info(w.type).dot_type and x.n_cols() == w.n_cols.
void matmul(const WeightMatrix& w, const ActivationRows& x, float* y, int64_t ldy,
            ThreadPool& pool);

// One product of a batch that shares its activations: y[t * ldy + r] = dot(w.row(r), x.row(t)).
struct MatmulTarget {
  const WeightMatrix* w = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
};

// Several products with the same activations (Q, K and V; gate and up) in one parallel loop
// over all their rows, so the threads meet once instead of once per matrix. Results are those
// of matmul() for each target. Precondition: every w has x's dot type and width.
void matmul_many(std::span<const MatmulTarget> targets, const ActivationRows& x, ThreadPool& pool);

// A range of columns [begin, end), block-aligned for the types involved.
struct ColumnRange {
  int64_t begin = 0;
  int64_t end = 0;
};

// Partial products over column segments, each computed whole from zero:
// y[s * segment_stride + t * ldy + r] = dot(w.row(r)[seg s], x.row(t)[seg s]) for every
// segment s, row r of w and row t of x. Segments are relative to w's (and x's) first column.
void matmul_segments(const WeightMatrix& w, const ActivationRows& x,
                     std::span<const ColumnRange> segments, float* y, int64_t ldy,
                     int64_t segment_stride, ThreadPool& pool);

// out[i] = row `index` of w converted to f32 (embedding lookup); out has w.n_cols floats.
void dequantize_row(const WeightMatrix& w, int64_t index, float* out);

}  // namespace shardserve::kernels
