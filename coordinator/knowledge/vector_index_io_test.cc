// VectorIndexSet::open / save: loading what was saved, and rebuilding whenever the files cannot
// be trusted (stale generation, another database or options, damage, a killed save).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "coordinator/knowledge/store.h"
#include "coordinator/knowledge/vector_index.h"

namespace shardserve::knowledge {
namespace {

namespace fs = std::filesystem;
constexpr size_t kDim = 16;

class IndexFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/knowledge_index_files_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    index_dir_ = dir_ + "/indexes";
    store_ = std::move(*KnowledgeStore::open(dir_));
    // Two stores: a (files 1 and 2) and b (file 2), 300 + 200 random vectors.
    vs_a_ = store_->create_vector_store("alice", "a")->id;
    vs_b_ = store_->create_vector_store("alice", "b")->id;
    file1_ = add_file(300, 1);
    file2_ = add_file(200, 2);
    ASSERT_TRUE(store_->attach_file("alice", vs_a_, file1_).ok());
    ASSERT_TRUE(store_->attach_file("alice", vs_a_, file2_).ok());
    ASSERT_TRUE(store_->attach_file("alice", vs_b_, file2_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string add_file(int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    NewFile f;
    f.owner = "alice";
    f.filename = "f.txt";
    for (int i = 0; i < n; ++i) {
      std::vector<float> v(kDim);
      for (float& x : v) x = normal(rng);
      f.chunks.push_back({"c", 0, 1, std::move(v)});
    }
    return store_->add_file(f)->id;
  }

  std::unique_ptr<VectorIndexSet> open_set(VectorIndexOptions options = {}) {
    auto set = VectorIndexSet::open(*store_, index_dir_, options);
    EXPECT_TRUE(set.ok()) << set.error().message;
    return set.ok() ? std::move(*set) : nullptr;
  }

  // Top-10 of a few fixed queries over both stores, ids and scores.
  std::vector<std::vector<ScoredChunk>> answers(const VectorIndexSet& set) const {
    std::mt19937 rng(99);
    std::normal_distribution<float> normal;
    std::vector<std::vector<ScoredChunk>> out;
    for (int q = 0; q < 20; ++q) {
      std::vector<float> query(kDim);
      for (float& x : query) x = normal(rng);
      for (const std::string& vs : {vs_a_, vs_b_}) out.push_back(*set.search(vs, query, 10));
    }
    return out;
  }

  // The answers of an index set built from the store right now (the oracle).
  std::vector<std::vector<ScoredChunk>> fresh_answers() const {
    return answers(**VectorIndexSet::build(*store_));
  }

  std::vector<std::string> files_with_suffix(const std::string& suffix) const {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(index_dir_)) {
      const std::string name = e.path().filename();
      if (name.size() >= suffix.size() && name.ends_with(suffix)) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_, index_dir_, vs_a_, vs_b_, file1_, file2_;
  std::unique_ptr<KnowledgeStore> store_;
};

void expect_same(const std::vector<std::vector<ScoredChunk>>& a,
                 const std::vector<std::vector<ScoredChunk>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << "query " << i;
    for (size_t j = 0; j < a[i].size(); ++j) {
      EXPECT_EQ(a[i][j].chunk_id, b[i][j].chunk_id) << "query " << i << " rank " << j;
      EXPECT_FLOAT_EQ(a[i][j].score, b[i][j].score) << "query " << i << " rank " << j;
    }
  }
}

TEST_F(IndexFilesTest, SaveThenOpenLoadsAndAnswersTheSame) {
  auto first = open_set();
  EXPECT_FALSE(first->loaded_from_disk());  // nothing saved yet: built
  // Removed vectors must stay removed through save and load (hnswlib's deleted marks).
  std::vector<int64_t> removed;
  ASSERT_TRUE(*store_->detach_file("alice", vs_a_, file1_, &removed));
  for (int64_t id : removed) first->remove(vs_a_, id);
  const auto before = answers(*first);
  expect_same(before, fresh_answers());

  ASSERT_TRUE(first->save(*store_).ok());
  EXPECT_EQ(files_with_suffix(".hnsw").size(), 2u);
  EXPECT_TRUE(files_with_suffix(".tmp").empty());
  auto second = open_set();
  EXPECT_TRUE(second->loaded_from_disk());
  expect_same(answers(*second), before);
  auto all = second->search(vs_a_, std::vector<float>(kDim, 1.0f), 1000);
  EXPECT_EQ(all->size(), 200u);  // file 2 only
  // The loaded set keeps working: it grows past its loaded capacity and saves again.
  const std::string file3 = add_file(400, 3);
  std::vector<StoredVector> added;
  ASSERT_TRUE(store_->attach_file("alice", vs_a_, file3, &added).ok());
  for (const StoredVector& v : added) ASSERT_TRUE(second->add(vs_a_, v.chunk_id, v.vector).ok());
  all = second->search(vs_a_, std::vector<float>(kDim, 1.0f), 1000);
  EXPECT_EQ(all->size(), 600u);
  ASSERT_TRUE(second->save(*store_).ok());
  auto third = open_set();
  EXPECT_TRUE(third->loaded_from_disk());
  expect_same(answers(*third), answers(*second));
}

TEST_F(IndexFilesTest, MutationAfterSaveMakesOpenRebuild) {
  ASSERT_TRUE(open_set()->save(*store_).ok());
  // A mutation the saved files do not have: the generation moves on.
  const std::string file3 = add_file(50, 3);
  ASSERT_TRUE(store_->attach_file("alice", vs_b_, file3).ok());
  auto set = open_set();
  EXPECT_FALSE(set->loaded_from_disk());
  expect_same(answers(*set), fresh_answers());
  auto in_b = set->search(vs_b_, std::vector<float>(kDim, 1.0f), 1000);
  EXPECT_EQ(in_b->size(), 250u);
  // Saved again, it loads.
  ASSERT_TRUE(set->save(*store_).ok());
  EXPECT_TRUE(open_set()->loaded_from_disk());
}

TEST_F(IndexFilesTest, DamagedFilesMakeOpenRebuild) {
  const auto truth = fresh_answers();
  struct Damage {
    const char* what;
    std::function<void(const std::string& graph, const std::string& manifest)> apply;
  };
  const std::vector<Damage> damages = {
      {"graph truncated",
       [](auto& graph, auto&) { fs::resize_file(graph, fs::file_size(graph) / 2); }},
      {"graph cut to a few bytes", [](auto& graph, auto&) { fs::resize_file(graph, 7); }},
      {"graph empty", [](auto& graph, auto&) { fs::resize_file(graph, 0); }},
      {"graph garbage, same size",
       [](auto& graph, auto&) {
         const auto n = fs::file_size(graph);
         std::mt19937 rng(5);
         std::ofstream out(graph, std::ios::binary | std::ios::trunc);
         for (uintmax_t i = 0; i < n; ++i) out.put(static_cast<char>(rng()));
       }},
      {"one byte flipped",
       [](auto& graph, auto&) {
         std::fstream f(graph, std::ios::binary | std::ios::in | std::ios::out);
         f.seekp(200);
         f.put('\x5a');
       }},
      {"graph missing", [](auto& graph, auto&) { fs::remove(graph); }},
      {"manifest garbage",
       [](auto&, auto& manifest) { std::ofstream(manifest) << "\x01\x02 not a manifest"; }},
      {"manifest truncated",
       [](auto&, auto& manifest) { fs::resize_file(manifest, fs::file_size(manifest) - 8); }},
      {"manifest of another version",
       [](auto&, auto& manifest) { std::ofstream(manifest) << "shardserve vector indexes 99\n"; }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    fs::remove_all(index_dir_);
    ASSERT_TRUE(open_set()->save(*store_).ok());
    const std::vector<std::string> graphs = files_with_suffix(".hnsw");
    ASSERT_FALSE(graphs.empty());
    d.apply(index_dir_ + "/" + graphs[0], index_dir_ + "/manifest");
    auto set = open_set();
    ASSERT_NE(set, nullptr);
    EXPECT_FALSE(set->loaded_from_disk());
    expect_same(answers(*set), truth);
  }
}

// A graph file with the right size and checksum but written with other options (the manifest
// edited to match) is refused by its header, not handed to hnswlib.
TEST_F(IndexFilesTest, OtherOptionsRebuild) {
  ASSERT_TRUE(open_set()->save(*store_).ok());
  auto set = open_set({.m = 16});
  EXPECT_FALSE(set->loaded_from_disk());
  expect_same(answers(*set), answers(**VectorIndexSet::build(*store_, {.m = 16})));
  ASSERT_TRUE(set->save(*store_).ok());  // now saved with m=16
  std::string manifest;
  {
    std::ifstream in(index_dir_ + "/manifest");
    manifest.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t at = manifest.find("\nm 16\n");
  ASSERT_NE(at, std::string::npos);
  manifest.replace(at, 6, "\nm 32\n");
  std::ofstream(index_dir_ + "/manifest", std::ios::trunc) << manifest;
  auto again = open_set();  // m=32 wanted, manifest says 32, graph headers say 16
  EXPECT_FALSE(again->loaded_from_disk());
  expect_same(answers(*again), fresh_answers());
}

TEST_F(IndexFilesTest, FilesOfAnotherDatabaseAreNotLoaded) {
  ASSERT_TRUE(open_set()->save(*store_).ok());
  // A new database brought to the same generation.
  auto other = std::move(*KnowledgeStore::open(dir_ + "/other"));
  NewFile f{"alice", "f.txt", "assistants", "", {{"c", 0, 1, std::vector<float>(kDim, 1.0f)}}};
  auto file = other->add_file(f);
  auto vs = other->create_vector_store("alice", "s");
  ASSERT_TRUE(file.ok() && vs.ok());
  while (*other->generation() < *store_->generation()) {  // each attach and detach moves it
    ASSERT_TRUE(other->attach_file("alice", vs->id, file->id).ok());
    if (*other->generation() < *store_->generation()) {
      ASSERT_TRUE(other->detach_file("alice", vs->id, file->id).ok());
    }
  }
  ASSERT_EQ(*other->generation(), *store_->generation());
  auto set = VectorIndexSet::open(*other, index_dir_);
  ASSERT_TRUE(set.ok());
  EXPECT_FALSE((*set)->loaded_from_disk());
}

// A save killed midway leaves temporary files (and maybe renamed graph files the manifest does
// not name yet); the previous save still loads and open sweeps the leftovers.
TEST_F(IndexFilesTest, KilledSaveLeavesThePreviousSave) {
  auto set = open_set();
  ASSERT_TRUE(set->save(*store_).ok());
  const auto saved = files_with_suffix(".hnsw");
  std::ofstream(index_dir_ + "/g99-half.hnsw.tmp") << "half a graph";
  std::ofstream(index_dir_ + "/manifest.tmp") << "shardserve vector indexes 1\ndatabase";
  fs::copy_file(index_dir_ + "/" + saved[0], index_dir_ + "/g99-renamed.hnsw");
  auto loaded = open_set();
  EXPECT_TRUE(loaded->loaded_from_disk());
  expect_same(answers(*loaded), fresh_answers());
  EXPECT_TRUE(files_with_suffix(".tmp").empty());
  EXPECT_EQ(files_with_suffix(".hnsw"), saved);
}

TEST_F(IndexFilesTest, SaveRemovesDroppedStoresAndSkipsWhenUnchanged) {
  auto set = open_set();
  ASSERT_TRUE(set->save(*store_).ok());
  const auto first = files_with_suffix(".hnsw");
  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(set->save(*store_).ok());  // nothing changed: the same files
  EXPECT_EQ(files_with_suffix(".hnsw"), first);

  ASSERT_TRUE(*store_->delete_vector_store("alice", vs_b_));
  set->drop_store(vs_b_);
  ASSERT_TRUE(set->save(*store_).ok());
  const auto second = files_with_suffix(".hnsw");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(std::count(first.begin(), first.end(), second[0]), 0);  // new names every save
  auto loaded = open_set();
  EXPECT_TRUE(loaded->loaded_from_disk());
  EXPECT_TRUE(loaded->search(vs_b_, std::vector<float>(kDim, 1.0f), 5)->empty());
  expect_same(answers(*loaded), fresh_answers());
}

TEST_F(IndexFilesTest, BuiltSetHasNowhereToSave) {
  auto set = VectorIndexSet::build(*store_);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ((*set)->save(*store_).code(), ErrorCode::kInvalidInput);
}

}  // namespace
}  // namespace shardserve::knowledge
