#include "model/llama/llama_model.h"

#include <cmath>

#include "base/check.h"
#include "model/kernels/cpu/attention_f16.h"
#include "model/kernels/cpu/ops.h"
#include "model/kernels/cpu/quant.h"

namespace shardserve {

using kernels::ActivationRows;

// Activations of one step, one row per token. Shapes use the shard's local sizes:
// q_dim = local q heads * head_dim, kv_dim = local kv heads * head_dim, ffn = local columns.
struct LlamaModel::RunState {
  std::vector<float> x;          // [n, dim]     residual stream
  std::vector<float> xn;         // [n, dim]     normalized input of a sub-layer
  std::vector<float> q;          // [n, q_dim]
  std::vector<float> k;          // [n, kv_dim]
  std::vector<float> v;          // [n, kv_dim]
  std::vector<float> att;        // [n, q_dim]   attention output per head
  std::vector<float> proj;       // [n, dim]     output of a row-parallel projection
  std::vector<float> partials;   // [segments, n, dim] its per-segment partial sums
  std::vector<float> gate;       // [n, ffn]
  std::vector<float> up;         // [n, ffn]
  std::vector<int64_t> pos;      // [n] position of each token
  std::vector<int32_t> chunk;    // [n] chunk index of each token
  std::vector<float> rope;       // [n, n_rot] cos/sin pairs per token
  std::vector<float> my_logits;  // [n_out, vocab slice] this rank's rows of the LM head
  std::vector<float> logits;     // [n_out, n_vocab] gathered, on ranks that do not sample
  ActivationRows xq;             // xn (or att, or gate) converted to a weight's dot type
  // Per pool thread: attention scores, one K or V slab in f32, the weighted sum of V.
  std::vector<std::vector<float>> scores, slab;
  std::vector<std::vector<kernels::AttnRowSum>> att_sum;  // [thread][query head of the group]

