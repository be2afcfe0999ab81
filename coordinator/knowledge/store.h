// The knowledge base's durable state: files, vector stores, attachments, chunks, embeddings.
//
// Promise: everything lives in one SQLite database, `<data_dir>/knowledge.db`, in WAL mode
// with synchronous=FULL (a commit is fsynced to the WAL before it returns, so an upload that
// was acknowledged survives a power cut, not just a process crash; uploads are rare and large,
// so one fsync per upload costs nothing that matters) and foreign keys on (deleting a file
// removes its chunks, embeddings and attachments). An upload — the file row, its chunks and
// their vectors — is committed in ONE transaction: a process killed at any point leaves either
// all of it or none. The raw bytes of each upload are kept in `<data_dir>/files/<id>`, written
// to a temporary file, fsynced, renamed and the directory fsynced before the transaction
// commits; `open` sweeps temporary files and files whose row is missing (an upload killed
// between the rename and the commit, or a delete killed between the commit and the unlink).
//
// Isolation: every query takes the owner (a hash of the caller's API key; "" when the server
// has no keys) and sees only that owner's rows. A row owned by someone else reads exactly as
// a missing one (std::nullopt / false), so ids cannot be probed.
//
// Errors: kInvalidInput for arguments the caller can fix (a vector of the wrong size, a store
// or file that does not exist when attaching), kInternal for database or disk failures.
//
// Thread-safety: all methods may be called from any thread; one connection, one mutex
// (`mu_`), so calls run one at a time. Search does not touch the store (vector_index.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct sqlite3;

namespace shardserve::knowledge {

struct FileRecord {
  std::string id;  // "file-" + 24 letters and digits
  std::string owner;
  std::string filename;
  int64_t bytes = 0;       // size of the uploaded file
  std::string purpose;     // as the client gave it ("assistants")
  int64_t created_at = 0;  // Unix seconds
  std::string status;      // "processed"
};

struct VectorStoreRecord {
  std::string id;  // "vs_" + 24 letters and digits
  std::string owner;
  std::string name;
  int64_t created_at = 0;
  int64_t file_count = 0;  // files attached now
};

struct ChunkRecord {
  int64_t id = 0;  // never reused, also the vector index's label
  std::string file_id;
  int64_t index = 0;  // position in the file, from 0
  std::string text;
  int64_t begin = 0;  // byte offsets in the file's extracted text
  int64_t end = 0;
};

// One chunk of an upload, with its embedding (L2-normalised by the caller or not; stored as
// given).
struct NewChunk {
  std::string text;
  int64_t begin = 0;
  int64_t end = 0;
  std::vector<float> embedding;
};

// A chunk's vector as stored.
struct StoredVector {
  int64_t chunk_id = 0;
  std::vector<float> vector;
};

struct NewFile {
  std::string owner;
  std::string filename;
  std::string purpose = "assistants";
  std::string_view raw_bytes;  // kept on disk under files/
  std::vector<NewChunk> chunks;
};

class KnowledgeStore {
 public:
  // Opens (creating when missing) the database and files/ under `data_dir`, which must exist
  // or be creatable, and sweeps orphaned raw files.
  static Result<std::unique_ptr<KnowledgeStore>> open(const std::string& data_dir);
  ~KnowledgeStore();
  KnowledgeStore(const KnowledgeStore&) = delete;
  KnowledgeStore& operator=(const KnowledgeStore&) = delete;

  // --- files ---
  // Stores the upload in one transaction. On success the returned record (and the chunk ids,
  // in chunk order, when `chunk_ids` is given) are durable.
  Result<FileRecord> add_file(const NewFile& file, std::vector<int64_t>* chunk_ids = nullptr);
  Result<std::optional<FileRecord>> get_file(std::string_view owner, std::string_view id);
  Result<std::vector<FileRecord>> list_files(std::string_view owner);  // newest first
  Result<int64_t> count_files(std::string_view owner);                 // what list_files would hold
  // The raw bytes as uploaded; nullopt when there is no such file for this owner.
  Result<std::optional<std::string>> read_file_bytes(std::string_view owner, std::string_view id);
  // Deletes the file, its chunks, embeddings and attachments. `removed` (when given) receives
  // (store id, chunk id) of every vector that left a store, for the index to mark deleted.
  // False when there was no such file for this owner.
  Result<bool> delete_file(std::string_view owner, std::string_view id,
                           std::vector<std::pair<std::string, int64_t>>* removed = nullptr);

