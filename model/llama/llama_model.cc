#include "model/llama/llama_model.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "model/kernels/cpu/attention_f16.h"
#include "model/kernels/cpu/ops.h"
#include "model/kernels/cpu/quant.h"
#include "model/llama/moe.h"

namespace shardserve {

using kernels::ActivationRows;

// Activations of one step, one row per token. Shapes use the shard's local sizes:
// q_dim = local q heads * head_dim, kv_dim = local kv heads * head_dim, ffn = local columns.
struct LlamaModel::RunState {
  std::vector<float> x;               // [n, dim]     residual stream
  std::vector<float> xn;              // [n, dim]     normalized input of a sub-layer
  std::vector<float> q;               // [n, q_dim]
  std::vector<float> k;               // [n, kv_dim]
  std::vector<float> v;               // [n, kv_dim]
  std::vector<float> att;             // [n, q_dim]   attention output per head
  std::vector<float> proj;            // [n, dim]     output of a row-parallel projection
  std::vector<float> partials;        // [segments, n, dim] its per-segment partial sums
  std::vector<float> gate;            // [n, ffn]
  std::vector<float> up;              // [n, ffn]
  std::vector<int64_t> pos;           // [n] position of each token
  std::vector<int32_t> chunk;         // [n] chunk index of each token
  std::vector<bool> one_token_chunk;  // [n] whether the token's chunk is that one token
  std::vector<float> rope;            // [variants, n, n_rot] cos/sin pairs per token
  std::vector<float> my_logits;       // [n_out, vocab slice] this rank's rows of the LM head
  std::vector<float> logits;          // [n_out, n_vocab] gathered, on ranks that do not sample
  ActivationRows xq;                  // xn (or att, or gate) converted to a weight's dot type
  MoeBlock moe;                       // the mixture-of-experts block's scratch (MoE models)
  // Per pool thread: attention scores, one K or V slab in f32, the weighted sum of V.
  std::vector<std::vector<float>> scores, slab;
  std::vector<std::vector<kernels::AttnRowSum>> att_sum;  // [thread][query head of the group]

