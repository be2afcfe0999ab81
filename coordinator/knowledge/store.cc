#include "coordinator/knowledge/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <set>

#include "coordinator/knowledge/durable_file.h"

namespace shardserve::knowledge {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS files(
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  filename TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  purpose TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS files_by_owner ON files(owner, created_at);
CREATE TABLE IF NOT EXISTS vector_stores(
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS vector_stores_by_owner ON vector_stores(owner, created_at);
CREATE TABLE IF NOT EXISTS store_files(
  store_id TEXT NOT NULL REFERENCES vector_stores(id) ON DELETE CASCADE,
  file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(store_id, file_id));
CREATE INDEX IF NOT EXISTS store_files_by_file ON store_files(file_id);
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  text TEXT NOT NULL,
  begin_byte INTEGER NOT NULL,
  end_byte INTEGER NOT NULL,
  UNIQUE(file_id, idx));
CREATE TABLE IF NOT EXISTS embeddings(
  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
  dim INTEGER NOT NULL,
  vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES('generation', 0);
)sql";

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool prepared() const { return rc_ == SQLITE_OK; }
  Stmt& bind(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& bind_blob(int i, const void* data, size_t n) {
    sqlite3_bind_blob(stmt_, i, data, static_cast<int>(n), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : "";
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  // Copied out: SQLite gives no alignment promise for a blob.
  std::vector<float> floats(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    const auto n = static_cast<size_t>(sqlite3_column_bytes(stmt_, col)) / sizeof(float);
    std::vector<float> out(p ? n : 0);
    if (!out.empty()) std::memcpy(out.data(), p, n * sizeof(float));
    return out;
  }
  std::string error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Error db_error(sqlite3* db, std::string_view what) {
  return Error{"knowledge store: " + std::string(what) + ": " + sqlite3_errmsg(db)};
}

Error io_error(std::string_view what, const std::string& path) {
  return Error{"knowledge store: " + std::string(what) + " " + path + ": " + std::strerror(errno)};
}

FileRecord read_file_row(const Stmt& s) {
  return {s.text(0), s.text(1), s.text(2), s.integer(3), s.text(4), s.integer(5), s.text(6)};
}

constexpr const char* kFileColumns =
    "SELECT id, owner, filename, bytes, purpose, created_at, status FROM files ";

}  // namespace

std::string new_knowledge_id(std::string_view prefix) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(rng)];
  return id;
}

KnowledgeStore::KnowledgeStore(std::string data_dir, sqlite3* db)
    : data_dir_(std::move(data_dir)), db_(db) {}

KnowledgeStore::~KnowledgeStore() {
  sqlite3_close_v2(db_);
}

std::string KnowledgeStore::raw_path(std::string_view id) const {
  return data_dir_ + "/files/" + std::string(id);
}

Status KnowledgeStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return Error{"knowledge store: " + text + " (in: " + std::string(sql).substr(0, 60) + ")"};
  }
  return Status::Ok();
}

Status KnowledgeStore::Transaction::begin() {
  Status s = store_->exec("BEGIN IMMEDIATE;");
  open_ = s.ok();
  return s;
}

Status KnowledgeStore::Transaction::commit() {
  open_ = false;
  Status s = store_->exec("COMMIT;");
  if (!s.ok()) store_->exec("ROLLBACK;").ok();  // the transaction is gone either way
  return s;
}

KnowledgeStore::Transaction::~Transaction() {
  if (open_) store_->exec("ROLLBACK;").ok();
}

Result<std::unique_ptr<KnowledgeStore>> KnowledgeStore::open(const std::string& data_dir) {
  for (const std::string& dir : {data_dir, data_dir + "/files"}) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return io_error("cannot create directory", dir);
    }
  }
  const std::string path = data_dir + "/knowledge.db";
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e{"knowledge store: cannot open " + path + ": " +
            (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
    sqlite3_close_v2(db);
    return e;
  }
  std::unique_ptr<KnowledgeStore> store(new KnowledgeStore(data_dir, db));
  std::lock_guard lock(store->mu_);
  sqlite3_busy_timeout(db, 5000);
  for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;",
                          "PRAGMA foreign_keys=ON;", kSchema}) {
    if (Status s = store->exec(sql); !s.ok()) return s.error();
  }
  {
    // A new database gets its identity once; an existing one keeps it.
    Stmt id(db, "INSERT OR IGNORE INTO meta(key, value) VALUES('database_id', ?1)");
    id.bind(1, new_knowledge_id("kb_"));
    if (id.step() != SQLITE_DONE) return db_error(db, "set the database id");
  }
  if (Status s = store->sweep_orphans(); !s.ok()) return s.error();
  return store;
}

