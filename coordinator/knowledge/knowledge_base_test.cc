#include "coordinator/knowledge/knowledge_base.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace shardserve::knowledge {
namespace {

namespace fs = std::filesystem;

// A deterministic stand-in for the embedding model: a hashed bag of lower-cased words, so
// that texts sharing words are close. The real model is exercised end to end
// (tests/e2e/test_knowledge.py); here the subject is the knowledge base's own bookkeeping.
constexpr size_t kDim = 64;
std::vector<float> bag_of_words(const std::string& text) {
  std::vector<float> v(kDim, 0.f);
  std::string word;
  auto flush = [&] {
    if (word.size() > 2) v[std::hash<std::string>{}(word) % kDim] += 1.f;
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else
      flush();
  }
  flush();
  return v;
}

class KnowledgeBaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kb_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    kb_ = open_kb();
  }
  void TearDown() override {
    kb_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<KnowledgeBase> open_kb(int64_t max_files = 100) {
    KnowledgeOptions o;
    o.data_dir = dir_.string();
    o.chunking = {200, 40};
    o.max_files = max_files;
    o.max_vector_stores = 3;
    o.max_file_bytes = 4096;
    auto kb = KnowledgeBase::open(
        o, [this](const std::vector<std::string>& texts) -> Result<std::vector<float>> {
          ++embed_calls_;
          if (embedder_down_) return Error::unavailable("no embedding group is live");
          std::vector<float> out;
          for (const std::string& t : texts) {
            auto v = bag_of_words(t);
            out.insert(out.end(), v.begin(), v.end());
          }
          return out;
        });
    EXPECT_TRUE(kb.ok()) << kb.error().message;
    return kb.ok() ? std::move(kb.value()) : nullptr;
  }

  // Writes `text` where the HTTP layer would have streamed it.
  UploadedFile staged(const std::string& name, const std::string& text) {
    UploadedFile u;
    u.temp_path = kb_->incoming_dir() + "/upload-" + std::to_string(++staged_);
    std::ofstream(u.temp_path, std::ios::binary) << text;
    u.filename = name;
    u.content_type = "text/plain";
    return u;
  }

  std::string id_of(const Result<FileRecord>& r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value().id : "";
  }

  fs::path dir_;
  std::unique_ptr<KnowledgeBase> kb_;
  std::atomic<int> embed_calls_{0};
  bool embedder_down_ = false;
  int staged_ = 0;
};

const std::string kPlanets =
    "Mercury is the smallest planet and closest to the sun.\n\n"
    "Jupiter is the largest planet, a gas giant with a great red spot storm.\n\n"
    "Saturn has bright rings made of ice and rock.";
const std::string kCooking =
    "To bake bread, knead flour, water, salt and yeast, then let the dough rise.\n\n"
    "Pasta cooks in salted boiling water for about ten minutes.";

TEST_F(KnowledgeBaseTest, AnUploadIsSearchableInTheStoresItIsAttachedTo) {
  const std::string planets = id_of(kb_->add_file("", staged("planets.txt", kPlanets)));
  const std::string cooking = id_of(kb_->add_file("", staged("cooking.md", kCooking)));
  auto store = kb_->create_vector_store("", "science", {planets});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store->file_count, 1);

  auto hits = kb_->search("", {store->id}, "which planet has rings of ice", 3);
  ASSERT_TRUE(hits.ok()) << hits.error().message;
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ(hits->front().chunk.file_id, planets);
  EXPECT_EQ(hits->front().filename, "planets.txt");
  EXPECT_NE(hits->front().chunk.text.find("Saturn"), std::string::npos);
  for (const SearchHit& h : *hits) EXPECT_NE(h.chunk.file_id, cooking) << "not in this store";

  ASSERT_TRUE(kb_->attach_file("", store->id, cooking).ok());
  hits = kb_->search("", {store->id}, "boiling water pasta", 1);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->front().chunk.file_id, cooking);
}

TEST_F(KnowledgeBaseTest, TheStreamedFileIsRemovedWhateverTheOutcome) {
  UploadedFile good = staged("a.txt", kPlanets);
  ASSERT_TRUE(kb_->add_file("", good).ok());
  EXPECT_FALSE(fs::exists(good.temp_path));
  UploadedFile bad = staged("b.txt", std::string("\xff\xfe not utf-8", 13));
  EXPECT_FALSE(kb_->add_file("", bad).ok());
  EXPECT_FALSE(fs::exists(bad.temp_path));
  EXPECT_TRUE(fs::is_empty(kb_->incoming_dir()));
}

TEST_F(KnowledgeBaseTest, LimitsAreRefusedWithTheirKey) {
  auto big = kb_->add_file("", staged("big.txt", std::string(5000, 'a')));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidInput);

  auto blank = kb_->add_file("", staged("blank.txt", "   \n\n  "));
  ASSERT_FALSE(blank.ok());
  EXPECT_EQ(blank.error().code, ErrorCode::kInvalidInput);

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(kb_->create_vector_store("", "s", {}).ok());
  auto fourth = kb_->create_vector_store("", "s", {});
  ASSERT_FALSE(fourth.ok());
  EXPECT_NE(fourth.error().message.find("knowledge.max_vector_stores"), std::string::npos);

  kb_.reset();
  kb_ = open_kb(/*max_files=*/1);
  ASSERT_TRUE(kb_->add_file("", staged("one.txt", kPlanets)).ok());
  const int calls = embed_calls_;
  auto second = kb_->add_file("", staged("two.txt", kCooking));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("knowledge.max_files"), std::string::npos);
  EXPECT_EQ(embed_calls_, calls) << "refused before embedding";
}

