// BertModel on a small random BERT built in memory: against a naive double-precision forward
// pass written from the definition, batch composition, tensor-parallel shards on threads, the
// "bert." name prefix, unaligned tensor data, and load errors. (The real all-MiniLM-L6-v2 against
// sentence-transformers is bert_golden_test.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "model/bert/bert_model.h"
#include "model/safetensors/testing/safetensors_builder.h"
#include "parallel/testing/thread_shard_combiner.h"

namespace shardserve {
namespace {

using safetensors::testing::SafetensorsBuilder;

// 4 heads of 8, an FFN of 80 (split in units of 16 for tp up to 4), 2 layers.
BertConfig small_config() {
  auto c = parse_bert_config(R"({"hidden_size": 32, "intermediate_size": 80,
      "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 50,
      "max_position_embeddings": 40, "type_vocab_size": 2, "layer_norm_eps": 1e-12})",
                             "test");
  EXPECT_TRUE(c.ok());
  return *c;
}

// Named tensors (PyTorch shapes) with random values.
struct Tensors {
  std::vector<std::pair<std::string, std::vector<int64_t>>> order;
  std::map<std::string, std::vector<float>> values;

  void add(const std::string& name, std::vector<int64_t> shape, std::mt19937& rng, float scale,
           float mean = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::normal_distribution<float> dist(mean, scale);
    std::vector<float> v(n);
    for (float& f : v) f = dist(rng);
    order.emplace_back(name, std::move(shape));
    values[name] = std::move(v);
  }
  const std::vector<float>& operator[](const std::string& name) const { return values.at(name); }
};

Tensors random_bert(const BertConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensors t;
  const int64_t d = c.dim, f = c.hidden_dim;
  t.add("embeddings.word_embeddings.weight", {c.n_vocab, d}, rng, 1.0f);
  t.add("embeddings.position_embeddings.weight", {c.max_positions, d}, rng, 0.5f);
  t.add("embeddings.token_type_embeddings.weight", {c.n_token_types, d}, rng, 0.5f);
  t.add("embeddings.LayerNorm.weight", {d}, rng, 0.1f, 1.0f);
  t.add("embeddings.LayerNorm.bias", {d}, rng, 0.1f);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value",
                          "attention.output.dense"}) {
      t.add(p + m + ".weight", {d, d}, rng, 0.3f);
      t.add(p + m + ".bias", {d}, rng, 0.1f);
    }
    t.add(p + "attention.output.LayerNorm.weight", {d}, rng, 0.1f, 1.0f);
    t.add(p + "attention.output.LayerNorm.bias", {d}, rng, 0.1f);
    t.add(p + "intermediate.dense.weight", {f, d}, rng, 0.3f);
    t.add(p + "intermediate.dense.bias", {f}, rng, 0.1f);
    t.add(p + "output.dense.weight", {d, f}, rng, 0.2f);
    t.add(p + "output.dense.bias", {d}, rng, 0.1f);
    t.add(p + "output.LayerNorm.weight", {d}, rng, 0.1f, 1.0f);
    t.add(p + "output.LayerNorm.bias", {d}, rng, 0.1f);
  }
  return t;
}

// The tensors as a safetensors image; `prefix` before every name; a leading 1-byte tensor
// misaligns all the others' data when `misalign`.
std::vector<uint8_t> image(const Tensors& t, const std::string& prefix = "",
                           bool misalign = false) {
  SafetensorsBuilder b;
  if (misalign) b.tensor("pad", "U8", {1}, {0});
  for (const auto& [name, shape] : t.order) b.f32(prefix + name, shape, t[name]);
  return b.build();
}

// --- the definition, in double ---

using Mat = std::vector<std::vector<double>>;  // [token][feature]

Mat linear(const Mat& x, const std::vector<float>& w, const std::vector<float>& b, int64_t out) {
  const int64_t in = static_cast<int64_t>(x[0].size());
  Mat y(x.size(), std::vector<double>(out));
  for (size_t t = 0; t < x.size(); ++t)
    for (int64_t o = 0; o < out; ++o) {
      double sum = b[o];
      for (int64_t i = 0; i < in; ++i) sum += static_cast<double>(w[o * in + i]) * x[t][i];
      y[t][o] = sum;
    }
  return y;
}

