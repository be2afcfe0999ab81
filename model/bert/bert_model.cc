#include "model/bert/bert_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <string>

#include "base/check.h"
#include "model/kernels/cpu/ops.h"
#include "model/kernels/cpu/packed_f32.h"

namespace shardserve {

using kernels::ActivationRows;
using kernels::WeightMatrix;

// Activations of one call, one row per token of the packed batch. Shapes use the shard's local
// sizes: local = local heads * head_dim, ffn = local FFN columns.
struct BertModel::RunState {
  std::vector<float> x;         // [n, dim]      hidden states (the residual stream)
  std::vector<float> q, k, v;   // [n, local]
  std::vector<float> att;       // [n, local]    attention output per head
  std::vector<float> proj;      // [n, dim]      output of a row-parallel projection
  std::vector<float> partials;  // [segments, n, dim] its per-segment partial sums
  std::vector<float> up;        // [n, ffn]
  std::vector<int64_t> begin;   // [n_seqs + 1]  first token of each sequence
  std::vector<int64_t> jobs;    // attention jobs (sequence * local heads + head), longest first
  std::vector<kernels::ColumnRange> segments;    // a row-parallel product's, in local columns
  std::vector<std::vector<double>> sums;         // per pool thread: a sequence's sum [dim]
  std::vector<std::span<const TokenId>> inputs;  // forward(): the chunks to encode
  std::vector<float> unused;                     // forward(): embeddings nobody asked for
  ActivationRows xq;  // the input of a product (a view: the weights are F32)
  // Per pool thread, for one (sequence, head) of T tokens: attention scores [T][T], and the
  // keys [T][head_dim] and transposed values [head_dim][T] packed as panels.
  struct Attention {
    std::vector<float> scores;
    kernels::AlignedFloats keys, values;
    int64_t keys_size = 0, values_size = 0;
  };
  std::vector<Attention> attn;