Status KnowledgeStore::sweep_orphans() {
  const std::string dir = data_dir_ + "/files";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return io_error("cannot list", dir);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  Stmt known(db_, "SELECT 1 FROM files WHERE id = ?1");
  if (!known.prepared()) return db_error(db_, "sweep");
  for (const std::string& name : names) {
    known.reset();
    known.bind(1, name);
    const int rc = known.step();
    if (rc == SQLITE_ROW) continue;
    if (rc != SQLITE_DONE) return db_error(db_, "sweep");
    ::unlink((dir + "/" + name).c_str());  // a temp file or an orphan; best effort
  }
  return Status::Ok();
}

void KnowledgeStore::set_before_commit_hook_for_test(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  before_commit_hook_ = std::move(hook);
}

Result<FileRecord> KnowledgeStore::add_file(const NewFile& file, std::vector<int64_t>* chunk_ids) {
  for (const NewChunk& c : file.chunks) {
    if (c.embedding.empty() || c.embedding.size() != file.chunks[0].embedding.size()) {
      return Error::invalid_input("every chunk of an upload needs an embedding of the same size");
    }
  }
  FileRecord rec{new_knowledge_id("file-"),
                 file.owner,
                 file.filename,
                 static_cast<int64_t>(file.raw_bytes.size()),
                 file.purpose,
                 now_seconds(),
                 "processed"};
  // The raw bytes first: a crash after this but before the commit leaves an orphan that the
  // next open sweeps; the row never points at a missing file.
  if (Status s = write_file_durably(data_dir_ + "/files", raw_path(rec.id), file.raw_bytes);
      !s.ok()) {
    return Error{"knowledge store: " + s.message()};
  }
  std::lock_guard lock(mu_);
  auto fail = [&](Error e) -> Error {
    exec("ROLLBACK;").ok();  // nothing to do if it fails: the transaction is gone either way
    ::unlink(raw_path(rec.id).c_str());
    return e;
  };
  if (Status s = exec("BEGIN IMMEDIATE;"); !s.ok()) {
    ::unlink(raw_path(rec.id).c_str());
    return s.error();
  }
  Stmt ins_file(db_,
                "INSERT INTO files(id, owner, filename, bytes, purpose, created_at, status) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  ins_file.bind(1, rec.id).bind(2, rec.owner).bind(3, rec.filename).bind(4, rec.bytes);
  ins_file.bind(5, rec.purpose).bind(6, rec.created_at).bind(7, rec.status);
  if (ins_file.step() != SQLITE_DONE) return fail(db_error(db_, "insert file"));
  Stmt ins_chunk(db_,
                 "INSERT INTO chunks(file_id, idx, text, begin_byte, end_byte) "
                 "VALUES(?1, ?2, ?3, ?4, ?5)");
  Stmt ins_vec(db_, "INSERT INTO embeddings(chunk_id, dim, vector) VALUES(?1, ?2, ?3)");
  if (!ins_chunk.prepared() || !ins_vec.prepared()) return fail(db_error(db_, "prepare"));
  if (chunk_ids) chunk_ids->clear();
  for (size_t i = 0; i < file.chunks.size(); ++i) {
    const NewChunk& c = file.chunks[i];
    ins_chunk.reset();
    ins_chunk.bind(1, rec.id).bind(2, static_cast<int64_t>(i)).bind(3, c.text);
    ins_chunk.bind(4, c.begin).bind(5, c.end);
    if (ins_chunk.step() != SQLITE_DONE) return fail(db_error(db_, "insert chunk"));
    const int64_t chunk_id = sqlite3_last_insert_rowid(db_);
    if (chunk_ids) chunk_ids->push_back(chunk_id);
    ins_vec.reset();
    ins_vec.bind(1, chunk_id).bind(2, static_cast<int64_t>(c.embedding.size()));
    ins_vec.bind_blob(3, c.embedding.data(), c.embedding.size() * sizeof(float));
    if (ins_vec.step() != SQLITE_DONE) return fail(db_error(db_, "insert embedding"));
  }
  // No generation bump: a new file is in no vector store, so no index changes (saving the
  // indexes again after every upload would rewrite every graph for nothing).
  if (before_commit_hook_) before_commit_hook_();
  if (Status s = exec("COMMIT;"); !s.ok()) return fail(s.error());
  return rec;
}

Result<std::optional<FileRecord>> KnowledgeStore::get_file(std::string_view owner,
                                                           std::string_view id) {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string(kFileColumns) + "WHERE id = ?1 AND owner = ?2").c_str());
  s.bind(1, id).bind(2, owner);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<FileRecord>(read_file_row(s));
  if (rc == SQLITE_DONE) return std::optional<FileRecord>();
  return db_error(db_, "get file");
}