  void resize(int64_t n, const LlamaConfig& c, const TransformerShard& s, int threads) {
    const int64_t q_dim = s.q_heads.size() * c.head_dim, kv_dim = s.kv_heads.size() * c.head_dim;
    x.resize(n * c.dim);
    xn.resize(n * c.dim);
    q.resize(n * q_dim);
    k.resize(n * kv_dim);
    v.resize(n * kv_dim);
    att.resize(n * q_dim);
    proj.resize(n * c.dim);
    gate.resize(n * s.ffn.size());
    up.resize(n * s.ffn.size());
    pos.resize(n);
    chunk.resize(n);
    rope.resize(n * c.n_rot);
    scores.resize(threads);
    slab.resize(threads);
    att_sum.resize(threads);
  }
};

Result<std::unique_ptr<LlamaModel>> LlamaModel::load(const gguf::File& file, int tp, int rank,
                                                     LlamaArithmetic arithmetic) {
  auto config = read_llama_config(file);
  if (!config) return config.error();
  const gguf::TensorInfo* down = file.tensor("blk.0.ffn_down.weight");
  if (!down) return Error{"tensor 'blk.0.ffn_down.weight' is missing from " + file.path()};
  TransformerShape shape{.n_heads = config->n_heads,
                         .n_kv_heads = config->n_kv_heads,
                         .hidden_dim = config->hidden_dim,
                         .ffn_unit = info(down->type).block_size,
                         .head_dim = config->head_dim,
                         .n_vocab = config->n_vocab};
  auto shard = plan_transformer_shard(shape, tp, rank);
  if (!shard) return shard.error();
  auto weights = load_llama_weights(file, *config, *shard, arithmetic == LlamaArithmetic::kFastest);
  if (!weights) return weights.error();
  return std::unique_ptr<LlamaModel>(
      new LlamaModel(file, std::move(*config), *shard, std::move(*weights), arithmetic));
}

LlamaModel::LlamaModel(const gguf::File& file, LlamaConfig config, TransformerShard shard,
                       LlamaWeights weights, LlamaArithmetic arithmetic)
    : file_(file),
      config_(std::move(config)),
      shard_(shard),
      weights_(std::move(weights)),
      arithmetic_(arithmetic),
      state_(std::make_shared<RunState>()) {}

std::optional<KvCacheShape> LlamaModel::kv_shape(int64_t n_blocks, int64_t block_size) const {
  return KvCacheShape{.n_layers = config_.n_layers,
                      .n_kv_heads = shard_.kv_heads.size(),
                      .head_dim = config_.head_dim,
                      .block_size = block_size,
                      .n_blocks = n_blocks};
}

namespace {

// y = W x for every token row: quantizes x to W's dot type unless `xq` already holds it.
void project(const WeightMatrix& w, const float* x, int64_t n, int64_t ldx, ActivationRows& xq,
             bool xq_current, float* y, int64_t ldy, ThreadPool& pool) {
  const DType dot_type = info(w.type).dot_type;
  if (!xq_current || xq.type() != dot_type) xq.quantize(dot_type, x, n, w.n_cols, ldx, pool);
  kernels::matmul(w, xq, y, ldy, pool);
}

// Several products of the same input (Q, K, V; gate, up) in one parallel loop when their
// weights share a dot type, else one after another.
void project_many(std::initializer_list<kernels::MatmulTarget> targets, const float* x, int64_t n,
                  int64_t ldx, ActivationRows& xq, ThreadPool& pool) {
  const DType dot_type = info(targets.begin()->w->type).dot_type;
  bool shared = true;
  for (const auto& t : targets) shared = shared && info(t.w->type).dot_type == dot_type;
  if (!shared) {
    for (const auto& t : targets) project(*t.w, x, n, ldx, xq, false, t.y, t.ldy, pool);
    return;
  }
  xq.quantize(dot_type, x, n, targets.begin()->w->n_cols, ldx, pool);
  kernels::matmul_many(std::span(targets.begin(), targets.size()), xq, pool);
}

// fn(i) for every token i; on the pool when the step has several tokens (prefill), inline for
// a single one (the pool's hand-off would cost more than the work).
template <typename Fn>
void per_token(ThreadPool& pool, int64_t n, const Fn& fn) {
  if (n < 2) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

void add_bias(float* y, const float* bias, int64_t n, int64_t width) {
  if (!bias) return;
  for (int64_t t = 0; t < n; ++t) kernels::add_inplace(y + t * width, bias, width);
}

}  // namespace

Status LlamaModel::forward(std::span<const SeqChunk> chunks, KvCache* kv_cache,
                           const StepResources& resources, std::vector<float>* logits) {
  SS_CHECK(kv_cache && resources.pool, "a decoder's step needs a KV cache and a thread pool");
  KvCache& kv = *kv_cache;
  ThreadPool& pool = *resources.pool;
  ShardCombiner* combiner = resources.combiner;
  const LlamaConfig& c = config_;
  RunState& s = *state_;
  int64_t n = 0;
  for (const SeqChunk& ch : chunks) n += static_cast<int64_t>(ch.tokens.size());
  if (n == 0) {
    if (logits) logits->clear();
    return {};
  }
  s.resize(n, c, shard_, pool.size());

  const int64_t dim = c.dim, hd = c.head_dim;
  const int64_t q_dim = shard_.q_heads.size() * hd, kv_dim = shard_.kv_heads.size() * hd;
  const int64_t ffn = shard_.ffn.size();
  const kernels::RopeParams rope{.n_rot = c.n_rot,
                                 .freq_base = c.rope_freq_base,
                                 .freq_scale = c.rope_freq_scale,
                                 .neox = c.rope_neox,
                                 .freq_factors = weights_.rope_freqs};

  // Embed the tokens; note each token's position and chunk; RoPE angles per position.
  int64_t t = 0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const SeqChunk& ch = chunks[ci];
    SS_CHECK(kv.capacity(ch.seq) >= ch.start_pos + static_cast<int64_t>(ch.tokens.size()),
             "KV blocks not reserved for a chunk");
    for (size_t i = 0; i < ch.tokens.size(); ++i, ++t) {
      SS_CHECK(ch.tokens[i] >= 0 && ch.tokens[i] < c.n_vocab, "token id out of range");
      kernels::dequantize_row(weights_.token_embd, ch.tokens[i], &s.x[t * dim]);
      s.pos[t] = ch.start_pos + static_cast<int64_t>(i);
      s.chunk[t] = static_cast<int32_t>(ci);
      kernels::rope_cache(rope, s.pos[t], &s.rope[t * c.n_rot]);
    }
  }

  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LlamaLayerWeights& L = weights_.layers[l];