void layer_norm(std::vector<double>& x, const std::vector<float>& w, const std::vector<float>& b,
                double eps) {
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = (x[i] - mean) / std::sqrt(var + eps) * w[i] + b[i];
}

std::vector<double> reference(const Tensors& T, const BertConfig& c,
                              const std::vector<TokenId>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size()), d = c.dim, hd = c.head_dim;
  Mat x(n, std::vector<double>(d));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < d; ++i)
      x[t][i] = static_cast<double>(T["embeddings.word_embeddings.weight"][tokens[t] * d + i]) +
                T["embeddings.token_type_embeddings.weight"][i] +
                T["embeddings.position_embeddings.weight"][t * d + i];
    layer_norm(x[t], T["embeddings.LayerNorm.weight"], T["embeddings.LayerNorm.bias"], c.norm_eps);
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto lin = [&](const Mat& in, const std::string& m, int64_t out) {
      return linear(in, T[p + m + ".weight"], T[p + m + ".bias"], out);
    };
    const Mat q = lin(x, "attention.self.query", d), k = lin(x, "attention.self.key", d),
              v = lin(x, "attention.self.value", d);
    Mat att(n, std::vector<double>(d, 0.0));
    for (int64_t h = 0; h < c.n_heads; ++h) {
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> s(n);
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          for (int64_t e = 0; e < hd; ++e) s[j] += q[i][h * hd + e] * k[j][h * hd + e];
          s[j] /= std::sqrt(static_cast<double>(hd));
          max = std::max(max, s[j]);
        }
        for (double& e : s) sum += (e = std::exp(e - max));
        for (int64_t j = 0; j < n; ++j)
          for (int64_t e = 0; e < hd; ++e) att[i][h * hd + e] += s[j] / sum * v[j][h * hd + e];
      }
    }
    const Mat o = lin(att, "attention.output.dense", d);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < d; ++i) x[t][i] += o[t][i];
      layer_norm(x[t], T[p + "attention.output.LayerNorm.weight"],
                 T[p + "attention.output.LayerNorm.bias"], c.norm_eps);
    }
    Mat u = lin(x, "intermediate.dense", c.hidden_dim);
    for (auto& row : u)
      for (double& e : row) e = 0.5 * e * (1.0 + std::erf(e / std::sqrt(2.0)));
    const Mat y = lin(u, "output.dense", d);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < d; ++i) x[t][i] += y[t][i];
      layer_norm(x[t], T[p + "output.LayerNorm.weight"], T[p + "output.LayerNorm.bias"],
                 c.norm_eps);
    }
  }
  std::vector<double> mean(d, 0.0);
  for (const auto& row : x)
    for (int64_t i = 0; i < d; ++i) mean[i] += row[i] / static_cast<double>(n);
  double norm = 0;
  for (double e : mean) norm += e * e;
  for (double& e : mean) e /= std::sqrt(norm);
  return mean;
}

// --- fixtures ---

std::vector<std::vector<TokenId>> test_sequences(const BertConfig& c) {
  std::mt19937 rng(7);
  std::vector<std::vector<TokenId>> seqs;
  for (int64_t len : {13, 1, 2, 7, 40, 5, 24}) {  // 40 = max_positions
    std::vector<TokenId> s(len);
    for (TokenId& id : s) id = static_cast<TokenId>(rng() % c.n_vocab);
    seqs.push_back(s);
  }
  return seqs;
}

std::vector<float> encode(BertModel& m, const std::vector<std::vector<TokenId>>& seqs,
                          ThreadPool& pool, ShardCombiner* ps = nullptr) {
  std::vector<std::span<const TokenId>> spans(seqs.begin(), seqs.end());
  std::vector<float> out(seqs.size() * m.dim());
  m.encode(spans, pool, ps, out.data());
  return out;
}

std::unique_ptr<BertModel> load(const safetensors::File& f, const BertConfig& c, int tp = 1,
                                int rank = 0) {
  auto m = BertModel::load(f, c, tp, rank);
  EXPECT_TRUE(m.ok()) << m.error().message;
  return m.ok() ? std::move(*m) : nullptr;
}

class BertSmall : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = small_config();
    tensors_ = random_bert(config_, 11);
    bytes_ = image(tensors_);
    auto f = safetensors::File::parse(bytes_);
    ASSERT_TRUE(f.ok()) << f.error().message;
    file_ = std::move(*f);
    seqs_ = test_sequences(config_);
  }
  BertConfig config_;
  Tensors tensors_;
  std::vector<uint8_t> bytes_;
  std::unique_ptr<safetensors::File> file_;
  std::vector<std::vector<TokenId>> seqs_;
};