Result<std::vector<FileRecord>> KnowledgeStore::list_files(std::string_view owner) {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string(kFileColumns) + "WHERE owner = ?1 ORDER BY created_at DESC, rowid DESC")
                  .c_str());
  s.bind(1, owner);
  std::vector<FileRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_file_row(s));
  if (rc != SQLITE_DONE) return db_error(db_, "list files");
  return out;
}

Result<int64_t> KnowledgeStore::count_files(std::string_view owner) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT COUNT(*) FROM files WHERE owner = ?1");
  s.bind(1, owner);
  if (s.step() != SQLITE_ROW) return db_error(db_, "count files");
  return s.integer(0);
}

Result<std::optional<std::string>> KnowledgeStore::read_file_bytes(std::string_view owner,
                                                                   std::string_view id) {
  Result<std::optional<FileRecord>> rec = get_file(owner, id);
  if (!rec.ok()) return rec.error();
  if (!rec->has_value()) return std::optional<std::string>();
  const std::string path = raw_path(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = io_error("cannot read", path);
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(out));
}

Result<bool> KnowledgeStore::delete_file(std::string_view owner, std::string_view id,
                                         std::vector<std::pair<std::string, int64_t>>* removed) {
  {
    std::lock_guard lock(mu_);
    if (Status s = exec("BEGIN IMMEDIATE;"); !s.ok()) return s.error();
    auto fail = [&](std::string_view what) -> Error {
      Error e = db_error(db_, what);
      exec("ROLLBACK;").ok();
      return e;
    };
    if (removed) {
      Stmt s(db_,
             "SELECT sf.store_id, c.id FROM store_files sf JOIN files f ON f.id = sf.file_id "
             "JOIN chunks c ON c.file_id = f.id WHERE f.id = ?1 AND f.owner = ?2");
      s.bind(1, id).bind(2, owner);
      int rc;
      while ((rc = s.step()) == SQLITE_ROW) removed->emplace_back(s.text(0), s.integer(1));
      if (rc != SQLITE_DONE) return fail("delete file");
    }
    Stmt del(db_, "DELETE FROM files WHERE id = ?1 AND owner = ?2");
    del.bind(1, id).bind(2, owner);
    if (del.step() != SQLITE_DONE) return fail("delete file");
    const bool found = sqlite3_changes(db_) > 0;
    if (found) {
      if (Status s = bump_generation(); !s.ok()) {
        exec("ROLLBACK;").ok();
        return s.error();
      }
    }
    if (Status s = exec("COMMIT;"); !s.ok()) {
      exec("ROLLBACK;").ok();
      return s.error();
    }
    if (!found) return false;
  }
  // After the commit: a crash before this unlink leaves an orphan the next open sweeps.
  ::unlink(raw_path(id).c_str());
  return true;
}

Result<VectorStoreRecord> KnowledgeStore::create_vector_store(std::string_view owner,
                                                              std::string_view name) {
  VectorStoreRecord rec{new_knowledge_id("vs_"), std::string(owner), std::string(name),
                        now_seconds(), 0};
  std::lock_guard lock(mu_);
  Stmt s(db_, "INSERT INTO vector_stores(id, owner, name, created_at) VALUES(?1, ?2, ?3, ?4)");
  s.bind(1, rec.id).bind(2, rec.owner).bind(3, rec.name).bind(4, rec.created_at);
  if (s.step() != SQLITE_DONE) return db_error(db_, "create vector store");
  return rec;
}

namespace {
constexpr const char* kStoreColumns =
    "SELECT v.id, v.owner, v.name, v.created_at, "
    "(SELECT COUNT(*) FROM store_files sf WHERE sf.store_id = v.id) FROM vector_stores v ";
VectorStoreRecord read_store_row(const Stmt& s) {
  return {s.text(0), s.text(1), s.text(2), s.integer(3), s.integer(4)};
}
}  // namespace

