#include "model/llama/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/check.h"
#include "model/kernels/cpu/ops.h"

namespace shardserve {

void route_token(const float* router_logits, int64_t n_expert, int64_t n_used, int32_t* selected,
                 float* weights) {
  float probs[kernels::kMaxSoftmaxUnpadded];
  SS_CHECK(n_expert <= kernels::kMaxSoftmaxUnpadded, "more experts than the router supports");
  std::copy(router_logits, router_logits + n_expert, probs);
  kernels::softmax_unpadded(probs, n_expert);
  int32_t order[kernels::kMaxSoftmaxUnpadded];
  std::iota(order, order + n_expert, 0);
  std::partial_sort(order, order + n_used, order + n_expert, [&](int32_t a, int32_t b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  });
  double sum = 0.0;  // ggml_sum_rows: in double, rounded to float
  for (int64_t j = 0; j < n_used; ++j) {
    selected[j] = order[j];
    weights[j] = probs[order[j]];
    sum += static_cast<double>(weights[j]);
  }
  const float total = std::max(static_cast<float>(sum), 6.103515625e-5f);
  for (int64_t j = 0; j < n_used; ++j) weights[j] /= total;
}

namespace {
// y = W x for m rows, x converted to W's dot type.
void product(const WeightMatrix& w, const float* x, int64_t m, int64_t ldx,
             kernels::ActivationRows& xq, float* y, ThreadPool& pool) {
  xq.quantize(info(w.type).dot_type, x, m, w.n_cols, ldx, pool);
  kernels::matmul(w, xq, y, w.n_rows, pool);
}
}  // namespace

void MoeBlock::route(const LlamaLayerWeights& L, const MoeSpec& spec, const float* xn, int64_t n,
                     int64_t dim, ThreadPool& pool, const std::vector<bool>* one_token_chunk) {
  const int64_t n_expert = spec.n_expert, k = spec.n_used;
  router_logits_.resize(n * n_expert);
  product(L.router, xn, n, dim, xq_, router_logits_.data(), pool);
  // llama.cpp's order for an F32 router: ggml_vec_dot_f32 row by row for a one-token batch,
  // and also for longer ones when its tinyBLAS kernel declines the shape (measured: a router of
  // 4 experts goes row by row, one of 8 through tinyBLAS, whose order the matmul follows).
  if (one_token_chunk && L.router.type == DType::F32) {
    const bool tiny_blas = n_expert % 8 == 0;
    for (int64_t t = 0; t < n; ++t) {
      if (tiny_blas && !(*one_token_chunk)[t]) continue;
      for (int64_t e = 0; e < n_expert; ++e)
        router_logits_[t * n_expert + e] =
            kernels::attn_dot(reinterpret_cast<const float*>(L.router.row(e)), xn + t * dim, dim,
                              kernels::AttnOrder::Gemv);
    }
  }
  selected_.resize(n * k);
  weights_.resize(n * k);
  for (int64_t t = 0; t < n; ++t)
    route_token(&router_logits_[t * n_expert], n_expert, k, &selected_[t * k], &weights_[t * k]);
}

bool MoeBlock::gather(int32_t e, const float* xn, int64_t n, int64_t k, int64_t dim) {
  routed_.clear();
  for (int64_t slot = 0; slot < n * k; ++slot)
    if (selected_[slot] == e) routed_.push_back(slot);
  const int64_t m = static_cast<int64_t>(routed_.size());
  rows_.resize(m * dim);
  for (int64_t r = 0; r < m; ++r) std::copy_n(xn + (routed_[r] / k) * dim, dim, &rows_[r * dim]);
  return m > 0;
}

void MoeBlock::gated(const LlamaLayerWeights::Expert& x, int64_t dim, ThreadPool& pool) {
  const int64_t m = static_cast<int64_t>(routed_.size()), ff = x.gate.n_rows;
  gate_.resize(m * ff);
  up_.resize(m * ff);
  // Gate and up read the same rows: converted once when they share a dot type.
  product(x.gate, rows_.data(), m, dim, xq_, gate_.data(), pool);
  if (info(x.up.type).dot_type == xq_.type()) {
    kernels::matmul(x.up, xq_, up_.data(), x.up.n_rows, pool);
  } else {
    product(x.up, rows_.data(), m, dim, xq_, up_.data(), pool);
  }
  for (int64_t r = 0; r < m; ++r)
    kernels::silu_mul(&gate_[r * ff], &up_[r * ff], &gate_[r * ff], ff);
}

void MoeBlock::forward(const LlamaLayerWeights& L, const MoeSpec& spec, const float* xn, int64_t n,
                       int64_t dim, ShardCombiner* combiner, int tp, ThreadPool& pool, float* out,
                       const std::vector<bool>* one_token_chunk, const ExpertSlices* slices) {
  const int64_t n_expert = spec.n_expert, k = spec.n_used;
  SS_CHECK(combiner || (!slices && static_cast<int64_t>(L.experts.size()) == n_expert),
           "a lone rank must hold every expert, whole");
  route(L, spec, xn, n, dim, pool, one_token_chunk);  // every rank alike

  if (slices) {
    // Every expert's slice over the tokens routed to it; each segment's partial times w_j
    // into the token's slot of that segment.
    SS_CHECK(static_cast<int64_t>(L.experts.size()) == n_expert, "a slice of every expert");
    local_segments_.clear();
    for (const Range& seg : slices->segments)
      local_segments_.push_back({seg.begin - slices->local_begin, seg.end - slices->local_begin});
    const int64_t n_seg = static_cast<int64_t>(local_segments_.size());
    slots_.assign(n_seg * n * k * dim, -0.0f);
    for (int32_t e = 0; e < n_expert; ++e) {
      if (!gather(e, xn, n, k, dim)) continue;
      const LlamaLayerWeights::Expert& x = L.experts[e];
      gated(x, dim, pool);
      const int64_t m = static_cast<int64_t>(routed_.size());
      y_.resize(n_seg * m * dim);
      xq_.quantize(info(x.down.type).dot_type, gate_.data(), m, x.down.n_cols, x.down.n_cols, pool);
      kernels::matmul_segments(x.down, xq_, local_segments_, y_.data(), dim, m * dim, pool);
      for (int64_t sg = 0; sg < n_seg; ++sg)
        for (int64_t r = 0; r < m; ++r) {
          const float w = weights_[routed_[r]];
          const float* y = &y_[(sg * m + r) * dim];
          float* slot = &slots_[(sg * n * k + routed_[r]) * dim];
          for (int64_t d = 0; d < dim; ++d) slot[d] = y[d] * w;
        }
    }
    // A segment's token output adds its slots in selection order; then the segments, in order.
    segment_out_.resize(n_seg * n * dim);
    for (int64_t sg = 0; sg < n_seg; ++sg)
      for (int64_t t = 0; t < n; ++t)
        add_segments_in_order(&slots_[(sg * n + t) * k * dim], k, dim,
                              &segment_out_[(sg * n + t) * dim]);
    combiner->sum_segments(segment_out_.data(), slices->per_rank, n * dim, out);
    return;
  }

  // Each expert of this rank over the tokens routed to it; y_j * w_j into the tokens' slots.
  slots_.assign(n * k * dim, -0.0f);
  for (size_t i = 0; i < L.experts.size(); ++i) {
    const int32_t e = static_cast<int32_t>(L.first_expert + static_cast<int64_t>(i));
    if (!gather(e, xn, n, k, dim)) continue;
    const LlamaLayerWeights::Expert& x = L.experts[i];
    gated(x, dim, pool);
    const int64_t m = static_cast<int64_t>(routed_.size());
    y_.resize(m * dim);
    product(x.down, gate_.data(), m, x.down.n_cols, xq_, y_.data(), pool);
    for (int64_t r = 0; r < m; ++r) {
      const float w = weights_[routed_[r]];
      float* slot = &slots_[routed_[r] * dim];
      for (int64_t d = 0; d < dim; ++d) slot[d] = y_[r * dim + d] * w;
    }
  }

  // Every rank receives every slot (each has one owner), then adds a token's slots in order.
  const float* slots = slots_.data();
  if (combiner) {
    const std::vector<int> one_each(tp, 1);
    summed_.resize(n * k * dim);
    combiner->sum_segments(slots_.data(), one_each, n * k * dim, summed_.data());
    slots = summed_.data();
  }
  for (int64_t t = 0; t < n; ++t) add_segments_in_order(slots + t * k * dim, k, dim, out + t * dim);
}

}  // namespace shardserve