  void resize(int64_t n, const BertConfig& c, const TransformerShard& s, int threads) {
    const int64_t local = s.q_heads.size() * c.head_dim;
    x.resize(n * c.dim);
    q.resize(n * local);
    k.resize(n * local);
    v.resize(n * local);
    att.resize(n * local);
    proj.resize(n * c.dim);
    up.resize(n * s.ffn.size());
    attn.resize(threads);
    sums.resize(threads);
  }
};

Result<std::unique_ptr<BertModel>> BertModel::load(const safetensors::File& file,
                                                   const BertConfig& config, int tp, int rank) {
  if (tp > kMaxTp || tp > config.n_heads)
    return Error{"tp = " + std::to_string(tp) + " is not supported for this BERT model (at most " +
                 std::to_string(std::min<int64_t>(kMaxTp, config.n_heads)) + ")"};
  // FFN columns split in units of 64 where the width allows, so shards and reduction segments
  // are whole 64-float chunks of the SIMD dot; smaller units for narrow (test) models.
  const int max_tp = static_cast<int>(std::min<int64_t>(kMaxTp, config.n_heads));
  int64_t ffn_unit = 64;
  while (ffn_unit > 1 &&
         (config.hidden_dim % ffn_unit != 0 || config.hidden_dim / ffn_unit < max_tp))
    ffn_unit /= 2;
  const TransformerShape shape{.n_heads = config.n_heads,
                               .n_kv_heads = config.n_heads,
                               .hidden_dim = config.hidden_dim,
                               .ffn_unit = ffn_unit,
                               .head_dim = config.head_dim,
                               .max_tp = max_tp};
  auto shard = plan_transformer_shard(shape, tp, rank);
  if (!shard) return shard.error();
  auto weights = load_bert_weights(file, config, *shard);
  if (!weights) return weights.error();
  return std::unique_ptr<BertModel>(new BertModel(config, *shard, std::move(*weights)));
}

BertModel::BertModel(BertConfig config, TransformerShard shard, BertWeights weights)
    : config_(std::move(config)),
      shard_(std::move(shard)),
      weights_(std::move(weights)),
      state_(std::make_unique<RunState>()) {}

BertModel::~BertModel() = default;

namespace {

// fn(i) for every token i of n, each touching `width` floats: on the pool for large steps,
// inline for small ones, where handing the work to the other threads costs more than doing it
// (a sentence of 30 tokens: 12k to 46k floats).
template <typename Fn>
void per_token(ThreadPool& pool, int64_t n, int64_t width, const Fn& fn) {
  constexpr int64_t kInlineFloats = 64 * 1024;
  if (n * width < kInlineFloats) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

// x = LayerNorm((y + bias) + x) for one token of `dim` floats: a sub-layer's output projection
// (its bias added once, after any reduction), the residual, the norm.
void add_and_norm(const float* y, const float* bias, float* x, const float* norm_w,
                  const float* norm_b, int64_t dim, float eps) {
  for (int64_t j = 0; j < dim; ++j) x[j] = (y[j] + bias[j]) + x[j];
  kernels::layer_norm(x, norm_w, norm_b, x, dim, eps);
}

}  // namespace

void BertModel::encode(std::span<const std::span<const TokenId>> seqs, ThreadPool& pool,
                       ShardCombiner* combiner, float* out) {
  const BertConfig& c = config_;
  RunState& s = *state_;
  const int64_t n_seqs = static_cast<int64_t>(seqs.size());
  if (n_seqs == 0) return;
  s.begin.assign(1, 0);
  for (std::span<const TokenId> seq : seqs) {
    const int64_t len = static_cast<int64_t>(seq.size());
    SS_CHECK(len >= 1 && len <= c.max_positions, "sequence length outside [1, max_positions]");
    for (TokenId id : seq) SS_CHECK(id >= 0 && id < c.n_vocab, "token id out of range");
    s.begin.push_back(s.begin.back() + len);
  }
  const int64_t n = s.begin.back();
  s.resize(n, c, shard_, pool.size());
  const int64_t dim = c.dim, local = shard_.q_heads.size() * c.head_dim, ffn = shard_.ffn.size();
  const BertWeights& W = weights_;

  // Embeddings: word + token type 0 + absolute position, then LayerNorm.
  pool.parallel_for(n_seqs, [&](int64_t begin, int64_t end, int) {
    for (int64_t sq = begin; sq < end; ++sq) {
      for (int64_t p = 0; p < static_cast<int64_t>(seqs[sq].size()); ++p) {
        float* x = &s.x[(s.begin[sq] + p) * dim];
        const float* word = W.word_embd + static_cast<int64_t>(seqs[sq][p]) * dim;
        for (int64_t i = 0; i < dim; ++i) x[i] = word[i] + W.type_embd[i] + W.pos_embd[p * dim + i];
        kernels::layer_norm(x, W.embd_norm_w, W.embd_norm_b, x, dim, c.norm_eps);
      }
    }
  });

  for (const BertLayerWeights& L : W.layers) {
    // Self-attention: Q, K, V (+ biases) -> attention within each sequence -> output
    // projection (+ bias) -> residual -> LayerNorm.
    s.xq.view_f32(s.x.data(), n, dim, dim);
    const kernels::MatmulTarget qkv[] = {
        {&L.wq, s.q.data(), local}, {&L.wk, s.k.data(), local}, {&L.wv, s.v.data(), local}};
    kernels::matmul_many(qkv, s.xq, pool);
    attention(L, seqs, pool);  // adds the Q, K, V biases first
    row_parallel(L.wo, s.att.data(), local, shard_.attn_segments, shard_.attn_segments_per_rank,
                 shard_.q_heads.begin * c.head_dim, combiner, s.proj.data(), pool);
    per_token(pool, n, dim, [&](int64_t i) {
      add_and_norm(&s.proj[i * dim], L.bo, &s.x[i * dim], L.attn_norm_w, L.attn_norm_b, dim,
                   c.norm_eps);
    });

    // Feed-forward: up-projection (+ bias) -> GELU -> down-projection (+ bias) -> residual ->
    // LayerNorm.
    s.xq.view_f32(s.x.data(), n, dim, dim);
    kernels::matmul(L.w_up, s.xq, s.up.data(), ffn, pool);
    per_token(pool, n, ffn, [&](int64_t i) {
      kernels::add_inplace(&s.up[i * ffn], L.b_up, ffn);
      kernels::gelu_erf(&s.up[i * ffn], ffn);
    });
    row_parallel(L.w_down, s.up.data(), ffn, shard_.ffn_segments, shard_.ffn_segments_per_rank,
                 shard_.ffn.begin, combiner, s.proj.data(), pool);
    per_token(pool, n, dim, [&](int64_t i) {
      add_and_norm(&s.proj[i * dim], L.b_down, &s.x[i * dim], L.ffn_norm_w, L.ffn_norm_b, dim,
                   c.norm_eps);
    });
  }

  // Mean over each sequence's tokens, then L2 normalisation (torch's F.normalize, eps 1e-12).
  pool.parallel_for(n_seqs, [&](int64_t begin, int64_t end, int thread) {
    std::vector<double>& sum = s.sums[thread];
    for (int64_t sq = begin; sq < end; ++sq) {
      sum.assign(dim, 0.0);
      for (int64_t t = s.begin[sq]; t < s.begin[sq + 1]; ++t)
        for (int64_t i = 0; i < dim; ++i) sum[i] += s.x[t * dim + i];
      const double count = static_cast<double>(s.begin[sq + 1] - s.begin[sq]);
      double norm = 0.0;
      for (int64_t i = 0; i < dim; ++i) norm += (sum[i] / count) * (sum[i] / count);
      const double scale = 1.0 / (count * std::max(std::sqrt(norm), 1e-12));
      for (int64_t i = 0; i < dim; ++i) out[sq * dim + i] = static_cast<float>(sum[i] * scale);
    }
  });
}

Status BertModel::forward(std::span<const SeqChunk> chunks, KvCache* /*kv*/,
                          const StepResources& resources, std::vector<float>* outputs) {
  SS_CHECK(resources.pool, "an encoder's step needs a thread pool");
  RunState& s = *state_;
  s.inputs.clear();
  for (const SeqChunk& chunk : chunks) {
    const auto n = static_cast<int64_t>(chunk.tokens.size());
    if (chunk.start_pos != 0 || n < 1 || n > config_.max_positions)
      return Error{"input " + std::to_string(chunk.seq) + " of " + std::to_string(n) +
                   " tokens at position " + std::to_string(chunk.start_pos) +
                   " cannot be encoded (1.." + std::to_string(config_.max_positions) +
                   " tokens from position 0)"};
    if (chunk.need_logits) s.inputs.push_back(chunk.tokens);
  }
  std::vector<float>& out = outputs ? *outputs : s.unused;
  out.resize(s.inputs.size() * static_cast<size_t>(dim()));
  if (!s.inputs.empty()) encode(s.inputs, *resources.pool, resources.combiner, out.data());
  return {};
}

void BertModel::row_parallel(const WeightMatrix& w, const float* x, int64_t ldx,
                             const std::vector<Range>& segments, std::span<const int> per_rank,
                             int64_t local_begin, ShardCombiner* combiner, float* y,
                             ThreadPool& pool) {
  RunState& s = *state_;
  const int64_t dim = config_.dim, n = s.begin.back();
  s.xq.view_f32(x, n, w.n_cols, ldx);
  if (!combiner) {  // a lone process: one dot product per output
    kernels::matmul(w, s.xq, y, dim, pool);
  } else {
    s.segments.clear();
    for (const Range& seg : segments)
      s.segments.push_back({seg.begin - local_begin, seg.end - local_begin});
    s.partials.resize(s.segments.size() * n * dim);
    kernels::matmul_segments(w, s.xq, s.segments, s.partials.data(), dim, n * dim, pool);
    combiner->sum_segments(s.partials.data(), per_rank, n * dim, y);
  }
}

// Scaled dot-product attention of every local head within every sequence, bidirectional:
// q, k, v += their biases; scores = K q / sqrt(head_dim) for all tokens of the sequence,
// softmax, weighted sum of V.
// Both products run through the packed-panel kernel: a sequence's keys are the "weight rows" of
// its queries, and its values, transposed, those of its attention weights (packing them costs
// T x head_dim copies against T^2 x head_dim multiply-adds). Jobs are (sequence, head) pairs,
// longest sequences first, taken from a shared counter so that threads stay busy when lengths
// differ.
void BertModel::attention(const BertLayerWeights& L, std::span<const std::span<const TokenId>> seqs,
                          ThreadPool& pool) {
  RunState& s = *state_;
  const int64_t hd = config_.head_dim, n_heads = shard_.q_heads.size(), ld = n_heads * hd;
  const int64_t n_seqs = static_cast<int64_t>(seqs.size());
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  static const kernels::PackedMatmulFn product = kernels::packed_matmul_f32_for();
  auto room = [](kernels::AlignedFloats& buffer, int64_t& size, int64_t n) {
    if (size < n) buffer = kernels::aligned_floats(size = n);
    return buffer.get();
  };

  s.jobs.resize(n_seqs * n_heads);
  std::iota(s.jobs.begin(), s.jobs.end(), 0);
  std::stable_sort(s.jobs.begin(), s.jobs.end(), [&](int64_t a, int64_t b) {
    return seqs[a / n_heads].size() > seqs[b / n_heads].size();
  });
  std::atomic<int64_t> next{0};
  pool.parallel_for(pool.size(), [&](int64_t, int64_t, int thread) {
    RunState::Attention& a = s.attn[thread];
    for (int64_t j = next.fetch_add(1); j < n_seqs * n_heads; j = next.fetch_add(1)) {
      const int64_t sq = s.jobs[j] / n_heads, h = s.jobs[j] % n_heads;
      const int64_t t0 = s.begin[sq], len = s.begin[sq + 1] - t0;
      const int64_t off = t0 * ld + h * hd;  // this head's first query, key and value
      for (int64_t t = 0; t < len; ++t) {
        kernels::add_inplace(&s.q[off + t * ld], L.bq + h * hd, hd);
        kernels::add_inplace(&s.k[off + t * ld], L.bk + h * hd, hd);
        kernels::add_inplace(&s.v[off + t * ld], L.bv + h * hd, hd);
      }
      float* keys = room(a.keys, a.keys_size, kernels::panels_size(len, hd));
      float* values = room(a.values, a.values_size, kernels::panels_size(hd, len));
      a.scores.resize(len * len);
      float* scores = a.scores.data();
      // scores[i][j] = k_j . q_i
      kernels::pack_f32_panels_into(&s.k[off], ld * sizeof(float), len, hd, keys);
      product(keys, hd, 0, len, 0, hd, &s.q[off], ld, len, scores, len);
      for (int64_t i = 0; i < len; ++i) {
        float* row = &scores[i * len];
        for (int64_t p = 0; p < len; ++p) row[p] *= scale;
        kernels::softmax(row, len);
      }
      // att[i][d] = sum_j scores[i][j] v_j[d]
      kernels::pack_f32_panels_of_transpose_into(&s.v[off], ld, len, hd, values);
      product(values, len, 0, hd, 0, len, scores, len, len, &s.att[off], ld);
    }
  });
}

}  // namespace shardserve
