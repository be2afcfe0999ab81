// The knowledge base as the API serves it: uploads become searchable chunks, vector stores
// group files, searches answer with scored chunks (issue 19). It joins the parts that each do
// one thing: text_extract.h (bytes -> text), chunker.h (text -> overlapping chunks), an
// Embedder (chunks -> vectors; the coordinator's is the served embedding model), store.h
// (SQLite: the durable truth) and vector_index.h (one HNSW graph per vector store).
//
// Promises:
//   - An upload that add_file() acknowledged is durable (one SQLite transaction, fsynced) and
//     its chunks are searchable in every store the file is attached to; an upload that failed
//     or was interrupted leaves no row, chunk, vector or file behind (the store's transaction,
//     and open() sweeping `incoming/` of streamed uploads that never reached add_file).
//   - The indexes are kept in step with the store: every mutation of which vectors belong to
//     which store (upload, attach, detach, delete) commits to SQLite first and then updates the
//     index, both under one mutex, so two mutations never interleave. A search may run beside
//     a mutation and see the index before or after it; a chunk deleted meanwhile is skipped,
//     never returned without its text.
//   - The indexes are saved beside the database (`<data_dir>/index`, vector_index.h) by a
//     background thread a few seconds after mutations stop (at most every kSaveEverySeconds
//     under a steady stream of them) and at destruction, so a restart loads them instead of
//     rebuilding; after a crash the saved generation is older than the database's and open()
//     rebuilds from SQLite, the truth.
//   - Owners are isolated as in store.h: each call takes the owner (a hash of the caller's API
//     key, owner_of_api_key()), and another owner's files and stores read as missing.
//   - Limits: files larger than max_file_bytes, more than max_files files or max_vector_stores
//     stores per owner are refused with kInvalidInput errors that say the limit; so are files
//     we cannot read (text_extract.h). The embedder being down is kUnavailable.
//
// Thread-safety: every method may be called from any thread. Uploads extract, chunk and embed
// without holding the mutation lock, so several uploads and searches proceed together.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"
#include "coordinator/knowledge/chunker.h"
#include "coordinator/knowledge/store.h"
#include "coordinator/knowledge/vector_index.h"

namespace shardserve::knowledge {

// Embeds `texts` in order: texts.size() rows of one fixed dimension, row-major. Inputs longer
// than the model takes are truncated by it. Error (kUnavailable when no embedding group is
// live) otherwise.
using Embedder = std::function<Result<std::vector<float>>(const std::vector<std::string>& texts)>;

struct KnowledgeOptions {
  std::string data_dir;  // created when missing
  ChunkOptions chunking;
  int64_t max_file_bytes = int64_t{32} << 20;
  int64_t max_files = 10000;         // per owner
  int64_t max_vector_stores = 1000;  // per owner
  size_t embed_batch = 32;           // chunks per call of the embedder
  VectorIndexOptions index;
};

// An upload whose bytes were streamed to a file under incoming_dir().
struct UploadedFile {
  std::string temp_path;  // add_file() removes it, whatever the outcome
  std::string filename;
  std::string content_type;  // as the client declared it; may be empty
  std::string purpose = "assistants";
};

struct SearchHit {
  ChunkRecord chunk;
  std::string filename;
  std::string vector_store_id;  // the store it was found in
  float score = 0;              // cosine similarity
};

// What an upload cost, for the logs and the benchmark.
struct UploadStats {
  size_t chunks = 0;
  double extract_s = 0, embed_s = 0, commit_s = 0;
};

class KnowledgeBase {
 public:
  // Opens the store under options.data_dir, loads the saved indexes (or builds them from the
  // database and saves them) and sweeps incoming/. Error when the directory cannot be made or
  // the database cannot be opened.
  static Result<std::unique_ptr<KnowledgeBase>> open(KnowledgeOptions options, Embedder embedder);
  ~KnowledgeBase();
  KnowledgeBase(const KnowledgeBase&) = delete;
  KnowledgeBase& operator=(const KnowledgeBase&) = delete;