Result<std::optional<VectorStoreRecord>> KnowledgeStore::get_vector_store(std::string_view owner,
                                                                          std::string_view id) {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string(kStoreColumns) + "WHERE v.id = ?1 AND v.owner = ?2").c_str());
  s.bind(1, id).bind(2, owner);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<VectorStoreRecord>(read_store_row(s));
  if (rc == SQLITE_DONE) return std::optional<VectorStoreRecord>();
  return db_error(db_, "get vector store");
}

Result<std::vector<VectorStoreRecord>> KnowledgeStore::list_vector_stores(std::string_view owner) {
  std::lock_guard lock(mu_);
  Stmt s(db_, (std::string(kStoreColumns) +
               "WHERE v.owner = ?1 ORDER BY v.created_at DESC, v.rowid DESC")
                  .c_str());
  s.bind(1, owner);
  std::vector<VectorStoreRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_store_row(s));
  if (rc != SQLITE_DONE) return db_error(db_, "list vector stores");
  return out;
}

Result<bool> KnowledgeStore::delete_vector_store(std::string_view owner, std::string_view id) {
  std::lock_guard lock(mu_);
  Transaction txn(this);
  if (Status s = txn.begin(); !s.ok()) return s.error();
  Stmt s(db_, "DELETE FROM vector_stores WHERE id = ?1 AND owner = ?2");
  s.bind(1, id).bind(2, owner);
  if (s.step() != SQLITE_DONE) return db_error(db_, "delete vector store");
  const bool found = sqlite3_changes(db_) > 0;
  if (found) {
    if (Status b = bump_generation(); !b.ok()) return b.error();
  }
  if (Status c = txn.commit(); !c.ok()) return c.error();
  return found;
}

namespace {
// The chunk ids of a file (the caller has checked the owner).
Status file_chunk_ids(sqlite3* db, std::string_view file_id, std::vector<int64_t>* out) {
  if (out == nullptr) return Status::Ok();
  Stmt s(db, "SELECT id FROM chunks WHERE file_id = ?1 ORDER BY idx");
  s.bind(1, file_id);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out->push_back(s.integer(0));
  if (rc != SQLITE_DONE) return db_error(db, "list chunks");
  return Status::Ok();
}

// The chunk ids and vectors of a file (the caller has checked the owner).
Status file_vectors(sqlite3* db, std::string_view file_id, std::vector<StoredVector>* out) {
  if (out == nullptr) return Status::Ok();
  Stmt s(db,
         "SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.chunk_id = c.id "
         "WHERE c.file_id = ?1 ORDER BY c.idx");
  s.bind(1, file_id);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out->push_back({s.integer(0), s.floats(1)});
  if (rc != SQLITE_DONE) return db_error(db, "list chunks");
  return Status::Ok();
}

Result<bool> owned(sqlite3* db, const char* table, std::string_view owner, std::string_view id) {
  Stmt s(db, (std::string("SELECT 1 FROM ") + table + " WHERE id = ?1 AND owner = ?2").c_str());
  s.bind(1, id).bind(2, owner);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_error(db, "ownership check");
}
}  // namespace

Status KnowledgeStore::attach_file(std::string_view owner, std::string_view store_id,
                                   std::string_view file_id, std::vector<StoredVector>* added) {
  std::lock_guard lock(mu_);
  Transaction txn(this);
  if (Status s = txn.begin(); !s.ok()) return s;
  Result<bool> has_store = owned(db_, "vector_stores", owner, store_id);
  if (!has_store.ok()) return has_store.error();
  if (!*has_store) return Error::invalid_input("no vector store '" + std::string(store_id) + "'");
  Result<bool> has_file = owned(db_, "files", owner, file_id);
  if (!has_file.ok()) return has_file.error();
  if (!*has_file) return Error::invalid_input("no file '" + std::string(file_id) + "'");
  Stmt s(db_,
         "INSERT OR IGNORE INTO store_files(store_id, file_id, created_at) VALUES(?1, ?2, ?3)");
  s.bind(1, store_id).bind(2, file_id).bind(3, now_seconds());
  if (s.step() != SQLITE_DONE) return db_error(db_, "attach file");
  if (sqlite3_changes(db_) == 0) return Status::Ok();  // already attached (rolled back: no-op)
  if (Status b = bump_generation(); !b.ok()) return b;
  if (Status v = file_vectors(db_, file_id, added); !v.ok()) return v;
  return txn.commit();
}