    // Attention block: norm -> Q, K, V -> RoPE -> cache write -> attention -> out-projection.
    per_token(pool, n, [&](int64_t i) {
      kernels::rms_norm(&s.x[i * dim], L.attn_norm, &s.xn[i * dim], dim, c.rms_eps);
    });
    project_many(
        {{&L.wq, s.q.data(), q_dim}, {&L.wk, s.k.data(), kv_dim}, {&L.wv, s.v.data(), kv_dim}},
        s.xn.data(), n, dim, s.xq, pool);
    add_bias(s.q.data(), L.bq, n, q_dim);
    add_bias(s.k.data(), L.bk, n, kv_dim);
    add_bias(s.v.data(), L.bv, n, kv_dim);
    per_token(pool, n, [&](int64_t i) {
      kernels::rope_apply(rope, &s.rope[i * c.n_rot], &s.q[i * q_dim], shard_.q_heads.size(), hd);
      kernels::rope_apply(rope, &s.rope[i * c.n_rot], &s.k[i * kv_dim], shard_.kv_heads.size(), hd);
    });
    attention(l, chunks, kv, pool);
    row_parallel(L.wo, s.att.data(), n, q_dim, shard_.attn_segments, shard_.attn_segments_per_rank,
                 shard_.q_heads.begin * hd, combiner, s.proj.data(), pool);
    kernels::add_inplace(s.x.data(), s.proj.data(), n * dim);

    // Feed-forward block: norm -> gate, up -> SiLU(gate) * up -> down-projection.
    per_token(pool, n, [&](int64_t i) {
      kernels::rms_norm(&s.x[i * dim], L.ffn_norm, &s.xn[i * dim], dim, c.rms_eps);
    });
    project_many({{&L.w_gate, s.gate.data(), ffn}, {&L.w_up, s.up.data(), ffn}}, s.xn.data(), n,
                 dim, s.xq, pool);
    per_token(pool, n, [&](int64_t i) {
      kernels::silu_mul(&s.gate[i * ffn], &s.up[i * ffn], &s.gate[i * ffn], ffn);
    });
    row_parallel(L.w_down, s.gate.data(), n, ffn, shard_.ffn_segments, shard_.ffn_segments_per_rank,
                 shard_.ffn.begin, combiner, s.proj.data(), pool);
    kernels::add_inplace(s.x.data(), s.proj.data(), n * dim);
  }

  // Final norm and this rank's rows of the LM head, for the last token of chunks that asked
  // for logits; then the group joins the rows.
  int64_t n_out = 0;
  t = 0;
  for (const SeqChunk& ch : chunks) {
    t += static_cast<int64_t>(ch.tokens.size());
    if (!ch.need_logits) continue;
    kernels::rms_norm(&s.x[(t - 1) * dim], weights_.output_norm, &s.xn[n_out * dim], dim,
                      c.rms_eps);
    ++n_out;
  }
  if (n_out == 0) {
    if (logits) logits->clear();
    return {};
  }
  const int64_t n_mine = weights_.output.n_rows;  // this rank's vocabulary rows
  const bool whole = n_mine == c.n_vocab;
  std::vector<float>& out = logits ? *logits : s.logits;
  out.resize(n_out * c.n_vocab);
  if (whole) {
    project(weights_.output, s.xn.data(), n_out, dim, s.xq, false, out.data(), n_mine, pool);
    return {};
  }
  SS_CHECK(combiner != nullptr, "a vocabulary shard without a combiner");
  s.my_logits.resize(n_out * n_mine);
  project(weights_.output, s.xn.data(), n_out, dim, s.xq, false, s.my_logits.data(), n_mine, pool);
  combiner->gather_columns(s.my_logits.data(), n_out, shard_.vocab_per_rank, out.data());
  return {};
}

void LlamaModel::row_parallel(const WeightMatrix& w, const float* x, int64_t n, int64_t ldx,
                              const std::vector<Range>& segments, std::span<const int> per_rank,
                              int64_t local_begin, ShardCombiner* combiner, float* y,
                              ThreadPool& pool) {
  RunState& s = *state_;
  const int64_t dim = config_.dim;
  if (!combiner) {  // a lone process: one dot product per output, llama.cpp's order
    project(w, x, n, ldx, s.xq, false, y, dim, pool);
    return;
  }
  s.xq.quantize(info(w.type).dot_type, x, n, w.n_cols, ldx, pool);
  std::vector<kernels::ColumnRange> local;
  for (const Range& seg : segments)
    local.push_back({seg.begin - local_begin, seg.end - local_begin});
  s.partials.resize(local.size() * n * dim);
  kernels::matmul_segments(w, s.xq, local, s.partials.data(), dim, n * dim, pool);
  combiner->sum_segments(s.partials.data(), per_rank, n * dim, y);
}