  void resize(int64_t n, const LlamaConfig& c, const TransformerShard& s, int threads,
              int64_t rope_variants) {
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
    one_token_chunk.resize(n);
    rope.resize(rope_variants * n * c.n_rot);
    scores.resize(threads);
    slab.resize(threads);
    att_sum.resize(threads);
  }
};

namespace {

// The largest quant block (in columns) of tensor `suffix` over the layers; 1 if absent.
int64_t largest_block(const gguf::File& file, int64_t n_layers, const std::string& suffix) {
  int64_t block = 1;
  for (int64_t l = 0; l < n_layers; ++l)
    if (const gguf::TensorInfo* t = file.tensor("blk." + std::to_string(l) + "." + suffix))
      block = std::max(block, info(t->type).block_size);
  return block;
}

bool fits(const std::vector<Range>& segments, int64_t block) {
  for (const Range& seg : segments)
    if (seg.begin % block != 0 || seg.end % block != 0) return false;
  return true;
}

// Row-parallel products run one reduction segment at a time, so each segment must be whole
// quant blocks of its weight (a K-quant's 256 columns may be wider than one head). Where they
// are not: a lone rank (tp 1) sums the whole row at once; a group cannot split that way.
// `ffn_down` names the FFN's down projection (ffn_down_exps for sliced experts), `ffn_width`
// its columns.
Status fit_segments_to_blocks(const gguf::File& file, const LlamaConfig& c, TransformerShard& s,
                              const char* ffn_down, int64_t ffn_width) {
  struct Product {
    const char* tensor;
    std::vector<Range>& segments;
    std::vector<int>& per_rank;
    int64_t width;
  };
  for (Product p :
       {Product{"attn_output.weight", s.attn_segments, s.attn_segments_per_rank, c.q_dim()},
        Product{ffn_down, s.ffn_segments, s.ffn_segments_per_rank, ffn_width}}) {
    const int64_t block = largest_block(file, c.n_layers, p.tensor);
    if (fits(p.segments, block)) continue;
    if (s.tp > 1)
      return Error{"tp = " + std::to_string(s.tp) + " splits '" + p.tensor +
                   "' inside its quant blocks of " + std::to_string(block) +
                   " columns; use tp = 1 for this file"};
    p.segments = {Range{0, p.width}};
    p.per_rank = {1};
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<LlamaModel>> LlamaModel::load(const gguf::File& file, int tp, int rank,
                                                     LlamaArithmetic arithmetic,
                                                     MoeSplit moe_split) {
  auto config = read_llama_config(file);
  if (!config) return config.error();
  const MoeSpec& moe = config->moe;
  // The FFN is split in whole blocks of its down projection: a dense model's, or with sliced
  // experts every expert's. Expert parallelism gives ranks whole experts instead.
  const bool sliced = moe.enabled() && moe_split == MoeSplit::kSlices;
  const char* down_suffix = moe.enabled() ? "ffn_down_exps.weight" : "ffn_down.weight";
  const std::string down_name = std::string("blk.0.") + down_suffix;
  const gguf::TensorInfo* down = file.tensor(down_name);
  if (!down) return Error{"tensor '" + down_name + "' is missing from " + file.path()};
  const int64_t ffn_width = moe.enabled() ? moe.expert_ffn : config->hidden_dim;
  TransformerShape shape{
      .n_heads = config->n_heads,
      .n_kv_heads = config->n_kv_heads,
      // Expert parallelism does not use the plan's FFN split: any tp up to the expert count.
      .hidden_dim = moe.enabled() && !sliced ? moe.n_expert * moe.expert_ffn : ffn_width,
      .ffn_unit = info(down->type).block_size,
      .head_dim = config->head_dim,
      .n_vocab = config->n_vocab};
  auto shard = plan_transformer_shard(shape, tp, rank);
  if (!shard) return shard.error();
  if (Status s = fit_segments_to_blocks(file, *config, *shard,
                                        sliced ? down_suffix : "ffn_down.weight", ffn_width);
      !s)
    return s.error();
  ExpertShard experts;
  if (sliced) {
    experts = {.experts = {0, moe.n_expert}, .columns = shard->ffn};
  } else if (moe.enabled()) {
    if (tp > moe.n_expert)
      return Error{"tp = " + std::to_string(tp) + " exceeds the model's " +
                   std::to_string(moe.n_expert) +
                   " experts (each rank holds whole experts); use moe_split: slices"};
    experts = {.experts = split_evenly(moe.n_expert, tp, rank)};
  }
  auto weights =
      load_llama_weights(file, *config, *shard, arithmetic == LlamaArithmetic::kFastest, experts);
  if (!weights) return weights.error();
  return std::unique_ptr<LlamaModel>(
      new LlamaModel(file, std::move(*config), *shard, std::move(*weights), arithmetic, moe_split));
}

LlamaModel::LlamaModel(const gguf::File& file, LlamaConfig config, TransformerShard shard,
                       LlamaWeights weights, LlamaArithmetic arithmetic, MoeSplit moe_split)
    : file_(file),
      config_(std::move(config)),
      shard_(shard),
      weights_(std::move(weights)),
      arithmetic_(arithmetic),
      moe_split_(moe_split),
      state_(std::make_shared<RunState>()) {
  for (const LayerSpec& spec : config_.layers) {
    const kernels::RopeParams rope{.n_rot = config_.n_rot,
                                   .freq_base = spec.rope_freq_base,
                                   .freq_scale = spec.rope_freq_scale,
                                   .neox = config_.traits.rope_neox,
                                   .freq_factors = weights_.rope_freqs};
    size_t v = 0;
    while (v < rope_variants_.size() && (rope_variants_[v].freq_base != rope.freq_base ||
                                         rope_variants_[v].freq_scale != rope.freq_scale))
      ++v;
    if (v == rope_variants_.size()) rope_variants_.push_back(rope);
    layer_rope_.push_back(static_cast<int>(v));
  }
  const int64_t group = config_.n_heads / config_.n_kv_heads;
  for (int64_t h = shard_.kv_heads.begin; h < shard_.kv_heads.end; ++h) {
    const int64_t first = std::max(shard_.q_heads.begin, h * group);
    const int64_t last = std::min(shard_.q_heads.end, (h + 1) * group);
    kv_queries_.push_back({.first = first - shard_.q_heads.begin, .count = last - first});
  }
}

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
  int64_t n = 0;
  for (const SeqChunk& ch : chunks) n += static_cast<int64_t>(ch.tokens.size());
  if (n == 0) {
    if (logits) logits->clear();
    return {};
  }
  ThreadPool& pool = *resources.pool;
  state_->resize(n, config_, shard_, pool.size(), static_cast<int64_t>(rope_variants_.size()));
  embed(chunks, *kv_cache);
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    attention_block(l, chunks, *kv_cache, resources.combiner, pool);
    ffn_block(l, resources.combiner, pool);
  }
  return lm_head(chunks, resources.combiner, logits, pool);
}

// Embeds the tokens (times sqrt(dim) where the family scales them); notes each token's
// position and chunk; RoPE angles per position for every RoPE variant.
void LlamaModel::embed(std::span<const SeqChunk> chunks, const KvCache& kv) {
  const LlamaConfig& c = config_;
  RunState& s = *state_;
  const int64_t dim = c.dim, n = static_cast<int64_t>(s.pos.size());
  const float embed_scale = std::sqrt(static_cast<float>(dim));
  int64_t t = 0;
  for (size_t ci = 0; ci < chunks.size(); ++ci) {
    const SeqChunk& ch = chunks[ci];
    SS_CHECK(kv.capacity(ch.seq) >= ch.start_pos + static_cast<int64_t>(ch.tokens.size()),
             "KV blocks not reserved for a chunk");
    for (size_t i = 0; i < ch.tokens.size(); ++i, ++t) {
      SS_CHECK(ch.tokens[i] >= 0 && ch.tokens[i] < c.n_vocab, "token id out of range");
      kernels::dequantize_row(weights_.token_embd, ch.tokens[i], &s.x[t * dim]);
      if (c.traits.embed_scale) kernels::scale_inplace(&s.x[t * dim], dim, embed_scale);
      s.pos[t] = ch.start_pos + static_cast<int64_t>(i);
      s.chunk[t] = static_cast<int32_t>(ci);
      s.one_token_chunk[t] = ch.tokens.size() == 1;
      for (size_t v = 0; v < rope_variants_.size(); ++v)
        kernels::rope_cache(rope_variants_[v], s.pos[t], &s.rope[(v * n + t) * c.n_rot]);
    }
  }
}

// norm -> Q, K, V -> (QK norms) -> RoPE -> (q scale) -> cache write -> attention ->
// out-projection -> (post norm) -> residual.
void LlamaModel::attention_block(int64_t l, std::span<const SeqChunk> chunks, KvCache& kv,
                                 ShardCombiner* combiner, ThreadPool& pool) {
  const LlamaConfig& c = config_;
  const LlamaLayerWeights& L = weights_.layers[l];
  RunState& s = *state_;
  const int64_t n = static_cast<int64_t>(s.pos.size()), dim = c.dim, hd = c.head_dim;
  const int64_t n_q = shard_.q_heads.size(), n_kv = shard_.kv_heads.size();
  const int64_t q_dim = n_q * hd, kv_dim = n_kv * hd;
  per_token(pool, n, [&](int64_t i) {
    kernels::rms_norm(&s.x[i * dim], L.attn_norm, &s.xn[i * dim], dim, c.rms_eps);
  });
  project_many(
      {{&L.wq, s.q.data(), q_dim}, {&L.wk, s.k.data(), kv_dim}, {&L.wv, s.v.data(), kv_dim}},
      s.xn.data(), n, dim, s.xq, pool);
  add_bias(s.q.data(), L.bq, n, q_dim);
  add_bias(s.k.data(), L.bk, n, kv_dim);
  add_bias(s.v.data(), L.bv, n, kv_dim);
  const kernels::RopeParams& rope = rope_variants_[layer_rope_[l]];
  const float* rope_cache = &s.rope[layer_rope_[l] * n * c.n_rot];
  per_token(pool, n, [&](int64_t i) {
    float* q = &s.q[i * q_dim];
    float* k = &s.k[i * kv_dim];
    if (c.traits.qk_norm) {
      for (int64_t h = 0; h < n_q; ++h)
        kernels::rms_norm(q + h * hd, L.q_norm, q + h * hd, hd, c.rms_eps);
      for (int64_t h = 0; h < n_kv; ++h)
        kernels::rms_norm(k + h * hd, L.k_norm, k + h * hd, hd, c.rms_eps);
    }
    kernels::rope_apply(rope, &rope_cache[i * c.n_rot], q, n_q, hd);
    kernels::rope_apply(rope, &rope_cache[i * c.n_rot], k, n_kv, hd);
    if (c.traits.scale_query) kernels::scale_inplace(q, q_dim, c.query_scale);
  });
  attention(l, chunks, kv, pool);
  row_parallel(L.wo, s.att.data(), n, q_dim, shard_.attn_segments, shard_.attn_segments_per_rank,
               shard_.q_heads.begin * hd, combiner, s.proj.data(), pool);
  if (L.post_attn_norm) {
    per_token(pool, n, [&](int64_t i) {
      kernels::rms_norm(&s.proj[i * dim], L.post_attn_norm, &s.proj[i * dim], dim, c.rms_eps);
    });
  }
  kernels::add_inplace(s.x.data(), s.proj.data(), n * dim);
}

// norm -> gate, up -> act(gate) * up -> down-projection (or the mixture of experts) ->
// (post norm) -> residual.
void LlamaModel::ffn_block(int64_t l, ShardCombiner* combiner, ThreadPool& pool) {
  const LlamaConfig& c = config_;
  const LlamaLayerWeights& L = weights_.layers[l];
  RunState& s = *state_;
  const int64_t n = static_cast<int64_t>(s.pos.size()), dim = c.dim, ffn = shard_.ffn.size();
  per_token(pool, n, [&](int64_t i) {
    kernels::rms_norm(&s.x[i * dim], L.ffn_norm, &s.xn[i * dim], dim, c.rms_eps);
  });
  if (c.moe.enabled()) {
    const ExpertSlices slices{.segments = shard_.ffn_segments,
                              .per_rank = shard_.ffn_segments_per_rank,
                              .local_begin = shard_.ffn.begin};
    const bool sliced = moe_split_ == MoeSplit::kSlices && combiner;
    s.moe.forward(L, c.moe, s.xn.data(), n, dim, combiner, shard_.tp, pool, s.proj.data(),
                  arithmetic_ == LlamaArithmetic::kLlamaCpp ? &s.one_token_chunk : nullptr,
                  sliced ? &slices : nullptr);
  } else {
    project_many({{&L.w_gate, s.gate.data(), ffn}, {&L.w_up, s.up.data(), ffn}}, s.xn.data(), n,
                 dim, s.xq, pool);
    const bool gelu = c.traits.activation == FfnActivation::kGeluF16;
    per_token(pool, n, [&](int64_t i) {
      float* g = &s.gate[i * ffn];
      if (gelu) {
        kernels::gelu_f16_mul(g, &s.up[i * ffn], g, ffn);
      } else {
        kernels::silu_mul(g, &s.up[i * ffn], g, ffn);
      }
    });
    row_parallel(L.w_down, s.gate.data(), n, ffn, shard_.ffn_segments, shard_.ffn_segments_per_rank,
                 shard_.ffn.begin, combiner, s.proj.data(), pool);
  }
  if (L.post_ffn_norm) {
    per_token(pool, n, [&](int64_t i) {
      kernels::rms_norm(&s.proj[i * dim], L.post_ffn_norm, &s.proj[i * dim], dim, c.rms_eps);
    });
  }
  kernels::add_inplace(s.x.data(), s.proj.data(), n * dim);
}

// Final norm and this rank's rows of the LM head, for the last token of chunks that asked
// for logits (every token of those that asked for all) (soft-capped where the family caps them); then the group joins the rows.
Status LlamaModel::lm_head(std::span<const SeqChunk> chunks, ShardCombiner* combiner,
                           std::vector<float>* logits, ThreadPool& pool) {
  const LlamaConfig& c = config_;
  RunState& s = *state_;
  const int64_t dim = c.dim;
  int64_t n_out = 0, t = 0;
  for (const SeqChunk& ch : chunks) {
    t += static_cast<int64_t>(ch.tokens.size());
    const int64_t rows = output_rows(ch);
    for (int64_t i = t - rows; i < t; ++i, ++n_out)
      kernels::rms_norm(&s.x[i * dim], weights_.output_norm, &s.xn[n_out * dim], dim, c.rms_eps);
  }
  if (n_out == 0) {
    if (logits) logits->clear();
    return {};
  }
  const int64_t n_mine = weights_.output.n_rows;  // this rank's vocabulary rows
  const bool whole = n_mine == c.n_vocab;
  std::vector<float>& out = logits ? *logits : s.logits;
  out.resize(n_out * c.n_vocab);
  float* mine = out.data();
  if (!whole) {
    SS_CHECK(combiner != nullptr, "a vocabulary shard without a combiner");
    s.my_logits.resize(n_out * n_mine);
    mine = s.my_logits.data();
  }
  project(weights_.output, s.xn.data(), n_out, dim, s.xq, false, mine, n_mine, pool);
  if (c.final_logit_softcap > 0)
    kernels::softcap(mine, mine, n_out * n_mine, c.final_logit_softcap);
  if (!whole) combiner->gather_columns(mine, n_out, shard_.vocab_per_rank, out.data());
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
// positions [lo, pos] (lo = 0, or pos - window + 1 on a sliding-window layer), softmax,
// weighted sum of the cached values. New keys and values are written to the cache first, so
// a prefill chunk attends to its own earlier tokens.
//
// The arithmetic is llama.cpp's without flash attention, step for step: K and V are stored as
// f16; q is rounded to f16 for the K.q products and the softmax weights to f16 for the product
// with V; scores are scaled by 1/sqrt(head_dim) (unless the family scaled q instead), positions
// outside the window get -inf, the softmax runs in f32 over the whole row. llama.cpp sums these
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
  const int64_t n = static_cast<int64_t>(s.pos.size());
  const int64_t window = config_.layers[layer].window;
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
  const float scale = config_.traits.scale_query ? 1.0f : config_.query_scale;
  SS_CHECK(hd <= 512, "head_dim above 512");
  pool.parallel_for(n * n_kv, [&](int64_t begin, int64_t end, int thread) {
    std::vector<float>& scores = s.scores[thread];  // [group][n_ctx]
    std::vector<float>& slab = s.slab[thread];
    std::vector<kernels::AttnRowSum>& att_sum = s.att_sum[thread];
    slab.resize(B * hd);
    float q[8][512];
    uint16_t q16[512];
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / n_kv, kvh = job % n_kv;
      const int64_t h0 = kv_queries_[kvh].first, group = kv_queries_[kvh].count;
      SS_CHECK(group <= 8, "more than 8 query heads per KV head");
      att_sum.resize(group);
      const SeqChunk& chunk = chunks[s.chunk[t]];
      const std::vector<int32_t>& table = kv.block_table(chunk.seq);
      const kernels::AttnOrder order =
          arithmetic_ == LlamaArithmetic::kLlamaCpp && chunk.tokens.size() > 1
              ? kernels::AttnOrder::Gemm
              : kernels::AttnOrder::Gemv;
      const int64_t n_ctx = s.pos[t] + 1;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, n_ctx - window) : 0;
      scores.resize(group * n_ctx);
      // Scores: f16 queries against f16 keys.
      for (int64_t g = 0; g < group; ++g) {
        to_f16(&s.q[(t * n_q + h0 + g) * hd], q16, hd);
        from_f16(q16, q[g], hd);
      }
      for (int64_t p0 = 0; p0 < n_ctx; p0 += B) {
        const int64_t m = std::min(B, n_ctx - p0);
        if (p0 + m <= lo) {  // the whole block is outside the window
          for (int64_t g = 0; g < group; ++g) std::fill_n(&scores[g * n_ctx + p0], m, -INFINITY);
          continue;
        }
        from_f16(kv.keys(layer, table[p0 / B], kvh), slab.data(), m * hd);
        for (int64_t g = 0; g < group; ++g)
          for (int64_t i = 0; i < m; ++i)
            scores[g * n_ctx + p0 + i] =
                p0 + i < lo ? -INFINITY : kernels::attn_dot(&slab[i * hd], q[g], hd, order) * scale;
      }
      for (int64_t g = 0; g < group; ++g) {
        float* sc = &scores[g * n_ctx];
        kernels::softmax(sc, n_ctx);
        // The weights meet the f16 values at f16 precision.
        for (int64_t i = 0; i < n_ctx; ++i) sc[i] = kernels::f16_to_f32(kernels::f32_to_f16(sc[i]));
        att_sum[g].reset(hd, order);
      }
      // Weighted sum of the values (masked positions weigh zero and add nothing).
      for (int64_t p0 = lo / B * B; p0 < n_ctx; p0 += B) {
        const int64_t m = std::min(B, n_ctx - p0);
        from_f16(kv.values(layer, table[p0 / B], kvh), slab.data(), m * hd);
        for (int64_t g = 0; g < group; ++g)
          for (int64_t i = std::max<int64_t>(0, lo - p0); i < m; ++i)
            att_sum[g].add(p0 + i, scores[g * n_ctx + p0 + i], &slab[i * hd]);
      }
      for (int64_t g = 0; g < group; ++g) att_sum[g].finish(&s.att[(t * n_q + h0 + g) * hd]);
    }
  });
}

