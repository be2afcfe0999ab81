#include "model/kernels/cpu/attention_f16.h"

#include <cmath>

#include "model/kernels/cpu/quant_internal.h"

namespace shardserve::kernels {
namespace {

// The references: the chains of attention_f16.h, one output at a time.
void block_scores_scalar(const float* q, int64_t n_heads, int64_t head_dim, const uint16_t* kt,
                         int64_t block_size, int64_t n, float* scores, int64_t ld) {
  for (int64_t g = 0; g < n_heads; ++g)
    for (int64_t p = 0; p < n; ++p) {
      float s[4] = {0, 0, 0, 0};
      for (int64_t d = 0; d < head_dim; ++d)
        s[d % 4] = std::fma(q[g * head_dim + d], fp16_to_fp32(kt[d * block_size + p]), s[d % 4]);
      scores[g * ld + p] = (s[0] + s[1]) + (s[2] + s[3]);
    }
}

void block_weighted_sum_scalar(const float* w, int64_t ld, int64_t n_heads, int64_t head_dim,
                               const uint16_t* v, int64_t n, float* out) {
  for (int64_t g = 0; g < n_heads; ++g)
    for (int64_t d = 0; d < head_dim; ++d) {
      float acc = out[g * head_dim + d];
      for (int64_t p = 0; p < n; ++p)
        acc = std::fma(w[g * ld + p], fp16_to_fp32(v[p * head_dim + d]), acc);
      out[g * head_dim + d] = acc;
    }
}

}  // namespace

const AttentionF16Kernels& attention_f16_kernels(Isa isa) {
  static const AttentionF16Kernels kScalar{block_scores_scalar, block_weighted_sum_scalar};
  if (isa == Isa::Avx512)
    if (const AttentionF16Kernels* k = internal::attention_f16_avx512()) return *k;
  return kScalar;
}

void store_key_transposed(const float* key, int64_t head_dim, int64_t block_size, int64_t p,
                          uint16_t* kt) {
  for (int64_t d = 0; d < head_dim; ++d) kt[d * block_size + p] = fp32_to_fp16(key[d]);
}

}  // namespace shardserve::kernels
