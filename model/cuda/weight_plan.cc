#include "model/cuda/weight_plan.h"

#include <algorithm>

#include "base/check.h"

namespace shardserve::gpu {
namespace {

size_t align16(size_t n) {
  return (n + 15) / 16 * 16;
}

}  // namespace

bool quant_gemv_supports(DType type) {
  switch (type) {
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q8_0:
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

size_t quant_pitch(DType type, int64_t cols) {
  return align16(row_bytes(type, cols));
}

std::vector<PlannedMatrix> plan_projection(const std::vector<WeightPart>& parts, bool quantize) {
  SS_CHECK(!parts.empty(), "a projection has at least one part");
  const int64_t cols = parts.front().cols;
  std::vector<PlannedMatrix> out;
  int64_t row = 0;
  for (int i = 0; i < static_cast<int>(parts.size()); ++i) {
    const WeightPart& p = parts[i];
    SS_CHECK(p.cols == cols && p.rows >= 0, "the parts of a projection share their columns");
    const bool quantized = quantize && quant_gemv_supports(p.type);
    const DType type = quantized ? p.type : DType::F16;
    if (out.empty() || out.back().quantized != quantized || out.back().type != type) {
      out.push_back({.quantized = quantized,
                     .type = type,
                     .row_begin = row,
                     .rows = 0,
                     .cols = cols,
                     .row_stride = quantized ? quant_pitch(type, cols) : 2 * size_t(cols),
                     .first_part = i,
                     .n_parts = 0});
    }
    out.back().rows += p.rows;
    ++out.back().n_parts;
    row += p.rows;
  }
  return out;
}

int64_t scratch_rows(int64_t rows, int64_t cols, int64_t scratch_elems) {
  SS_CHECK(cols > 0 && scratch_elems >= cols, "the scratch holds at least one row");
  return std::max<int64_t>(1, std::min(rows, scratch_elems / cols));
}

size_t gemv_workspace_bytes(int64_t max_cols, int n_cols) {
  SS_CHECK(max_cols % 32 == 0 && n_cols >= 1);
  return align16(static_cast<size_t>(n_cols * max_cols)) +
         static_cast<size_t>(n_cols * (max_cols / 32)) * 8;
}

}  // namespace shardserve::gpu
