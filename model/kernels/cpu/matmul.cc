#include "model/kernels/cpu/matmul.h"

#include <algorithm>

#include "base/check.h"
#include "model/kernels/cpu/matmul_f32.h"
#include "model/kernels/cpu/packed_f32.h"
#include "model/kernels/cpu/quant.h"

namespace shardserve::kernels {

void ActivationRows::quantize(DType type, const float* x, int64_t n_rows, int64_t n_cols,
                              int64_t ld, ThreadPool& pool) {
  type_ = type;
  n_rows_ = n_rows;
  n_cols_ = n_cols;
  row_stride_ = row_bytes(type, n_cols);
  if (data_.size() < row_stride_ * n_rows) data_.resize(row_stride_ * n_rows);
  base_ = data_.data();
  QuantizeRowFn quantize_row = kernels_for(type).quantize;
  SS_CHECK(quantize_row != nullptr, "no quantizer for an activation type");
  // The packed quant kernel reads block scales as floats (and Q8_0's sums), and Q8_K's sums per
  // 32 columns; made here, where the block is still in cache, whenever such weights may be in use.
  const bool with_scales = (type == DType::Q8_0 || type == DType::Q8_1) &&
                           use_quant_panels(type == DType::Q8_0 ? DType::Q8_0 : DType::Q4_1);
  const bool with_sums = type == DType::Q8_K && use_quant_panels(DType::Q4_K);
  const int64_t n_blocks = n_cols / info(type).block_size;
  if (with_scales && scales_.size() < static_cast<size_t>(n_rows * n_blocks))
    scales_.resize(n_rows * n_blocks);
  const int64_t n_sums = n_cols / 32;
  if (with_sums && sub_sums_.size() < static_cast<size_t>(n_rows * n_sums))
    sub_sums_.resize(n_rows * n_sums);
  auto work = [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      uint8_t* row = data_.data() + static_cast<size_t>(i) * row_stride_;
      quantize_row(x + i * ld, row, n_cols);
      if (with_scales) activation_block_scales(type, row, n_cols, &scales_[i * n_blocks]);
      if (with_sums) activation_sub_sums(row, n_cols, &sub_sums_[i * n_sums]);
    }
  };
  if (n_rows < 4) {
    work(0, n_rows, 0);
  } else {
    pool.parallel_for(n_rows, work);
  }
}

QuantActivations ActivationRows::quant_view() const {
  if (type_ == DType::Q8_K) {
    const int64_t n_sums = n_cols_ / 32;
    SS_CHECK(sub_sums_.size() >= static_cast<size_t>(n_rows_ * n_sums),
             "activation sums missing (quantized without K-quant panels in use)");
    return {.type = type_,
            .rows = base_,
            .row_stride = row_stride_,
            .sub_sums = sub_sums_.data(),
            .sub_sums_stride = n_sums,
            .n_tokens = n_rows_};
  }
  const int64_t n_blocks = n_cols_ / info(type_).block_size;
  SS_CHECK(scales_.size() >= static_cast<size_t>(n_rows_ * n_blocks),
           "activation block scales missing (quantized without quant panels in use)");
  return {.type = type_,
          .rows = base_,
          .row_stride = row_stride_,
          .scales = scales_.data(),
          .scales_stride = n_blocks,
          .n_tokens = n_rows_};
}

void ActivationRows::view_f32(const float* x, int64_t n_rows, int64_t n_cols, int64_t ld) {
  type_ = DType::F32;
  n_rows_ = n_rows;
  n_cols_ = n_cols;
  row_stride_ = static_cast<size_t>(ld) * sizeof(float);
  base_ = reinterpret_cast<const uint8_t*>(x);
}

