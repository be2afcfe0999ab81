// all-MiniLM-L6-v2 against sentence-transformers on torch (tests/golden/embeddings/, token ids
// from HuggingFace's tokenizer and the embeddings it computed), and the batching and
// tensor-parallel invariances on the real model. The model and the golden file must be there:
// scripts/test fetches the model first, so a missing file is a failure, not a skip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "model/bert/bert_model.h"
#include "parallel/testing/thread_shard_combiner.h"

namespace shardserve {
namespace {

constexpr const char* kModelDir = "models/all-MiniLM-L6-v2";
constexpr const char* kGolden = "tests/golden/embeddings/embedding_golden.json";
constexpr double kMinCosine = 0.999;

struct Case {
  std::string text;
  std::vector<TokenId> tokens;
  std::vector<float> embedding;
};

class BertGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto config = read_bert_config(kModelDir);
    if (!config) {
      error_ = config.error().message + " (run scripts/fetch-models)";
      return;
    }
    config_ = *config;
    auto file = safetensors::File::open(std::string(kModelDir) + "/model.safetensors");
    if (!file) {
      error_ = file.error().message + " (run scripts/fetch-models)";
      return;
    }
    file_ = std::move(*file).release();
    std::ifstream in(kGolden);
    if (!in) {
      error_ = std::string("cannot read ") + kGolden;
      return;
    }
    const nlohmann::json j = nlohmann::json::parse(in);
    golden_dim_ = j.at("dim").get<int64_t>();
    golden_max_seq_len_ = j.at("max_seq_length").get<int64_t>();
    for (const auto& c : j.at("cases"))
      cases_.push_back({c.at("text").get<std::string>(), c.at("tokens").get<std::vector<TokenId>>(),
                        c.at("embedding").get<std::vector<float>>()});
  }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(error_.empty()) << error_;
    ASSERT_FALSE(cases_.empty()) << kGolden << " has no cases";
  }

  static std::unique_ptr<BertModel> load(int tp = 1, int rank = 0) {
    auto m = BertModel::load(*file_, config_, tp, rank);
    EXPECT_TRUE(m.ok()) << m.error().message;
    return m.ok() ? std::move(*m) : nullptr;
  }
  static std::vector<std::span<const TokenId>> spans() {
    std::vector<std::span<const TokenId>> s;
    for (const Case& c : cases_) s.emplace_back(c.tokens);
    return s;
  }

  static inline std::string error_;
  static inline BertConfig config_;
  static inline safetensors::File* file_ = nullptr;
  static inline int64_t golden_dim_ = 0, golden_max_seq_len_ = 0;
  static inline std::vector<Case> cases_;
};

double cosine(const float* a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

TEST_F(BertGolden, ConfigMatchesTheGoldenRun) {
  EXPECT_EQ(config_.dim, golden_dim_);
  EXPECT_EQ(config_.max_seq_len, golden_max_seq_len_);
  for (const Case& c : cases_) {
    EXPECT_EQ(static_cast<int64_t>(c.embedding.size()), config_.dim) << c.text;
    EXPECT_LE(static_cast<int64_t>(c.tokens.size()), config_.max_seq_len) << c.text;
  }
}

TEST_F(BertGolden, EmbeddingsMatchSentenceTransformers) {
  auto m = load();
  ASSERT_TRUE(m);
  ThreadPool pool(2);
  std::vector<float> out(cases_.size() * m->dim());
  m->encode(spans(), pool, nullptr, out.data());
  double min_cos = 1, max_diff = 0;
  for (size_t i = 0; i < cases_.size(); ++i) {
    const float* e = &out[i * m->dim()];
    const double cos = cosine(e, cases_[i].embedding);
    EXPECT_GE(cos, kMinCosine) << "case " << i << ": " << cases_[i].text;
    min_cos = std::min(min_cos, cos);
    for (int64_t k = 0; k < m->dim(); ++k)
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(e[k]) - cases_[i].embedding[k]));
  }
  std::printf("%zu cases: min cosine similarity %.9f (1 - %.2e), max |difference| %.2e\n",
              cases_.size(), min_cos, 1 - min_cos, max_diff);
  RecordProperty("min_cosine", std::to_string(min_cos));
}

TEST_F(BertGolden, EachCaseAloneGivesTheBitsOfTheBatch) {
  auto m = load();
  ASSERT_TRUE(m);
  ThreadPool pool(2);
  const int64_t d = m->dim();
  std::vector<float> batch(cases_.size() * d), alone(d);
  m->encode(spans(), pool, nullptr, batch.data());
  for (size_t i = 0; i < cases_.size(); ++i) {
    std::span<const TokenId> one(cases_[i].tokens);
    m->encode({&one, 1}, pool, nullptr, alone.data());
    EXPECT_EQ(0, std::memcmp(alone.data(), &batch[i * d], d * sizeof(float)))
        << "case " << i << ": " << cases_[i].text;
  }
}

TEST_F(BertGolden, TensorParallelShardsGiveTheSameBits) {
  const auto seqs = spans();
  std::vector<std::vector<float>> by_tp;
  for (int tp = 1; tp <= 3; ++tp) {
    std::vector<std::unique_ptr<BertModel>> ranks;
    for (int r = 0; r < tp; ++r) ranks.push_back(load(tp, r));
    testing::ThreadShardCombiner::Group group(tp);
    std::vector<std::vector<float>> out(tp, std::vector<float>(seqs.size() * config_.dim));
    std::vector<std::thread> threads;
    for (int r = 0; r < tp; ++r)
      threads.emplace_back([&, r] {
        ThreadPool pool(1);
        testing::ThreadShardCombiner ps(group, r);
        ranks[r]->encode(seqs, pool, &ps, out[r].data());
      });
    for (auto& t : threads) t.join();
    for (int r = 1; r < tp; ++r) EXPECT_EQ(out[r], out[0]) << "tp " << tp << " rank " << r;
    by_tp.push_back(out[0]);
  }
  EXPECT_EQ(by_tp[1], by_tp[0]) << "tp 2 differs from tp 1";
  EXPECT_EQ(by_tp[2], by_tp[0]) << "tp 3 differs from tp 1";
  for (size_t i = 0; i < cases_.size(); ++i)
    EXPECT_GE(cosine(&by_tp[0][i * config_.dim], cases_[i].embedding), kMinCosine);
}

}  // namespace
}  // namespace shardserve