void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const std::string& what) {
  double dot = 0, ng = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 2e-5) << what << " element " << i;
    dot += got[i] * want[i];
    ng += static_cast<double>(got[i]) * got[i];
  }
  EXPECT_GT(dot / std::sqrt(ng), 1 - 1e-6) << what;  // want has norm 1
}

TEST_F(BertSmall, MatchesTheDefinition) {
  auto m = load(*file_, config_);
  ASSERT_TRUE(m);
  ThreadPool pool(2);
  const auto out = encode(*m, seqs_, pool);
  for (size_t s = 0; s < seqs_.size(); ++s) {
    const auto want = reference(tensors_, config_, seqs_[s]);
    expect_close({out.begin() + s * m->dim(), out.begin() + (s + 1) * m->dim()}, want,
                 "sequence " + std::to_string(s));
  }
}

TEST_F(BertSmall, BatchCompositionDoesNotChangeAnyBit) {
  auto m = load(*file_, config_);
  ASSERT_TRUE(m);
  ThreadPool pool(2);
  const auto together = encode(*m, seqs_, pool);
  const int64_t d = m->dim();
  for (size_t s = 0; s < seqs_.size(); ++s) {
    const auto alone = encode(*m, {seqs_[s]}, pool);
    EXPECT_EQ(0, std::memcmp(alone.data(), &together[s * d], d * sizeof(float)))
        << "sequence " << s;
  }
  auto reversed = seqs_;
  std::reverse(reversed.begin(), reversed.end());
  const auto r = encode(*m, reversed, pool);
  for (size_t s = 0; s < seqs_.size(); ++s)
    EXPECT_EQ(0, std::memcmp(&r[(seqs_.size() - 1 - s) * d], &together[s * d], d * sizeof(float)));
  ThreadPool one(1);  // thread count does not matter either
  EXPECT_EQ(encode(*m, seqs_, one), together);
}

// tp ranks on threads: every rank of every tp gets the same bits, and they agree with a lone
// process (single dot products instead of per-segment ones) to float rounding.
std::vector<std::vector<float>> run_group(const safetensors::File& f, const BertConfig& c, int tp,
                                          const std::vector<std::vector<TokenId>>& seqs) {
  std::vector<std::unique_ptr<BertModel>> models;
  for (int r = 0; r < tp; ++r) models.push_back(load(f, c, tp, r));
  testing::ThreadShardCombiner::Group group(tp);
  std::vector<std::vector<float>> out(tp);
  std::vector<std::thread> threads;
  for (int r = 0; r < tp; ++r)
    threads.emplace_back([&, r] {
      ThreadPool pool(1);
      testing::ThreadShardCombiner ps(group, r);
      out[r] = encode(*models[r], seqs, pool, &ps);
    });
  for (auto& t : threads) t.join();
  return out;
}

TEST_F(BertSmall, EveryTpGivesTheSameBits) {
  const auto base = run_group(*file_, config_, 1, seqs_)[0];
  for (int tp = 2; tp <= BertModel::kMaxTp; ++tp) {
    const auto out = run_group(*file_, config_, tp, seqs_);
    for (int r = 0; r < tp; ++r) EXPECT_EQ(out[r], base) << "tp " << tp << " rank " << r;
  }
  auto m = load(*file_, config_);
  ThreadPool pool(2);
  const auto lone = encode(*m, seqs_, pool);
  for (size_t i = 0; i < lone.size(); ++i) EXPECT_NEAR(lone[i], base[i], 1e-6);
}