namespace {

constexpr int64_t kMultiRowMinTokens = 3;
// F32 weights with at least this many tokens go through the tiled multi-token kernel
// (matmul_f32.h), whose results are bit for bit those of the single-row dot.
constexpr int64_t kTiledF32MinTokens = 4;

bool use_tiled_f32(DType type, int64_t n_tokens) {
  return type == DType::F32 && n_tokens >= kTiledF32MinTokens;
}

// y[t * ldy + r] for rows [begin, end) of a product of F32 weights, columns [col, col + n).
void matmul_rows_f32(const WeightMatrix& w, const ActivationRows& x, int64_t col, int64_t n,
                     float* y, int64_t ldy, int64_t begin, int64_t end) {
  static const MatmulF32Fn kernel = matmul_f32_for();
  const int64_t w_stride = static_cast<int64_t>(w.row_stride / sizeof(float));
  const float* w0 = reinterpret_cast<const float*>(w.row(begin)) + col;
  const float* x0 = static_cast<const float*>(x.row(0)) + col;
  const int64_t x_stride = static_cast<int64_t>(x.row_stride() / sizeof(float));
  kernel(w0, w_stride, end - begin, x0, x_stride, x.n_rows(), n, y + begin, ldy);
}

// The same from packed panels.
void matmul_rows_packed(const WeightMatrix& w, const ActivationRows& x, int64_t col, int64_t n,
                        float* y, int64_t ldy, int64_t begin, int64_t end) {
  static const PackedMatmulFn kernel = packed_matmul_f32_for();
  kernel(w.panels, w.n_cols, begin, end, col, col + n, static_cast<const float*>(x.row(0)),
         static_cast<int64_t>(x.row_stride() / sizeof(float)), x.n_rows(), y, ldy);
}

// The same from quant panels, columns [col, col + n) (block-aligned).
void matmul_rows_quant(const WeightMatrix& w, const ActivationRows& x, int64_t col, int64_t n,
                       float* y, int64_t ldy, int64_t begin, int64_t end) {
  static const PackedQuantMatmulFn kernel = packed_quant_matmul_for();
  const int64_t block = info(w.type).block_size;
  kernel(w.type, w.quant_panels, w.n_cols, begin, end, col / block, (col + n) / block,
         x.quant_view(), y, ldy);
}

// Rows [begin, end) of one product (see matmul()).
void matmul_rows(const WeightMatrix& w, const ActivationRows& x, float* y, int64_t ldy,
                 int64_t begin, int64_t end) {
  const TypeKernels& k = kernels_for(w.type);
  const int64_t n_tokens = x.n_rows(), n = w.n_cols;
  if (w.quant_panels) return matmul_rows_quant(w, x, 0, n, y, ldy, begin, end);
  if (w.panels) return matmul_rows_packed(w, x, 0, n, y, ldy, begin, end);
  if (use_tiled_f32(w.type, n_tokens)) return matmul_rows_f32(w, x, 0, n, y, ldy, begin, end);
  // Each weight row is read once from memory and reused for every token of the step while
  // it sits in L1. With several tokens the rows are reused from cache and four rows at a time
  // (a multi-row kernel) are faster; with one or two the product streams the weights from
  // memory, and four interleaved row streams prefetch worse than one (measured: 6 vs 14 GB/s).
  int64_t r = begin;
  if (k.dot4 && n_tokens >= kMultiRowMinTokens) {
    float out[4];
    for (; r + 4 <= end; r += 4) {
      for (int64_t t = 0; t < n_tokens; ++t) {
        k.dot4(w.row(r), w.row_stride, x.row(t), n, out);
        for (int i = 0; i < 4; ++i) y[t * ldy + r + i] = out[i];
      }
    }
  }
  for (; r < end; ++r) {
    const uint8_t* wr = w.row(r);
    for (int64_t t = 0; t < n_tokens; ++t) y[t * ldy + r] = k.dot(wr, x.row(t), n);
  }
}

void check_operands(const WeightMatrix& w, const ActivationRows& x) {
  SS_CHECK(x.type() == info(w.type).dot_type, "activations in the wrong dot type");
  SS_CHECK(x.n_cols() == w.n_cols, "activation width differs from the weight's");
  SS_CHECK(!w.panels || w.type == DType::F32, "packed panels of a type other than F32");
  SS_CHECK(!w.quant_panels || use_quant_panels(w.type), "quant panels this CPU cannot use");
}

// Rows handed to a thread at a time: whole panels where the weights have quant panels (a
// split panel would be computed twice), else groups of 4 for the multi-row dots.
int64_t row_unit(const WeightMatrix& w) {
  return w.quant_panels ? kQuantPanelRows : 4;
}

// parallel_for over the rows of w in units of row_unit(w).
template <typename Fn>
void for_row_ranges(const WeightMatrix& w, ThreadPool& pool, const Fn& fn) {
  const int64_t unit = row_unit(w);
  pool.parallel_for((w.n_rows + unit - 1) / unit, [&](int64_t begin, int64_t end, int) {
    fn(begin * unit, std::min(end * unit, w.n_rows));
  });
}

}  // namespace