// For every token and local query head: scores against the cached keys of its sequence at
// positions [0, pos], softmax, weighted sum of the cached values. New keys and values are
// written to the cache first, so a prefill chunk attends to its own earlier tokens.
//
// The arithmetic is llama.cpp's without flash attention, step for step: K and V are stored as
// f16; q is rounded to f16 for the K.q products and the softmax weights to f16 for the product
// with V; scores are scaled by 1/sqrt(head_dim), the softmax runs in f32. llama.cpp sums these
// f16 products in one order for a single-token batch (ggml_vec_dot_f16) and in another for a
// batch of several tokens (llamafile's tinyBLAS); a chunk of several tokens here takes the
// second, a single token the first (kernels::AttnOrder), so results match llama.cpp's for a
// sequence decoded on its own. In kFastest every chunk takes the first order, so that chunking
// changes nothing.
void LlamaModel::attention(int64_t layer, std::span<const SeqChunk> chunks, KvCache& kv,
                           ThreadPool& pool) {
  if (arithmetic_ == LlamaArithmetic::kFastest && config_.head_dim % 16 == 0 &&
      kv.shape().block_size % 16 == 0)
    return attention_blocked(layer, chunks, kv, pool);
  RunState& s = *state_;
  const int64_t hd = config_.head_dim, B = kv.shape().block_size;
  const int64_t n_q = shard_.q_heads.size(), n_kv = shard_.kv_heads.size();
  const int64_t group = config_.n_heads / config_.n_kv_heads;
  const int64_t n = static_cast<int64_t>(s.pos.size());
  const auto to_f16 = kernels::kernels_for(DType::F16).quantize;
  const auto from_f16 = kernels::kernels_for(DType::F16).dequantize;

  for (int64_t t = 0; t < n; ++t) {
    const std::vector<int32_t>& table = kv.block_table(chunks[s.chunk[t]].seq);
    const int32_t block = table[s.pos[t] / B];
    const int64_t off = s.pos[t] % B;
    for (int64_t h = 0; h < n_kv; ++h) {
      to_f16(&s.k[(t * n_kv + h) * hd], kv.keys(layer, block, h) + off * hd, hd);
      to_f16(&s.v[(t * n_kv + h) * hd], kv.values(layer, block, h) + off * hd, hd);
    }
  }

  // One job per (token, KV head): the key and value slabs are converted to f32 once and
  // serve every query head of the group.
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  SS_CHECK(hd <= 512, "head_dim above 512");
  pool.parallel_for(n * n_kv, [&](int64_t begin, int64_t end, int thread) {
    std::vector<float>& scores = s.scores[thread];  // [group][n_ctx]
    std::vector<float>& slab = s.slab[thread];
    std::vector<kernels::AttnRowSum>& att_sum = s.att_sum[thread];
    slab.resize(B * hd);
    att_sum.resize(group);
    float q[8][512];
    uint16_t q16[512];
    SS_CHECK(group <= 8, "more than 8 query heads per KV head");
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / n_kv, kvh = job % n_kv, h0 = kvh * group;
      const SeqChunk& chunk = chunks[s.chunk[t]];
      const std::vector<int32_t>& table = kv.block_table(chunk.seq);
      const kernels::AttnOrder order =
          arithmetic_ == LlamaArithmetic::kLlamaCpp && chunk.tokens.size() > 1
              ? kernels::AttnOrder::Gemm
              : kernels::AttnOrder::Gemv;
      const int64_t n_ctx = s.pos[t] + 1;
      scores.resize(group * n_ctx);
      // Scores: f16 queries against f16 keys.
      for (int64_t g = 0; g < group; ++g) {
        to_f16(&s.q[(t * n_q + h0 + g) * hd], q16, hd);
        from_f16(q16, q[g], hd);
      }
      for (int64_t p0 = 0; p0 < n_ctx; p0 += B) {
        const int64_t m = std::min(B, n_ctx - p0);
        from_f16(kv.keys(layer, table[p0 / B], kvh), slab.data(), m * hd);
        for (int64_t g = 0; g < group; ++g)
          for (int64_t i = 0; i < m; ++i)
            scores[g * n_ctx + p0 + i] = kernels::attn_dot(&slab[i * hd], q[g], hd, order) * scale;
      }
      for (int64_t g = 0; g < group; ++g) {
        float* sc = &scores[g * n_ctx];
        kernels::softmax(sc, n_ctx);
        // The weights meet the f16 values at f16 precision.
        for (int64_t i = 0; i < n_ctx; ++i) sc[i] = kernels::f16_to_f32(kernels::f32_to_f16(sc[i]));
        att_sum[g].reset(hd, order);
      }
      // Weighted sum of the values.
      for (int64_t p0 = 0; p0 < n_ctx; p0 += B) {
        const int64_t m = std::min(B, n_ctx - p0);
        from_f16(kv.values(layer, table[p0 / B], kvh), slab.data(), m * hd);
        for (int64_t g = 0; g < group; ++g)
          for (int64_t i = 0; i < m; ++i)
            att_sum[g].add(p0 + i, scores[g * n_ctx + p0 + i], &slab[i * hd]);
      }
      for (int64_t g = 0; g < group; ++g) att_sum[g].finish(&s.att[(t * n_q + h0 + g) * hd]);
    }
  });
}

