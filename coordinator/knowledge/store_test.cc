#include "coordinator/knowledge/store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace shardserve::knowledge {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/knowledge_store_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<KnowledgeStore> open() {
    Result<std::unique_ptr<KnowledgeStore>> s = KnowledgeStore::open(dir_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(*s) : nullptr;
  }

  static NewFile make_file(std::string owner, int n_chunks, size_t dim = 4) {
    NewFile f;
    f.owner = std::move(owner);
    f.filename = "doc.txt";
    for (int i = 0; i < n_chunks; ++i) {
      std::vector<float> v(dim, 0.0f);
      v[static_cast<size_t>(i) % dim] = 1.0f;
      f.chunks.push_back({"chunk " + std::to_string(i), i * 10, i * 10 + 7, v});
    }
    return f;
  }

  size_t raw_files() const {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_ + "/files")) ++n;
    return n;
  }

  std::string dir_;
};

TEST_F(StoreTest, FileRoundTrip) {
  auto store = open();
  NewFile f = make_file("alice", 3);
  f.raw_bytes = "raw upload bytes";
  std::vector<int64_t> ids;
  Result<FileRecord> rec = store->add_file(f, &ids);
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  EXPECT_EQ(rec->id.rfind("file-", 0), 0u);
  EXPECT_EQ(rec->id.size(), 5u + 24u);
  EXPECT_EQ(rec->bytes, 16);
  EXPECT_EQ(rec->status, "processed");
  ASSERT_EQ(ids.size(), 3u);

  auto got = store->get_file("alice", rec->id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->filename, "doc.txt");
  auto bytes = store->read_file_bytes("alice", rec->id);
  ASSERT_TRUE(bytes.ok() && bytes->has_value());
  EXPECT_EQ(**bytes, "raw upload bytes");

  auto chunks = store->get_chunks("alice", ids);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 3u);
  EXPECT_EQ((*chunks)[2].text, "chunk 2");
  EXPECT_EQ((*chunks)[2].index, 2);
  EXPECT_EQ((*chunks)[2].begin, 20);
  EXPECT_EQ((*chunks)[2].end, 27);
  EXPECT_EQ((*chunks)[2].file_id, rec->id);

  auto listed = store->list_files("alice");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);

  auto del = store->delete_file("alice", rec->id);
  ASSERT_TRUE(del.ok() && *del);
  EXPECT_FALSE(store->get_file("alice", rec->id)->has_value());
  EXPECT_TRUE(store->get_chunks("alice", ids)->empty());
  EXPECT_EQ(raw_files(), 0u);
  EXPECT_FALSE(*store->delete_file("alice", rec->id));
}

TEST_F(StoreTest, MismatchedEmbeddingsRefused) {
  auto store = open();
  NewFile f = make_file("", 2);
  f.chunks[1].embedding.push_back(0.5f);
  Result<FileRecord> rec = store->add_file(f);
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.error().code, ErrorCode::kInvalidInput);
  EXPECT_TRUE(store->list_files("")->empty());
}

TEST_F(StoreTest, VectorStoresAndAttachments) {
  auto store = open();
  auto file = store->add_file(make_file("alice", 2));
  auto vs = store->create_vector_store("alice", "docs");
  ASSERT_TRUE(file.ok() && vs.ok());
  EXPECT_EQ(vs->id.rfind("vs_", 0), 0u);

  std::vector<StoredVector> added;
  ASSERT_TRUE(store->attach_file("alice", vs->id, file->id, &added).ok());
  ASSERT_EQ(added.size(), 2u);
  EXPECT_EQ(added[1].vector, (std::vector<float>{0, 1, 0, 0}));
  added.clear();
  ASSERT_TRUE(store->attach_file("alice", vs->id, file->id, &added).ok());  // idempotent
  EXPECT_TRUE(added.empty());
  EXPECT_EQ((*store->get_vector_store("alice", vs->id))->file_count, 1);
  EXPECT_EQ(store->store_files("alice", vs->id)->size(), 1u);

  size_t seen = 0;
  ASSERT_TRUE(store
                  ->for_each_store_vector([&](const std::string& sid, int64_t, auto v) {
                    EXPECT_EQ(sid, vs->id);
                    EXPECT_EQ(v.size(), 4u);
                    ++seen;
                  })
                  .ok());
  EXPECT_EQ(seen, 2u);

  std::vector<std::pair<std::string, int64_t>> removed;
  ASSERT_TRUE(*store->delete_file("alice", file->id, &removed));
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_EQ((*store->get_vector_store("alice", vs->id))->file_count, 0);

  auto file2 = store->add_file(make_file("alice", 1));
  ASSERT_TRUE(store->attach_file("alice", vs->id, file2->id).ok());
  std::vector<int64_t> detached;
  ASSERT_TRUE(*store->detach_file("alice", vs->id, file2->id, &detached));
  EXPECT_EQ(detached.size(), 1u);
  ASSERT_TRUE(*store->delete_vector_store("alice", vs->id));
  EXPECT_TRUE(store->list_vector_stores("alice")->empty());
  EXPECT_TRUE(store->get_file("alice", file2->id)->has_value());  // files outlive stores
}