  // --- vector stores ---
  Result<VectorStoreRecord> create_vector_store(std::string_view owner, std::string_view name);
  Result<std::optional<VectorStoreRecord>> get_vector_store(std::string_view owner,
                                                            std::string_view id);
  Result<std::vector<VectorStoreRecord>> list_vector_stores(std::string_view owner);
  Result<bool> delete_vector_store(std::string_view owner, std::string_view id);
  // Attaches one of the owner's files to one of the owner's stores (kInvalidInput naming the
  // missing one otherwise). Attaching twice is not an error. `added` receives the vectors that
  // join the store (none when the file was attached already).
  Status attach_file(std::string_view owner, std::string_view store_id, std::string_view file_id,
                     std::vector<StoredVector>* added = nullptr);
  Result<bool> detach_file(std::string_view owner, std::string_view store_id,
                           std::string_view file_id, std::vector<int64_t>* removed = nullptr);
  Result<std::vector<FileRecord>> store_files(std::string_view owner, std::string_view store_id);

  // --- chunks and vectors ---
  // The chunks with these ids that belong to this owner's files, in the order of `ids`
  // (ids not found, or another owner's, are skipped).
  Result<std::vector<ChunkRecord>> get_chunks(std::string_view owner, std::span<const int64_t> ids);
  // Every (store id, chunk id, vector) over all owners, for building the indexes at start-up.
  Status for_each_store_vector(
      const std::function<void(const std::string& store_id, int64_t chunk_id,
                               std::span<const float> vector)>& fn);

  // --- generation (for the saved vector indexes, vector_index.h) ---
  // A counter kept in the database and bumped by one, inside the same transaction, by every
  // call that changes which vectors belong to which store: delete_file, attach_file,
  // detach_file and delete_vector_store, each only when it changed something (deleting a
  // missing file, attaching an attached one leave it). Reads, add_file (a new file is in no
  // store) and create_vector_store (a store starts empty) leave it. Two reads that return the
  // same value saw the same vectors in the same stores.
  Result<int64_t> generation();
  // A random id given to the database when it is created ("kb_" + 24 characters), so a saved
  // index is never mistaken for one of another database with the same generation.
  Result<std::string> database_id();

  // Test hook: called inside add_file's transaction just before COMMIT (the crash test kills
  // the process there).
  void set_before_commit_hook_for_test(std::function<void()> hook);

  const std::string& data_dir() const { return data_dir_; }

 private:
  // BEGIN IMMEDIATE ... COMMIT, rolled back on scope exit unless committed. Requires mu_.
  class Transaction {
   public:
    explicit Transaction(KnowledgeStore* store) : store_(store) {}
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    Status begin();
    Status commit();  // rolls back when the COMMIT fails

   private:
    KnowledgeStore* store_;
    bool open_ = false;
  };

  KnowledgeStore(std::string data_dir, sqlite3* db);
  Status exec(const char* sql);  // requires mu_
  Status bump_generation();      // requires mu_ and an open transaction
  std::string raw_path(std::string_view id) const;
  Status sweep_orphans();

  // Constant after construction.
  const std::string data_dir_;
  std::mutex mu_;
  sqlite3* db_;                               // guarded by mu_
  std::function<void()> before_commit_hook_;  // guarded by mu_
};

// A new random id: prefix + 24 characters of [A-Za-z0-9].
std::string new_knowledge_id(std::string_view prefix);

}  // namespace shardserve::knowledge
