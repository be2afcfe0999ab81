#include "coordinator/knowledge/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "coordinator/knowledge/store.h"

namespace shardserve::knowledge {
namespace {

std::vector<float> random_unit_vectors(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> data(n * dim);
  for (float& x : data) x = normal(rng);
  for (size_t i = 0; i < n; ++i) l2_normalize(std::span<float>(data.data() + i * dim, dim));
  return data;
}

// Built the way start-up builds (add_batch: every core inserting at once, default options),
// on random vectors, where HNSW does worst.
TEST(VectorIndex, RecallAt10AgainstBruteForce) {
  constexpr size_t kN = 10000, kDim = 384, kQueries = 100, kK = 10;
  const std::vector<float> data = random_unit_vectors(kN, kDim, 1);
  std::vector<int64_t> ids(kN);
  for (size_t i = 0; i < kN; ++i) ids[i] = static_cast<int64_t>(i) + 1000;
  VectorIndex index(kDim, {.build_threads = std::max(2u, std::thread::hardware_concurrency())});
  ASSERT_TRUE(index.add_batch(ids, data).ok());
  EXPECT_EQ(index.size(), kN);
  const std::vector<float> queries = random_unit_vectors(kQueries, kDim, 2);
  size_t hits = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    std::span<const float> query(queries.data() + q * kDim, kDim);
    auto exact = brute_force_search(data, ids, kDim, query, kK);
    auto approx = index.search(query, kK);
    ASSERT_TRUE(approx.ok());
    ASSERT_EQ(approx->size(), kK);
    EXPECT_GE((*approx)[0].score, (*approx)[kK - 1].score);  // best first
    std::set<int64_t> truth;
    for (auto& s : exact) truth.insert(s.chunk_id);
    for (auto& s : *approx) hits += truth.count(s.chunk_id);
  }
  const double recall = static_cast<double>(hits) / (kQueries * kK);
  std::printf("recall@10 = %.3f\n", recall);
  EXPECT_GE(recall, 0.95);
}

TEST(VectorIndex, CosineScoresRemoveAndRevive) {
  VectorIndex index(3, {.initial_capacity = 1});                // grows by doubling
  ASSERT_TRUE(index.add(1, std::vector<float>{2, 0, 0}).ok());  // normalised on the way in
  ASSERT_TRUE(index.add(2, std::vector<float>{0, 1, 0}).ok());
  ASSERT_TRUE(index.add(3, std::vector<float>{1, 1, 0}).ok());
  auto r = index.search(std::vector<float>{5, 0, 0}, 3);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].chunk_id, 1);
  EXPECT_NEAR((*r)[0].score, 1.0f, 1e-5);
  EXPECT_EQ((*r)[1].chunk_id, 3);
  EXPECT_NEAR((*r)[1].score, 0.70710678f, 1e-5);
  EXPECT_NEAR((*r)[2].score, 0.0f, 1e-5);

  EXPECT_TRUE(index.remove(1));
  EXPECT_FALSE(index.remove(1));
  EXPECT_FALSE(index.remove(42));
  EXPECT_EQ(index.size(), 2u);
  r = index.search(std::vector<float>{1, 0, 0}, 3);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].chunk_id, 3);

  ASSERT_TRUE(index.add(1, std::vector<float>{1, 0, 0}).ok());  // revived
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ((*index.search(std::vector<float>{1, 0, 0}, 1))[0].chunk_id, 1);

  EXPECT_EQ(index.add(9, std::vector<float>{1, 0}).code(), ErrorCode::kInvalidInput);
  EXPECT_FALSE(index.search(std::vector<float>{1, 0}, 1).ok());
}

// add_batch behaves as add() in order: a repeated id keeps its last vector, ids already in the
// index are replaced (and revived), capacity grows past the initial one.
TEST(VectorIndex, AddBatchIsAddInOrder) {
  VectorIndex index(2, {.initial_capacity = 2, .build_threads = 4});
  ASSERT_TRUE(index.add(1, std::vector<float>{1, 0}).ok());
  ASSERT_TRUE(index.add(2, std::vector<float>{0, 1}).ok());
  ASSERT_TRUE(index.remove(2));
  std::vector<int64_t> ids;
  std::vector<float> vectors;
  for (int64_t id = 10; id < 500; ++id) {  // enough for several threads
    ids.push_back(id);
    vectors.insert(vectors.end(), {-1.0f, static_cast<float>(id)});
  }
  ids.insert(ids.end(), {1, 2, 7, 7});
  vectors.insert(vectors.end(), {0, 1, 1, 0, 1, 1, -1, -1});
  ASSERT_TRUE(index.add_batch(ids, vectors).ok());
  EXPECT_EQ(index.size(), 490u + 3u);
  auto top = [&](std::vector<float> q) { return (*index.search(q, 1))[0].chunk_id; };
  EXPECT_EQ(top({1, 0}), 2);    // id 2 revived with (1, 0)
  EXPECT_EQ(top({0, 1}), 1);    // id 1 replaced by (0, 1)
  EXPECT_EQ(top({-1, -1}), 7);  // the last row of id 7 won
  EXPECT_EQ(top({-1, 10.2f}), 10);

  EXPECT_EQ(index.add_batch(ids, std::vector<float>(3)).code(), ErrorCode::kInvalidInput);
  EXPECT_TRUE(index.add_batch({}, {}).ok());
}

TEST(VectorIndexSet, BuiltFromStoreAndKeptPerStore) {
  char tmpl[] = "/tmp/knowledge_index_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::string vs_a, vs_b;
  std::vector<int64_t> chunk_ids;
  {
    auto store = std::move(*KnowledgeStore::open(dir));
    NewFile f;
    f.owner = "alice";
    f.filename = "a.txt";
    f.chunks.push_back({"east", 0, 4, {1, 0, 0}});
    f.chunks.push_back({"north", 5, 10, {0, 1, 0}});
    auto file = store->add_file(f, &chunk_ids);
    vs_a = store->create_vector_store("alice", "a")->id;
    vs_b = store->create_vector_store("alice", "b")->id;
    ASSERT_TRUE(store->attach_file("alice", vs_a, file->id).ok());
  }
  auto store = std::move(*KnowledgeStore::open(dir));
  auto set = VectorIndexSet::build(*store);
  ASSERT_TRUE(set.ok()) << set.error().message;
  auto hits = (*set)->search(vs_a, std::vector<float>{0, 1, 0.1f}, 1);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].chunk_id, chunk_ids[1]);
  EXPECT_EQ(store->get_chunks("alice", std::vector<int64_t>{(*hits)[0].chunk_id})->at(0).text,
            "north");
  EXPECT_TRUE((*set)->search(vs_b, std::vector<float>{0, 1, 0}, 5)->empty());  // other store
  (*set)->remove(vs_a, chunk_ids[1]);
  EXPECT_EQ((*(*set)->search(vs_a, std::vector<float>{0, 1, 0}, 5)).size(), 1u);
  (*set)->drop_store(vs_a);
  EXPECT_TRUE((*set)->search(vs_a, std::vector<float>{0, 1, 0}, 5)->empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace shardserve::knowledge
