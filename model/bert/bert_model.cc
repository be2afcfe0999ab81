#include "model/bert/bert_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>

#include "base/check.h"
#include "model/kernels/cpu/matmul_f32.h"
#include "model/kernels/cpu/ops.h"

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
  ActivationRows xq;            // the input of a product, in the weight's dot type
  // Per pool thread: a sequence's attention scores [T][T] and one head's values transposed
  // [head_dim][T].
  std::vector<std::vector<float>> scores, values_t;

  void resize(int64_t n, const BertConfig& c, const LlamaShard& s, int threads) {
    const int64_t local = s.q_heads.size() * c.head_dim;
    x.resize(n * c.dim);
    q.resize(n * local);
    k.resize(n * local);
    v.resize(n * local);
    att.resize(n * local);
    proj.resize(n * c.dim);
    up.resize(n * s.ffn.size());
    scores.resize(threads);
    values_t.resize(threads);
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
  const LlamaShape shape{.n_heads = config.n_heads,
                         .n_kv_heads = config.n_heads,
                         .hidden_dim = config.hidden_dim,
                         .ffn_unit = ffn_unit,
                         .head_dim = config.head_dim,
                         .max_tp = max_tp};
  auto shard = plan_llama_shard(shape, tp, rank);
  if (!shard) return shard.error();
  auto weights = load_bert_weights(file, config, *shard);
  if (!weights) return weights.error();
  return std::unique_ptr<BertModel>(new BertModel(config, *shard, std::move(*weights)));
}

BertModel::BertModel(BertConfig config, LlamaShard shard, BertWeights weights)
    : config_(std::move(config)),
      shard_(std::move(shard)),
      weights_(std::move(weights)),
      state_(std::make_unique<RunState>()) {}

BertModel::~BertModel() = default;

namespace {

// fn(i) for every token i on the pool (inline for a single token: the hand-off would cost more).
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

}  // namespace