TEST_F(StoreTest, OwnersAreIsolated) {
  auto store = open();
  auto file = store->add_file(make_file("alice", 2));
  auto vs = store->create_vector_store("alice", "private");
  ASSERT_TRUE(store->attach_file("alice", vs->id, file->id).ok());
  std::vector<int64_t> ids;
  ASSERT_TRUE(
      store->for_each_store_vector([&](auto&, int64_t id, auto) { ids.push_back(id); }).ok());

  EXPECT_FALSE(store->get_file("bob", file->id)->has_value());
  EXPECT_FALSE(store->read_file_bytes("bob", file->id)->has_value());
  EXPECT_TRUE(store->list_files("bob")->empty());
  EXPECT_FALSE(store->get_vector_store("bob", vs->id)->has_value());
  EXPECT_TRUE(store->list_vector_stores("bob")->empty());
  EXPECT_TRUE(store->store_files("bob", vs->id)->empty());
  EXPECT_TRUE(store->get_chunks("bob", ids)->empty());
  EXPECT_FALSE(*store->delete_file("bob", file->id));
  EXPECT_FALSE(*store->delete_vector_store("bob", vs->id));
  EXPECT_FALSE(*store->detach_file("bob", vs->id, file->id));
  // bob can attach neither alice's file to his store nor his file to alice's store.
  auto bobs = store->create_vector_store("bob", "mine");
  auto bob_file = store->add_file(make_file("bob", 1));
  EXPECT_EQ(store->attach_file("bob", bobs->id, file->id).code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(store->attach_file("bob", vs->id, bob_file->id).code(), ErrorCode::kInvalidInput);
  // "" (no keys) is an owner like any other.
  EXPECT_TRUE(store->list_files("")->empty());
  // alice still has everything.
  EXPECT_TRUE(store->get_file("alice", file->id)->has_value());
  EXPECT_EQ(store->get_chunks("alice", ids)->size(), 2u);
}

TEST_F(StoreTest, ReopenKeepsEverything) {
  std::string file_id, vs_id;
  {
    auto store = open();
    NewFile f = make_file("alice", 5);
    f.raw_bytes = "kept";
    file_id = store->add_file(f)->id;
    vs_id = store->create_vector_store("alice", "docs")->id;
    ASSERT_TRUE(store->attach_file("alice", vs_id, file_id).ok());
  }
  auto store = open();
  EXPECT_TRUE(store->get_file("alice", file_id)->has_value());
  EXPECT_EQ(**store->read_file_bytes("alice", file_id), "kept");
  EXPECT_EQ((*store->get_vector_store("alice", vs_id))->file_count, 1);
  size_t vectors = 0;
  ASSERT_TRUE(store->for_each_store_vector([&](auto&, int64_t, auto) { ++vectors; }).ok());
  EXPECT_EQ(vectors, 5u);
  EXPECT_EQ(raw_files(), 1u);
}

// The generation moves by one with each call that changes which vectors are in which store,
// only when it changed something, and never with a read; it and the database id survive a
// reopen, and another database has another id.
TEST_F(StoreTest, GenerationCountsMutationsNotReads) {
  std::string database_id;
  {
    auto store = open();
    auto gen = [&] { return *store->generation(); };
    ASSERT_TRUE(store->generation().ok());
    EXPECT_EQ(gen(), 0);
    database_id = *store->database_id();
    EXPECT_EQ(database_id.rfind("kb_", 0), 0u);

    auto vs = store->create_vector_store("alice", "docs");  // starts empty: no change
    EXPECT_EQ(gen(), 0);
    auto file = store->add_file(make_file("alice", 3));  // in no store yet: no change
    EXPECT_EQ(gen(), 0);
    auto reads = [&] {
      (void)store->get_file("alice", file->id);
      (void)store->list_files("alice");
      (void)store->read_file_bytes("alice", file->id);
      (void)store->get_vector_store("alice", vs->id);
      (void)store->list_vector_stores("alice");
      (void)store->store_files("alice", vs->id);
      (void)store->get_chunks("alice", std::vector<int64_t>{1, 2, 3});
      (void)store->for_each_store_vector([](auto&, int64_t, auto) {});
    };
    reads();
    EXPECT_EQ(gen(), 0);
    ASSERT_TRUE(store->attach_file("alice", vs->id, file->id).ok());
    EXPECT_EQ(gen(), 1);
    ASSERT_TRUE(store->attach_file("alice", vs->id, file->id).ok());  // attached already
    EXPECT_FALSE(store->attach_file("alice", "vs_missing", file->id).ok());
    EXPECT_FALSE(store->attach_file("bob", vs->id, file->id).ok());
    reads();
    EXPECT_EQ(gen(), 1);
    EXPECT_TRUE(*store->detach_file("alice", vs->id, file->id));
    EXPECT_EQ(gen(), 2);
    EXPECT_FALSE(*store->detach_file("alice", vs->id, file->id));
    EXPECT_EQ(gen(), 2);
    EXPECT_TRUE(*store->delete_file("alice", file->id));
    EXPECT_EQ(gen(), 3);
    EXPECT_FALSE(*store->delete_file("alice", file->id));
    EXPECT_FALSE(*store->delete_file("bob", "file-missing"));
    EXPECT_EQ(gen(), 3);
    EXPECT_TRUE(*store->delete_vector_store("alice", vs->id));
    EXPECT_EQ(gen(), 4);
    EXPECT_FALSE(*store->delete_vector_store("alice", vs->id));
    EXPECT_EQ(gen(), 4);
    EXPECT_FALSE(store->add_file(NewFile{"alice", "x", "assistants", "", {{"a", 0, 1, {}}}}).ok());
    EXPECT_EQ(gen(), 4);  // refused before the transaction
  }
  auto store = open();
  EXPECT_EQ(*store->generation(), 4);
  EXPECT_EQ(*store->database_id(), database_id);

  char tmpl[] = "/tmp/knowledge_store_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  auto other = KnowledgeStore::open(tmpl);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*(*other)->database_id(), database_id);
  std::filesystem::remove_all(tmpl);
}

// A process killed inside an upload's transaction (after thousands of chunk rows have been
// written, so SQLite has spilled pages to the WAL) leaves no file row, no chunk, no vector
// and, after the start-up sweep, no raw file.
TEST_F(StoreTest, KilledUploadLeavesNothingHalfWritten) {
  std::string kept_id;
  int64_t generation = 0;
  {
    auto store = open();
    kept_id = store->add_file(make_file("alice", 3))->id;
    generation = *store->generation();
  }
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto s = KnowledgeStore::open(dir_);
    if (!s.ok()) _exit(2);
    (*s)->set_before_commit_hook_for_test([] { kill(getpid(), SIGKILL); });
    NewFile f = make_file("alice", 5000, 384);
    for (NewChunk& c : f.chunks) c.text = std::string(1000, 'z');
    f.raw_bytes = "raw bytes of the killed upload";
    (void)(*s)->add_file(f);
    _exit(3);  // not reached: the hook kills the process before COMMIT
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  struct stat wal {};
  ASSERT_EQ(stat((dir_ + "/knowledge.db-wal").c_str(), &wal), 0);
  EXPECT_GT(wal.st_size, 1 << 20) << "the transaction should have spilled into the WAL";
  EXPECT_EQ(raw_files(), 2u);  // the killed upload's raw file was renamed before the commit

  auto store = open();
  auto files = store->list_files("alice");
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].id, kept_id);
  std::vector<int64_t> probe;
  for (int64_t id = 1; id <= 6000; ++id) probe.push_back(id);
  EXPECT_EQ(store->get_chunks("alice", probe)->size(), 3u);
  EXPECT_EQ(raw_files(), 1u);                   // the orphan was swept
  EXPECT_EQ(*store->generation(), generation);  // the bump went with the transaction
  // And the store still works.
  EXPECT_TRUE(store->add_file(make_file("alice", 2)).ok());
}

}  // namespace
}  // namespace shardserve::knowledge