// kFastest: keys stored transposed per block (kernels/cpu/attention_f16.h), so that scores and
// the weighted sum of values run 16 positions or 16 dimensions per instruction for all the
// query heads of a KV head at once. f32 queries and softmax weights; one arithmetic for every
// chunk, so a token's result does not depend on how its sequence was chunked. A sliding-window
// layer starts at the block holding the window's first position.
void LlamaModel::attention_blocked(int64_t layer, std::span<const SeqChunk> chunks, KvCache& kv,
                                   ThreadPool& pool) {
  RunState& s = *state_;
  const int64_t hd = config_.head_dim, B = kv.shape().block_size;
  const int64_t n_q = shard_.q_heads.size(), n_kv = shard_.kv_heads.size();
  const int64_t n = static_cast<int64_t>(s.pos.size());
  const int64_t window = config_.layers[layer].window;
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

  const float scale = config_.traits.scale_query ? 1.0f : config_.query_scale;
  pool.parallel_for(n * n_kv, [&](int64_t begin, int64_t end, int thread) {
    std::vector<float>& scores = s.scores[thread];  // [group][n_ctx - first]
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / n_kv, kvh = job % n_kv;
      const int64_t h0 = kv_queries_[kvh].first, group = kv_queries_[kvh].count;
      const std::vector<int32_t>& table = kv.block_table(chunks[s.chunk[t]].seq);
      const int64_t n_ctx = s.pos[t] + 1;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, n_ctx - window) : 0;
      const int64_t first = lo / B * B, width = n_ctx - first;
      scores.resize(group * width);
      const float* q = &s.q[(t * n_q + h0) * hd];
      for (int64_t p0 = first; p0 < n_ctx; p0 += B)
        k.scores(q, group, hd, kv.keys(layer, table[p0 / B], kvh), B, std::min(B, n_ctx - p0),
                 &scores[p0 - first], width);
      for (int64_t g = 0; g < group; ++g) {
        float* sc = &scores[g * width];
        for (int64_t i = 0; i < width; ++i) sc[i] = first + i < lo ? -INFINITY : sc[i] * scale;
        kernels::softmax(sc, width);
      }
      float* out = &s.att[(t * n_q + h0) * hd];
      std::fill(out, out + group * hd, 0.0f);
      for (int64_t p0 = first; p0 < n_ctx; p0 += B)
        k.weighted_sum(&scores[p0 - first], width, group, hd, kv.values(layer, table[p0 / B], kvh),
                       std::min(B, n_ctx - p0), out);
    }
  });
}

}  // namespace shardserve
