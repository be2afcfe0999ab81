// A scalar CPU oracle for the CUDA paged attention (model/cuda/attention.cuh), for the GPU
// tests and the attention benchmark: double arithmetic over a host copy of one layer's f16
// keys and values in the device's paged layout, read through the same block tables.
//
// out[t * n_q_heads * head_dim + h * head_dim + d] =
//   sum_p softmax_p((K_p . f16(q[t][h])) * scale) V_p[d],  p in [0, positions[t]],
// with query head h reading KV head h / (n_q_heads / n_kv_heads), and K_p, V_p at
//   block = tables[table_begin[t] + p / block_size], offset p % block_size.
// Also: make_step(), a paged cache with random contents for a step of given chunks.
// Header-only host code; thread-safe (the f16 table is a function-local static).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "model/kernels/cpu/quant.h"

namespace shardserve::gpu::testing {

struct HostPagedLayer {
  const uint16_t* keys = nullptr;    // f16 bits, [n_blocks][n_kv_heads][block_size][head_dim]
  const uint16_t* values = nullptr;  // same layout
  int64_t n_kv_heads = 0, head_dim = 0, block_size = 16;
};

inline float f16_bits_to_float(uint16_t h) {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) t[i] = kernels::f16_to_f32(static_cast<uint16_t>(i));
    return t;
  }();
  return table[h];
}

inline std::vector<float> reference_attention(const float* q, int64_t ldq, int64_t n_q_heads,
                                              const HostPagedLayer& c, const int32_t* positions,
                                              const int32_t* table_begin, int64_t n_tokens,
                                              const int32_t* tables, float scale) {
  const int64_t hd = c.head_dim, group = n_q_heads / c.n_kv_heads;
  std::vector<float> out(n_tokens * n_q_heads * hd);
  std::vector<double> w, qh(hd), acc(hd);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t n_ctx = static_cast<int64_t>(positions[t]) + 1;
    const int32_t* table = tables + table_begin[t];
    w.resize(n_ctx);
    for (int64_t h = 0; h < n_q_heads; ++h) {
      const int64_t kvh = h / group;
      for (int64_t d = 0; d < hd; ++d)
        qh[d] = kernels::f16_to_f32(kernels::f32_to_f16(q[t * ldq + h * hd + d]));
      auto at = [&](int64_t p) {
        return ((static_cast<int64_t>(table[p / c.block_size]) * c.n_kv_heads + kvh) *
                    c.block_size +
                p % c.block_size) *
               hd;
      };
      double max = -INFINITY;
      for (int64_t p = 0; p < n_ctx; ++p) {
        const uint16_t* k = c.keys + at(p);
        double dot = 0;
        for (int64_t d = 0; d < hd; ++d) dot += f16_bits_to_float(k[d]) * qh[d];
        w[p] = dot * scale;
        max = std::max(max, w[p]);
      }
      double sum = 0;
      for (double& x : w) sum += (x = std::exp(x - max));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t p = 0; p < n_ctx; ++p) {
        const uint16_t* v = c.values + at(p);
        for (int64_t d = 0; d < hd; ++d) acc[d] += w[p] * f16_bits_to_float(v[d]);
      }
      for (int64_t d = 0; d < hd; ++d)
        out[(t * n_q_heads + h) * hd + d] = static_cast<float>(acc[d] / sum);
    }
  }
  return out;
}

inline constexpr uint16_t kF16NaN = 0x7e00;

struct Shape {
  int64_t n_q_heads, n_kv_heads, head_dim, block_size;
};

// One sequence of a step: `cached` positions written by earlier steps, then `len` new tokens.
struct Chunk {
  int32_t cached, len;
};

// A host cache of two layers with random K and V for every sequence's context (a few keys
// scaled by 4, for peaks in the softmax) and NaN everywhere else, block tables in scattered
// order, and the step's tokens.
struct PagedStep {
  Shape shape;
  int64_t per_layer = 0;
  std::vector<uint16_t> cache;  // [K|V][layer][block][kv_head][block_size][head_dim]
  std::vector<int32_t> tables, positions, table_begin;

  int64_t n_tokens() const { return static_cast<int64_t>(positions.size()); }
  HostPagedLayer host_layer(int64_t layer) const {
    return {cache.data() + layer * per_layer, cache.data() + (2 + layer) * per_layer,
            shape.n_kv_heads, shape.head_dim, shape.block_size};
  }
};

inline PagedStep make_step(const Shape& s, const std::vector<Chunk>& chunks, uint32_t seed) {
  PagedStep st;
  st.shape = s;
  const int64_t bs = s.block_size, hd = s.head_dim, n_kv = s.n_kv_heads;
  int64_t n_blocks = 8;  // spares, never in a table
  for (const Chunk& c : chunks) n_blocks += (c.cached + c.len + bs - 1) / bs;
  st.per_layer = n_blocks * n_kv * bs * hd;
  st.cache.assign(4 * st.per_layer, kF16NaN);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<int32_t> ids(n_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  size_t next = 0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const Chunk& c = chunks[ci];
    const int64_t ctx = c.cached + c.len;
    const int32_t begin = static_cast<int32_t>(st.tables.size());
    for (int64_t b = 0; b < (ctx + bs - 1) / bs; ++b) st.tables.push_back(ids[next++]);
    for (int64_t layer = 0; layer < 2; ++layer)
      for (int64_t p = 0; p < ctx; ++p)
        for (int64_t h = 0; h < n_kv; ++h)
          for (int64_t d = 0; d < hd; ++d) {
            const int64_t at = ((st.tables[begin + p / bs] * n_kv + h) * bs + p % bs) * hd + d +
                               layer * st.per_layer;
            const float peak = (p * 7919 + static_cast<int64_t>(ci)) % 389 == 0 ? 4.0f : 1.0f;
            st.cache[at] = kernels::f32_to_f16(peak * u(rng));
            st.cache[2 * st.per_layer + at] = kernels::f32_to_f16(u(rng));
          }
    for (int32_t i = 0; i < c.len; ++i) {
      st.positions.push_back(c.cached + i);
      st.table_begin.push_back(begin);
    }
  }
  return st;
}

}  // namespace shardserve::gpu::testing