Result<bool> KnowledgeStore::detach_file(std::string_view owner, std::string_view store_id,
                                         std::string_view file_id, std::vector<int64_t>* removed) {
  std::lock_guard lock(mu_);
  Transaction txn(this);
  if (Status s = txn.begin(); !s.ok()) return s.error();
  Result<bool> has_store = owned(db_, "vector_stores", owner, store_id);
  if (!has_store.ok()) return has_store.error();
  if (!*has_store) return false;
  Stmt s(db_, "DELETE FROM store_files WHERE store_id = ?1 AND file_id = ?2");
  s.bind(1, store_id).bind(2, file_id);
  if (s.step() != SQLITE_DONE) return db_error(db_, "detach file");
  if (sqlite3_changes(db_) == 0) return false;
  if (Status b = bump_generation(); !b.ok()) return b.error();
  if (Status st = file_chunk_ids(db_, file_id, removed); !st.ok()) return st.error();
  if (Status c = txn.commit(); !c.ok()) return c.error();
  return true;
}

Result<std::vector<FileRecord>> KnowledgeStore::store_files(std::string_view owner,
                                                            std::string_view store_id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT f.id, f.owner, f.filename, f.bytes, f.purpose, f.created_at, f.status "
         "FROM store_files sf JOIN vector_stores v ON v.id = sf.store_id "
         "JOIN files f ON f.id = sf.file_id WHERE sf.store_id = ?1 AND v.owner = ?2 "
         "ORDER BY sf.created_at, f.id");
  s.bind(1, store_id).bind(2, owner);
  std::vector<FileRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_file_row(s));
  if (rc != SQLITE_DONE) return db_error(db_, "store files");
  return out;
}

Result<std::vector<ChunkRecord>> KnowledgeStore::get_chunks(std::string_view owner,
                                                            std::span<const int64_t> ids) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT c.id, c.file_id, c.idx, c.text, c.begin_byte, c.end_byte FROM chunks c "
         "JOIN files f ON f.id = c.file_id WHERE c.id = ?1 AND f.owner = ?2");
  std::vector<ChunkRecord> out;
  for (int64_t id : ids) {
    s.reset();
    s.bind(1, id).bind(2, owner);
    const int rc = s.step();
    if (rc == SQLITE_ROW) {
      out.push_back({s.integer(0), s.text(1), s.integer(2), s.text(3), s.integer(4), s.integer(5)});
    } else if (rc != SQLITE_DONE) {
      return db_error(db_, "get chunks");
    }
  }
  return out;
}

Status KnowledgeStore::bump_generation() {
  Stmt s(db_, "UPDATE meta SET value = value + 1 WHERE key = 'generation'");
  if (s.step() != SQLITE_DONE || sqlite3_changes(db_) != 1) {
    return db_error(db_, "bump the generation");
  }
  return Status::Ok();
}

namespace {
// Steps `s` ("SELECT value FROM meta WHERE key = ?1") to the row of `key`.
Status step_to_meta(sqlite3* db, Stmt& s, std::string_view key) {
  s.bind(1, key);
  if (s.step() != SQLITE_ROW) return db_error(db, "read '" + std::string(key) + "' from meta");
  return Status::Ok();
}
}  // namespace

Result<int64_t> KnowledgeStore::generation() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?1");
  if (Status st = step_to_meta(db_, s, "generation"); !st.ok()) return st.error();
  return s.integer(0);
}

Result<std::string> KnowledgeStore::database_id() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?1");
  if (Status st = step_to_meta(db_, s, "database_id"); !st.ok()) return st.error();
  return s.text(0);
}

Status KnowledgeStore::for_each_store_vector(
    const std::function<void(const std::string&, int64_t, std::span<const float>)>& fn) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT sf.store_id, e.chunk_id, e.vector FROM store_files sf "
         "JOIN chunks c ON c.file_id = sf.file_id JOIN embeddings e ON e.chunk_id = c.id "
         "ORDER BY sf.store_id, e.chunk_id");
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) fn(s.text(0), s.integer(1), s.floats(2));
  if (rc != SQLITE_DONE) return db_error(db_, "read vectors");
  return Status::Ok();
}

}  // namespace shardserve::knowledge