TEST_F(KnowledgeBaseTest, AnotherOwnerSeesNothing) {
  const std::string file = id_of(kb_->add_file("alice", staged("planets.txt", kPlanets)));
  auto store = kb_->create_vector_store("alice", "mine", {file});
  ASSERT_TRUE(store.ok());

  EXPECT_TRUE(kb_->list_files("bob")->empty());
  EXPECT_TRUE(kb_->list_vector_stores("bob")->empty());
  EXPECT_FALSE(kb_->get_file("bob", file).value().has_value());
  auto search = kb_->search("bob", {store->id}, "planet", 3);
  ASSERT_FALSE(search.ok());
  EXPECT_EQ(search.error().code, ErrorCode::kInvalidInput);
  EXPECT_FALSE(kb_->create_vector_store("bob", "steal", {file}).ok());
  EXPECT_FALSE(kb_->attach_file("bob", store->id, file).ok());
  EXPECT_FALSE(kb_->delete_file("bob", file).value());
  EXPECT_TRUE(kb_->get_file("alice", file).value().has_value());
}

TEST_F(KnowledgeBaseTest, DeletedAndDetachedFilesLeaveTheIndex) {
  const std::string planets = id_of(kb_->add_file("", staged("planets.txt", kPlanets)));
  const std::string cooking = id_of(kb_->add_file("", staged("cooking.txt", kCooking)));
  auto store = kb_->create_vector_store("", "all", {planets, cooking});
  ASSERT_TRUE(store.ok());

  ASSERT_TRUE(kb_->detach_file("", store->id, cooking).value());
  auto hits = kb_->search("", {store->id}, "bread dough yeast", 10);
  ASSERT_TRUE(hits.ok());
  for (const SearchHit& h : *hits) EXPECT_NE(h.chunk.file_id, cooking);

  ASSERT_TRUE(kb_->delete_file("", planets).value());
  hits = kb_->search("", {store->id}, "planet", 10);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
  EXPECT_EQ(kb_->get_vector_store("", store->id).value()->file_count, 0);
}

TEST_F(KnowledgeBaseTest, ARestartKeepsFilesStoresAndSearch) {
  const std::string planets = id_of(kb_->add_file("", staged("planets.txt", kPlanets)));
  auto store = kb_->create_vector_store("", "science", {planets});
  ASSERT_TRUE(store.ok());
  auto before = kb_->search("", {store->id}, "great red spot", 2);
  ASSERT_TRUE(before.ok());

  kb_.reset();
  kb_ = open_kb();
  auto after = kb_->search("", {store->id}, "great red spot", 2);
  ASSERT_TRUE(after.ok()) << after.error().message;
  ASSERT_EQ(after->size(), before->size());
  for (size_t i = 0; i < after->size(); ++i) EXPECT_EQ((*after)[i].chunk.id, (*before)[i].chunk.id);
  EXPECT_EQ(*kb_->file_bytes("", planets).value(), kPlanets);
}

TEST_F(KnowledgeBaseTest, ACleanRestartLoadsTheSavedIndexesAndACrashRebuildsThem) {
  const std::string planets = id_of(kb_->add_file("", staged("planets.txt", kPlanets)));
  auto store = kb_->create_vector_store("", "science", {planets});
  ASSERT_TRUE(store.ok());
  kb_.reset();  // a clean stop saves the indexes
  kb_ = open_kb();
  EXPECT_TRUE(kb_->indexes_loaded());
  auto hits = kb_->search("", {store->id}, "rings of ice", 1);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_NE(hits->front().chunk.text.find("Saturn"), std::string::npos);

  // A mutation the saver has not written yet, and the process "dies": a copy of the directory
  // taken now is what a crash leaves. Its saved generation is older than its database's, so
  // opening it rebuilds from the database, and sees the new file.
  const std::string cooking = id_of(kb_->add_file("", staged("cooking.txt", kCooking)));
  ASSERT_TRUE(kb_->attach_file("", store->id, cooking).ok());
  const fs::path crashed = dir_.string() + "-crashed";
  fs::remove_all(crashed);
  fs::copy(dir_, crashed, fs::copy_options::recursive);
  kb_.reset();
  fs::remove_all(dir_);
  fs::rename(crashed, dir_);
  kb_ = open_kb();
  EXPECT_FALSE(kb_->indexes_loaded());
  hits = kb_->search("", {store->id}, "boiling water pasta", 1);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->front().chunk.file_id, cooking);
}

TEST_F(KnowledgeBaseTest, AnEmbedderThatIsDownStoresNothing) {
  embedder_down_ = true;
  auto r = kb_->add_file("", staged("planets.txt", kPlanets));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(kb_->list_files("")->empty());
  EXPECT_TRUE(fs::is_empty(kb_->incoming_dir()));
}

TEST_F(KnowledgeBaseTest, OpeningSweepsUploadsThatNeverFinished) {
  std::ofstream(kb_->incoming_dir() + "/upload-abandoned") << "half a file";
  kb_.reset();
  kb_ = open_kb();
  EXPECT_TRUE(fs::is_empty(kb_->incoming_dir()));
}

TEST(OwnerOfApiKey, IsAStableHexDigestAndEmptyForNoKey) {
  EXPECT_EQ(owner_of_api_key(""), "");
  EXPECT_EQ(owner_of_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
  EXPECT_NE(owner_of_api_key("key-a"), owner_of_api_key("key-b"));
}

}  // namespace
}  // namespace shardserve::knowledge