  // Where the HTTP layer streams uploads before add_file (same file system as the store).
  const std::string& incoming_dir() const { return incoming_dir_; }
  const KnowledgeOptions& options() const { return options_; }
  // Whether open() loaded the indexes from disk (false: rebuilt from the database).
  bool indexes_loaded() const { return indexes_loaded_; }

  static constexpr std::chrono::seconds kSaveQuietSeconds{3};
  static constexpr std::chrono::seconds kSaveEverySeconds{60};

  // --- files ---
  Result<FileRecord> add_file(std::string_view owner, const UploadedFile& upload,
                              UploadStats* stats = nullptr);
  Result<std::optional<FileRecord>> get_file(std::string_view owner, std::string_view id);
  Result<std::vector<FileRecord>> list_files(std::string_view owner);
  Result<std::optional<std::string>> file_bytes(std::string_view owner, std::string_view id);
  // Removes the file from every store it is attached to, then deletes it. False: no such file.
  Result<bool> delete_file(std::string_view owner, std::string_view id);

  // --- vector stores ---
  // Creates the store and attaches `file_ids` (each must be the owner's: kInvalidInput naming
  // the first that is not, and then no store is created).
  Result<VectorStoreRecord> create_vector_store(std::string_view owner, std::string_view name,
                                                const std::vector<std::string>& file_ids);
  Result<std::optional<VectorStoreRecord>> get_vector_store(std::string_view owner,
                                                            std::string_view id);
  Result<std::vector<VectorStoreRecord>> list_vector_stores(std::string_view owner);
  Result<bool> delete_vector_store(std::string_view owner, std::string_view id);
  Status attach_file(std::string_view owner, std::string_view store_id, std::string_view file_id);
  Result<bool> detach_file(std::string_view owner, std::string_view store_id,
                           std::string_view file_id);
  Result<std::vector<FileRecord>> store_files(std::string_view owner, std::string_view store_id);

  // --- search ---
  // The `k` chunks most similar to `query` over the given stores (each must be the owner's:
  // kInvalidInput naming one that is not), best first, a chunk found in two stores once.
  Result<std::vector<SearchHit>> search(std::string_view owner,
                                        const std::vector<std::string>& store_ids,
                                        std::string_view query, size_t k);

 private:
  KnowledgeBase(KnowledgeOptions options, Embedder embedder);
  Status sweep_incoming();
  Result<std::vector<float>> embed_all(const std::vector<TextChunk>& chunks, double* seconds);
  // Requires mutation_mu_. Adds a file's vectors to a store's index (several threads).
  Status index_vectors(const std::string& store_id, const std::vector<StoredVector>& vectors);
  // Requires mutation_mu_. After a mutation: wake the saver; when the index update failed
  // after the commit, rebuild the indexes from the database (the truth) instead.
  void mutated(const Status& index_update);
  void save_loop();
  std::shared_ptr<VectorIndexSet> index() const;

  // Constant after open().
  const KnowledgeOptions options_;
  const Embedder embedder_;
  std::string incoming_dir_;
  std::unique_ptr<KnowledgeStore> store_;
  std::string index_dir_;
  bool indexes_loaded_ = false;

  std::mutex mutation_mu_;  // one mutation of store + index at a time
  // Replaced only under mutation_mu_ (a rebuild); searches take a reference under index_mu_.
  mutable std::mutex index_mu_;
  std::shared_ptr<VectorIndexSet> index_;  // guarded by index_mu_
  std::condition_variable saver_cv_;       // with mutation_mu_
  bool dirty_ = false;                     // guarded by mutation_mu_: mutated since the save
  std::chrono::steady_clock::time_point last_mutation_;  // guarded by mutation_mu_
  bool stopping_ = false;                                // guarded by mutation_mu_
  std::thread saver_;
};

// The owner of data created with this API key: a hex SHA-256 of it ("" for no key). The key
// itself is never stored.
std::string owner_of_api_key(std::string_view api_key);

}  // namespace shardserve::knowledge