void matmul(const WeightMatrix& w, const ActivationRows& x, float* y, int64_t ldy,
            ThreadPool& pool) {
  check_operands(w, x);
  for_row_ranges(w, pool,
                 [&](int64_t begin, int64_t end) { matmul_rows(w, x, y, ldy, begin, end); });
}

void matmul_many(std::span<const MatmulTarget> targets, const ActivationRows& x, ThreadPool& pool) {
  // Threads take ranges of the concatenated rows, each matrix's rows rounded up to whole units
  // (row_unit) so that no thread splits a panel or a group of 4.
  int64_t total = 0;
  for (const MatmulTarget& t : targets) {
    check_operands(*t.w, x);
    total += (t.w->n_rows + row_unit(*t.w) - 1) / row_unit(*t.w);
  }
  pool.parallel_for(total, [&](int64_t begin, int64_t end, int) {
    int64_t first = 0;  // first unit of this target
    for (const MatmulTarget& t : targets) {
      const int64_t unit = row_unit(*t.w), units = (t.w->n_rows + unit - 1) / unit;
      const int64_t lo = std::max(begin, first), hi = std::min(end, first + units);
      if (lo < hi)
        matmul_rows(*t.w, x, t.y, t.ldy, (lo - first) * unit,
                    std::min((hi - first) * unit, t.w->n_rows));
      first += units;
    }
  });
}

void matmul_segments(const WeightMatrix& w, const ActivationRows& x,
                     std::span<const ColumnRange> segments, float* y, int64_t ldy,
                     int64_t segment_stride, ThreadPool& pool) {
  check_operands(w, x);
  VecDotFn dot = kernels_for(w.type).dot;
  const int64_t n_tokens = x.n_rows();
  const int64_t block = std::max(info(w.type).block_size, info(x.type()).block_size);
  std::vector<size_t> w_offset, x_offset;
  for (const ColumnRange& seg : segments) {
    SS_CHECK(seg.begin % block == 0 && seg.end % block == 0 && seg.end <= w.n_cols,
             "segment not block-aligned");
    w_offset.push_back(row_bytes(w.type, seg.begin));
    x_offset.push_back(row_bytes(x.type(), seg.begin));
  }
  const VecDot4Fn dot4 = kernels_for(w.type).dot4;
  for_row_ranges(w, pool, [&](int64_t begin, int64_t end) {
    for (size_t s = 0; s < segments.size(); ++s) {
      const int64_t n = segments[s].end - segments[s].begin;
      float* ys = y + static_cast<int64_t>(s) * segment_stride;
      if (w.quant_panels) {
        matmul_rows_quant(w, x, segments[s].begin, n, ys, ldy, begin, end);
        continue;
      }
      if (w.panels) {
        matmul_rows_packed(w, x, segments[s].begin, n, ys, ldy, begin, end);
        continue;
      }
      if (use_tiled_f32(w.type, n_tokens)) {
        matmul_rows_f32(w, x, segments[s].begin, n, ys, ldy, begin, end);
        continue;
      }
      int64_t r = begin;
      if (dot4 && n_tokens >= kMultiRowMinTokens) {
        float out[4];
        for (; r + 4 <= end; r += 4)
          for (int64_t t = 0; t < n_tokens; ++t) {
            dot4(w.row(r) + w_offset[s], w.row_stride,
                 static_cast<const uint8_t*>(x.row(t)) + x_offset[s], n, out);
            for (int i = 0; i < 4; ++i) ys[t * ldy + r + i] = out[i];
          }
      }
      for (; r < end; ++r)
        for (int64_t t = 0; t < n_tokens; ++t)
          ys[t * ldy + r] =
              dot(w.row(r) + w_offset[s], static_cast<const uint8_t*>(x.row(t)) + x_offset[s], n);
    }
  });
}

void dequantize_row(const WeightMatrix& w, int64_t index, float* out) {
  SS_CHECK(index >= 0 && index < w.n_rows, "row index out of range");
  kernels_for(w.type).dequantize(w.row(index), out, w.n_cols);
}

}  // namespace shardserve::kernels