// kFastest: keys stored transposed per block (kernels/cpu/attention_f16.h), so that scores and
// the weighted sum of values run 16 positions or 16 dimensions per instruction for all the
// query heads of a KV head at once. f32 queries and softmax weights; one arithmetic for every
// chunk, so a token's result does not depend on how its sequence was chunked.
void LlamaModel::attention_blocked(int64_t layer, std::span<const SeqChunk> chunks, KvCache& kv,
                                   ThreadPool& pool) {
  RunState& s = *state_;
  const int64_t hd = config_.head_dim, B = kv.shape().block_size;
  const int64_t n_q = shard_.q_heads.size(), n_kv = shard_.kv_heads.size();
  const int64_t group = config_.n_heads / config_.n_kv_heads;
  const int64_t n = static_cast<int64_t>(s.pos.size());
  const auto to_f16 = kernels::kernels_for(DType::F16).quantize;
  const kernels::AttentionF16Kernels& k = kernels::attention_f16_kernels();

  for (int64_t t = 0; t < n; ++t) {
    const std::vector<int32_t>& table = kv.block_table(chunks[s.chunk[t]].seq);
    const int32_t block = table[s.pos[t] / B];
    const int64_t off = s.pos[t] % B;
    for (int64_t h = 0; h < n_kv; ++h) {
      kernels::store_key_transposed(&s.k[(t * n_kv + h) * hd], hd, B, off,
                                    kv.keys(layer, block, h));
      to_f16(&s.v[(t * n_kv + h) * hd], kv.values(layer, block, h) + off * hd, hd);
    }
  }

  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  pool.parallel_for(n * n_kv, [&](int64_t begin, int64_t end, int thread) {
    std::vector<float>& scores = s.scores[thread];  // [group][n_ctx]
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / n_kv, kvh = job % n_kv, h0 = kvh * group;
      const std::vector<int32_t>& table = kv.block_table(chunks[s.chunk[t]].seq);
      const int64_t n_ctx = s.pos[t] + 1;
      scores.resize(group * n_ctx);
      const float* q = &s.q[(t * n_q + h0) * hd];
      for (int64_t p0 = 0; p0 < n_ctx; p0 += B)
        k.scores(q, group, hd, kv.keys(layer, table[p0 / B], kvh), B, std::min(B, n_ctx - p0),
                 &scores[p0], n_ctx);
      for (int64_t g = 0; g < group; ++g) {
        float* sc = &scores[g * n_ctx];
        for (int64_t i = 0; i < n_ctx; ++i) sc[i] *= scale;
        kernels::softmax(sc, n_ctx);
      }
      float* out = &s.att[(t * n_q + h0) * hd];
      std::fill(out, out + group * hd, 0.0f);
      for (int64_t p0 = 0; p0 < n_ctx; p0 += B)
        k.weighted_sum(&scores[p0], n_ctx, group, hd, kv.values(layer, table[p0 / B], kvh),
                       std::min(B, n_ctx - p0), out);
    }
  });
}

}  // namespace shardserve