void BertModel::encode(std::span<const std::span<const TokenId>> seqs, ThreadPool& pool,
                       PartialSum* partial_sum, float* out) {
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
    s.xq.quantize(DType::F32, s.x.data(), n, dim, dim, pool);
    const kernels::MatmulTarget qkv[] = {
        {&L.wq, s.q.data(), local}, {&L.wk, s.k.data(), local}, {&L.wv, s.v.data(), local}};
    kernels::matmul_many(qkv, s.xq, pool);
    per_token(pool, n, [&](int64_t i) {
      kernels::add_inplace(&s.q[i * local], L.bq, local);
      kernels::add_inplace(&s.k[i * local], L.bk, local);
      kernels::add_inplace(&s.v[i * local], L.bv, local);
    });
    attention(seqs, pool);
    row_parallel(L.wo, L.bo, s.att.data(), local, shard_.attn_segments,
                 shard_.attn_segments_per_rank, shard_.q_heads.begin * c.head_dim, partial_sum,
                 s.proj.data(), pool);
    per_token(pool, n, [&](int64_t i) {
      float* x = &s.x[i * dim];
      for (int64_t j = 0; j < dim; ++j) x[j] = s.proj[i * dim + j] + x[j];
      kernels::layer_norm(x, L.attn_norm_w, L.attn_norm_b, x, dim, c.norm_eps);
    });

    // Feed-forward: up-projection (+ bias) -> GELU -> down-projection (+ bias) -> residual ->
    // LayerNorm.
    s.xq.quantize(DType::F32, s.x.data(), n, dim, dim, pool);
    kernels::matmul(L.w_up, s.xq, s.up.data(), ffn, pool);
    per_token(pool, n, [&](int64_t i) {
      kernels::add_inplace(&s.up[i * ffn], L.b_up, ffn);
      kernels::gelu_erf(&s.up[i * ffn], ffn);
    });
    row_parallel(L.w_down, L.b_down, s.up.data(), ffn, shard_.ffn_segments,
                 shard_.ffn_segments_per_rank, shard_.ffn.begin, partial_sum, s.proj.data(), pool);
    per_token(pool, n, [&](int64_t i) {
      float* x = &s.x[i * dim];
      for (int64_t j = 0; j < dim; ++j) x[j] = s.proj[i * dim + j] + x[j];
      kernels::layer_norm(x, L.ffn_norm_w, L.ffn_norm_b, x, dim, c.norm_eps);
    });
  }

  // Mean over each sequence's tokens, then L2 normalisation (torch's F.normalize, eps 1e-12).
  pool.parallel_for(n_seqs, [&](int64_t begin, int64_t end, int) {
    std::vector<double> sum(dim);
    for (int64_t sq = begin; sq < end; ++sq) {
      std::fill(sum.begin(), sum.end(), 0.0);
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

void BertModel::row_parallel(const WeightMatrix& w, const float* bias, const float* x, int64_t ldx,
                             const std::vector<Range>& segments, std::span<const int> per_rank,
                             int64_t local_begin, PartialSum* partial_sum, float* y,
                             ThreadPool& pool) {
  RunState& s = *state_;
  const int64_t dim = config_.dim, n = s.begin.back();
  s.xq.quantize(info(w.type).dot_type, x, n, w.n_cols, ldx, pool);
  if (!partial_sum) {  // a lone process: one dot product per output
    kernels::matmul(w, s.xq, y, dim, pool);
  } else {
    std::vector<kernels::ColumnRange> local;
    for (const Range& seg : segments)
      local.push_back({seg.begin - local_begin, seg.end - local_begin});
    s.partials.resize(local.size() * n * dim);
    kernels::matmul_segments(w, s.xq, local, s.partials.data(), dim, n * dim, pool);
    partial_sum->sum_segments(s.partials.data(), per_rank, n * dim, y);
  }
  per_token(pool, n, [&](int64_t i) { kernels::add_inplace(&y[i * dim], bias, dim); });
}

// Scaled dot-product attention of every local head within every sequence, bidirectional:
// scores = K q / sqrt(head_dim) for all tokens of the sequence, softmax, weighted sum of V.
// Both products run through the tiled f32 kernel: a sequence's keys are the "weight rows" of
// its queries, and its values, transposed, those of its attention weights. Jobs are (sequence,
// head) pairs, longest sequences first, taken from a shared counter so that threads stay busy
// when lengths differ.
void BertModel::attention(std::span<const std::span<const TokenId>> seqs, ThreadPool& pool) {
  RunState& s = *state_;
  const int64_t hd = config_.head_dim, n_heads = shard_.q_heads.size(), ld = n_heads * hd;
  const int64_t n_seqs = static_cast<int64_t>(seqs.size());
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  static const kernels::MatmulF32Fn product = kernels::matmul_f32_for();

  s.jobs.resize(n_seqs * n_heads);
  std::iota(s.jobs.begin(), s.jobs.end(), 0);
  std::stable_sort(s.jobs.begin(), s.jobs.end(), [&](int64_t a, int64_t b) {
    return seqs[a / n_heads].size() > seqs[b / n_heads].size();
  });
  std::atomic<int64_t> next{0};
  pool.parallel_for(pool.size(), [&](int64_t, int64_t, int thread) {
    std::vector<float>& scores = s.scores[thread];
    std::vector<float>& values_t = s.values_t[thread];
    for (int64_t j = next.fetch_add(1); j < n_seqs * n_heads; j = next.fetch_add(1)) {
      const int64_t sq = s.jobs[j] / n_heads, h = s.jobs[j] % n_heads;
      const int64_t t0 = s.begin[sq], len = s.begin[sq + 1] - t0;
      const int64_t off = t0 * ld + h * hd;  // this head's first query, key and value
      scores.resize(len * len);
      values_t.resize(hd * len);
      // scores[i][j] = k_j . q_i
      product(&s.k[off], ld, len, &s.q[off], ld, len, hd, scores.data(), len);
      for (int64_t i = 0; i < len; ++i) {
        float* row = &scores[i * len];
        for (int64_t p = 0; p < len; ++p) row[p] *= scale;
        kernels::softmax(row, len);
      }
      for (int64_t p = 0; p < len; ++p)
        for (int64_t d = 0; d < hd; ++d) values_t[d * len + p] = s.v[off + p * ld + d];
      // att[i][d] = sum_j scores[i][j] v_j[d]
      product(values_t.data(), len, hd, scores.data(), len, len, len, &s.att[off], ld);
    }
  });
}

}  // namespace shardserve