// Through the RankModel interface a step's chunks are whole inputs: the ones with need_logits
// get their embeddings (the bits of encode()), in chunk order; a chunk that is not a whole input
// is an Error and computes nothing.
TEST_F(BertSmall, AsARankModelEncodesTheChunksThatAskAndRefusesPartialInputs) {
  auto m = load(*file_, config_);
  ASSERT_TRUE(m);
  ThreadPool pool(2);
  RankModel& model = *m;
  EXPECT_EQ(model.output_width(), config_.dim);
  EXPECT_FALSE(model.kv_shape(8, 16).has_value());

  std::vector<SeqChunk> chunks;
  std::vector<std::vector<TokenId>> asked;
  for (size_t i = 0; i < seqs_.size(); ++i) {
    chunks.push_back({.seq = static_cast<int64_t>(i),
                      .start_pos = 0,
                      .tokens = seqs_[i],
                      .need_logits = i % 3 != 1});
    if (chunks.back().need_logits) asked.push_back(seqs_[i]);
  }
  std::vector<float> out;
  ASSERT_TRUE(model.forward(chunks, nullptr, {.pool = &pool}, &out).ok());
  EXPECT_EQ(out, encode(*m, asked, pool));

  const std::vector<TokenId> too_long(config_.max_positions + 1, 1);
  const SeqChunk bad[] = {{.seq = 4, .start_pos = 3, .tokens = seqs_[0], .need_logits = true},
                          {.seq = 5, .start_pos = 0, .tokens = {}, .need_logits = true},
                          {.seq = 6, .start_pos = 0, .tokens = too_long, .need_logits = true}};
  for (const SeqChunk& chunk : bad) {
    const Status s = model.forward({&chunk, 1}, nullptr, {.pool = &pool}, &out);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("input " + std::to_string(chunk.seq) + " of "), std::string::npos)
        << s.message();
  }
  EXPECT_EQ(model.forward(bad, nullptr, {.pool = &pool}, &out).message(),
            "input 4 of 13 tokens at position 3 cannot be encoded (1..40 tokens from position 0)");
}

TEST_F(BertSmall, PrefixedNamesAndUnalignedDataLoadTheSameModel) {
  ThreadPool pool(2);
  auto m = load(*file_, config_);
  const auto want = encode(*m, seqs_, pool);
  for (auto [prefix, misalign] : {std::pair{"bert.", false}, std::pair{"", true}}) {
    const auto bytes = image(tensors_, prefix, misalign);
    auto f = safetensors::File::parse(bytes);
    ASSERT_TRUE(f.ok()) << f.error().message;
    if (misalign) {
      ASSERT_NE(reinterpret_cast<uintptr_t>((*f)->tensor("embeddings.LayerNorm.bias")->data) % 4,
                0u);
    }
    auto other = load(**f, config_);
    ASSERT_TRUE(other);
    EXPECT_EQ(encode(*other, seqs_, pool), want)
        << "prefix '" << prefix << "' misalign " << misalign;
  }
}

TEST_F(BertSmall, LoadErrorsNameTheTensor) {
  auto error = [&](const Tensors& t, const BertConfig& c, int tp = 1) {
    const auto bytes = image(t);
    auto f = safetensors::File::parse(bytes);
    EXPECT_TRUE(f.ok());
    auto m = BertModel::load(**f, c, tp, 0);
    EXPECT_FALSE(m.ok());
    return m.ok() ? std::string() : m.error().message;
  };
  Tensors t = tensors_;
  for (auto& [name, shape] : t.order)
    if (name == "encoder.layer.1.attention.self.query.weight") shape = {32, 31};
  t.values["encoder.layer.1.attention.self.query.weight"].resize(32 * 31);
  EXPECT_EQ(error(t, config_),
            "tensor 'encoder.layer.1.attention.self.query.weight' has shape [32, 31], expected "
            "[32, 32]");

  Tensors missing = tensors_;
  std::erase_if(missing.order,
                [](const auto& e) { return e.first == "encoder.layer.0.output.dense.bias"; });
  EXPECT_EQ(error(missing, config_),
            "tensor 'encoder.layer.0.output.dense.bias' is missing from <memory>");

  BertConfig more_layers = config_;
  more_layers.n_layers = 3;
  EXPECT_NE(error(tensors_, more_layers).find("'encoder.layer.2."), std::string::npos);
  EXPECT_EQ(error(tensors_, config_, 5), "tp = 5 is not supported for this BERT model (at most 4)");

  const auto f16 = SafetensorsBuilder()
                       .tensor("embeddings.word_embeddings.weight", "F16", {50, 32},
                               std::vector<uint8_t>(50 * 32 * 2))
                       .build();
  auto f = safetensors::File::parse(f16);
  ASSERT_TRUE(f.ok());
  auto m = BertModel::load(**f, config_);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message,
            "tensor 'embeddings.word_embeddings.weight' has dtype F16, expected F32");
}

}  // namespace
}  // namespace shardserve
