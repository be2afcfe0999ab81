#include "coordinator/knowledge/knowledge_base.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include "coordinator/knowledge/text_extract.h"

namespace shardserve::knowledge {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A read-only view of a whole file, unmapped (and closed) on destruction.
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path) {
    MappedFile m;
    m.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m.fd_ < 0)
      return Error{"cannot open the uploaded file " + path + ": " + std::strerror(errno)};
    struct stat st {};
    if (::fstat(m.fd_, &st) != 0)
      return Error{"cannot read the size of " + path + ": " + std::strerror(errno)};
    m.size_ = static_cast<size_t>(st.st_size);
    if (m.size_ == 0) return m;
    void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, m.fd_, 0);
    if (p == MAP_FAILED) return Error{"cannot map " + path + ": " + std::strerror(errno)};
    m.data_ = static_cast<const char*>(p);
    return m;
  }
  MappedFile(MappedFile&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  std::string_view bytes() const { return {data_ ? data_ : "", size_}; }

 private:
  MappedFile() = default;
  int fd_ = -1;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// Removes the upload's temporary file when the upload ends, whatever the outcome.
struct RemoveOnExit {
  const std::string& path;
  ~RemoveOnExit() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

std::string limit_message(std::string_view what, int64_t limit, std::string_view key) {
  return "this API key has " + std::to_string(limit) + " " + std::string(what) +
         ", the most the server keeps (knowledge." + std::string(key) + "); delete some first";
}

}  // namespace

std::string owner_of_api_key(std::string_view api_key) {
  if (api_key.empty()) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(api_key.data(), api_key.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    std::abort();  // SHA-256 is always there; failing here would mix owners
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

KnowledgeBase::KnowledgeBase(KnowledgeOptions options, Embedder embedder)
    : options_(std::move(options)), embedder_(std::move(embedder)) {}

KnowledgeBase::~KnowledgeBase() {
  {
    std::lock_guard<std::mutex> lock(mutation_mu_);
    stopping_ = true;
  }
  saver_cv_.notify_all();
  if (saver_.joinable()) saver_.join();  // it saves what is left
}

std::shared_ptr<VectorIndexSet> KnowledgeBase::index() const {
  std::lock_guard<std::mutex> lock(index_mu_);
  return index_;
}

void KnowledgeBase::save_loop() {
  std::unique_lock<std::mutex> lock(mutation_mu_);
  auto first_unsaved = Clock::now();
  while (true) {
    saver_cv_.wait_for(lock, kSaveQuietSeconds, [this] { return stopping_; });
    if (!dirty_) {
      if (stopping_) return;
      first_unsaved = Clock::now();
      continue;
    }
    const auto now = Clock::now();
    if (!stopping_ && now - last_mutation_ < kSaveQuietSeconds &&
        now - first_unsaved < kSaveEverySeconds)
      continue;  // mutations are still coming: save when they pause
    // Under mutation_mu_: the indexes match the database's generation until save returns.
    if (Status s = index()->save(*store_); !s.ok())
      std::fprintf(stderr,
                   "shardserve knowledge: saving the indexes failed (%s); they are "
                   "rebuilt from the database at the next start\n",
                   s.message().c_str());
    dirty_ = false;
    first_unsaved = Clock::now();
    if (stopping_) return;
  }
}

void KnowledgeBase::mutated(const Status& index_update) {
  last_mutation_ = Clock::now();
  if (!index_update.ok()) {
    // The database committed, the index did not follow: rebuild it from the database.
    std::fprintf(stderr,
                 "shardserve knowledge: an index update failed (%s); rebuilding the "
                 "indexes from the database\n",
                 index_update.message().c_str());
    auto rebuilt = VectorIndexSet::open(*store_, index_dir_, options_.index);
    if (rebuilt.ok()) {
      std::lock_guard<std::mutex> lock(index_mu_);
      index_ = std::move(rebuilt.value());
    }
  }
  dirty_ = true;
  saver_cv_.notify_all();
}

Status KnowledgeBase::index_vectors(const std::string& store_id,
                                    const std::vector<StoredVector>& vectors) {
  if (vectors.empty()) return {};
  const size_t dim = vectors.front().vector.size();
  std::vector<int64_t> ids;
  std::vector<float> flat;
  ids.reserve(vectors.size());
  flat.reserve(vectors.size() * dim);
  for (const StoredVector& v : vectors) {
    if (v.vector.size() != dim)
      return Error{"vectors of different sizes in one file (" + std::to_string(dim) + " and " +
                   std::to_string(v.vector.size()) + ")"};
    ids.push_back(v.chunk_id);
    flat.insert(flat.end(), v.vector.begin(), v.vector.end());
  }
  return index()->add_batch(store_id, ids, flat, dim);
}

Result<std::unique_ptr<KnowledgeBase>> KnowledgeBase::open(KnowledgeOptions options,
                                                           Embedder embedder) {
  std::unique_ptr<KnowledgeBase> kb(new KnowledgeBase(std::move(options), std::move(embedder)));
  const std::string& dir = kb->options_.data_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Error{"knowledge.data_dir: cannot create " + dir + ": " + ec.message() +
                 " (pick a writable directory)"};
  auto store = KnowledgeStore::open(dir);
  if (!store.ok()) return store.error();
  kb->store_ = std::move(store.value());
  kb->incoming_dir_ = (fs::path(dir) / "incoming").string();
  fs::create_directories(kb->incoming_dir_, ec);
  if (ec) return Error{"cannot create " + kb->incoming_dir_ + ": " + ec.message()};
  if (Status s = kb->sweep_incoming(); !s.ok()) return s.error();
  kb->index_dir_ = (fs::path(dir) / "index").string();
  auto index = VectorIndexSet::open(*kb->store_, kb->index_dir_, kb->options_.index);
  if (!index.ok()) return index.error();
  kb->index_ = std::move(index.value());
  kb->indexes_loaded_ = kb->index_->loaded_from_disk();
  if (!kb->indexes_loaded_) {  // rebuilt: save now, so that the next start loads
    if (Status s = kb->index_->save(*kb->store_); !s.ok())
      std::fprintf(stderr, "shardserve knowledge: saving the rebuilt indexes failed (%s)\n",
                   s.message().c_str());
  }
  kb->saver_ = std::thread([raw = kb.get()] { raw->save_loop(); });
  return kb;
}

Status KnowledgeBase::sweep_incoming() {
  // Uploads streamed here by a process that died before add_file finished: never acknowledged.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(incoming_dir_, ec)) {
    std::error_code rm;
    fs::remove(entry.path(), rm);
  }
  if (ec) return Error{"cannot list " + incoming_dir_ + ": " + ec.message()};
  return {};
}

Result<std::vector<float>> KnowledgeBase::embed_all(const std::vector<TextChunk>& chunks,
                                                    double* seconds) {
  const auto start = Clock::now();
  std::vector<float> out;
  std::vector<std::string> batch;
  for (size_t i = 0; i < chunks.size(); i += options_.embed_batch) {
    batch.clear();
    for (size_t j = i; j < std::min(chunks.size(), i + options_.embed_batch); ++j)
      batch.push_back(chunks[j].text);
    auto vectors = embedder_(batch);
    if (!vectors.ok()) return vectors.error();
    if (vectors.value().empty() || vectors.value().size() % batch.size() != 0)
      return Error{"the embedding model returned " + std::to_string(vectors.value().size()) +
                   " values for " + std::to_string(batch.size()) + " chunks"};
    out.insert(out.end(), vectors.value().begin(), vectors.value().end());
  }
  *seconds = seconds_since(start);
  return out;
}

Result<FileRecord> KnowledgeBase::add_file(std::string_view owner, const UploadedFile& upload,
                                           UploadStats* stats) {
  RemoveOnExit remove{upload.temp_path};
  UploadStats local;
  UploadStats& st = stats ? *stats : local;

  auto t = Clock::now();
  auto mapped = MappedFile::open(upload.temp_path);
  if (!mapped.ok()) return mapped.error();
  const std::string_view bytes = mapped.value().bytes();
  auto text = extract_text(bytes, upload.content_type, upload.filename,
                           static_cast<size_t>(options_.max_file_bytes));
  if (!text.ok()) return text.error();
  const std::vector<TextChunk> chunks = chunk_text(text.value().text, options_.chunking);
  st.extract_s = seconds_since(t);
  st.chunks = chunks.size();
  if (chunks.empty())
    return Error::invalid_input("'" + upload.filename + "' holds no text to search (only space)");

  // The cheap check before the expensive embedding; checked again under the lock.
  if (auto files = store_->count_files(owner); files.ok() && files.value() >= options_.max_files)
    return Error::invalid_input(limit_message("files", options_.max_files, "max_files"));

  auto vectors = embed_all(chunks, &st.embed_s);
  if (!vectors.ok()) return vectors.error();
  const size_t dim = vectors.value().size() / chunks.size();

  NewFile file;
  file.owner = std::string(owner);
  file.filename = upload.filename;
  file.purpose = upload.purpose;
  file.raw_bytes = bytes;
  file.chunks.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    NewChunk c;
    c.text = chunks[i].text;
    c.begin = static_cast<int64_t>(chunks[i].begin);
    c.end = static_cast<int64_t>(chunks[i].end);
    const float* v = vectors.value().data() + i * dim;
    c.embedding.assign(v, v + dim);
    l2_normalize(c.embedding);
    file.chunks.push_back(std::move(c));
  }

  t = Clock::now();
  std::lock_guard<std::mutex> lock(mutation_mu_);
  auto files = store_->count_files(owner);
  if (!files.ok()) return files.error();
  if (files.value() >= options_.max_files)
    return Error::invalid_input(limit_message("files", options_.max_files, "max_files"));
  auto record = store_->add_file(file);
  st.commit_s = seconds_since(t);
  return record;  // a new file is in no store yet: the indexes (and the generation) are unchanged
}

Result<std::optional<FileRecord>> KnowledgeBase::get_file(std::string_view owner,
                                                          std::string_view id) {
  return store_->get_file(owner, id);
}

Result<std::vector<FileRecord>> KnowledgeBase::list_files(std::string_view owner) {
  return store_->list_files(owner);
}

Result<std::optional<std::string>> KnowledgeBase::file_bytes(std::string_view owner,
                                                             std::string_view id) {
  return store_->read_file_bytes(owner, id);
}

Result<bool> KnowledgeBase::delete_file(std::string_view owner, std::string_view id) {
  std::lock_guard<std::mutex> lock(mutation_mu_);
  std::vector<std::pair<std::string, int64_t>> removed;
  auto deleted = store_->delete_file(owner, id, &removed);
  if (!deleted.ok()) return deleted.error();
  for (const auto& [store_id, chunk_id] : removed) index()->remove(store_id, chunk_id);
  if (deleted.value()) mutated({});
  return deleted.value();
}

Result<VectorStoreRecord> KnowledgeBase::create_vector_store(
    std::string_view owner, std::string_view name, const std::vector<std::string>& file_ids) {
  std::lock_guard<std::mutex> lock(mutation_mu_);
  for (const std::string& id : file_ids) {
    auto f = store_->get_file(owner, id);
    if (!f.ok()) return f.error();
    if (!f.value()) return Error::invalid_input("no file with id '" + id + "'");
  }
  auto stores = store_->list_vector_stores(owner);
  if (!stores.ok()) return stores.error();
  if (static_cast<int64_t>(stores.value().size()) >= options_.max_vector_stores)
    return Error::invalid_input(
        limit_message("vector stores", options_.max_vector_stores, "max_vector_stores"));
  auto created = store_->create_vector_store(owner, name);
  if (!created.ok()) return created.error();
  for (const std::string& id : file_ids) {
    std::vector<StoredVector> added;
    if (Status s = store_->attach_file(owner, created.value().id, id, &added); !s.ok())
      return s.error();
    const Status indexed = index_vectors(created.value().id, added);
    mutated(indexed);
    if (!indexed.ok()) return indexed.error();
  }
  auto fresh = store_->get_vector_store(owner, created.value().id);
  if (!fresh.ok()) return fresh.error();
  return fresh.value() ? *fresh.value() : created.value();
}

Result<std::optional<VectorStoreRecord>> KnowledgeBase::get_vector_store(std::string_view owner,
                                                                         std::string_view id) {
  return store_->get_vector_store(owner, id);
}

Result<std::vector<VectorStoreRecord>> KnowledgeBase::list_vector_stores(std::string_view owner) {
  return store_->list_vector_stores(owner);
}

Result<bool> KnowledgeBase::delete_vector_store(std::string_view owner, std::string_view id) {
  std::lock_guard<std::mutex> lock(mutation_mu_);
  auto deleted = store_->delete_vector_store(owner, id);
  if (!deleted.ok()) return deleted.error();
  if (deleted.value()) {
    index()->drop_store(std::string(id));
    mutated({});
  }
  return deleted.value();
}

Status KnowledgeBase::attach_file(std::string_view owner, std::string_view store_id,
                                  std::string_view file_id) {
  std::lock_guard<std::mutex> lock(mutation_mu_);
  std::vector<StoredVector> added;
  if (Status s = store_->attach_file(owner, store_id, file_id, &added); !s.ok()) return s;
  if (added.empty()) return {};  // attached already
  const Status indexed = index_vectors(std::string(store_id), added);
  mutated(indexed);
  return indexed;
}

Result<bool> KnowledgeBase::detach_file(std::string_view owner, std::string_view store_id,
                                        std::string_view file_id) {
  std::lock_guard<std::mutex> lock(mutation_mu_);
  std::vector<int64_t> removed;
  auto detached = store_->detach_file(owner, store_id, file_id, &removed);
  if (!detached.ok()) return detached.error();
  const std::string id(store_id);
  for (int64_t chunk : removed) index()->remove(id, chunk);
  if (detached.value()) mutated({});
  return detached.value();
}

Result<std::vector<FileRecord>> KnowledgeBase::store_files(std::string_view owner,
                                                           std::string_view store_id) {
  return store_->store_files(owner, store_id);
}

Result<std::vector<SearchHit>> KnowledgeBase::search(std::string_view owner,
                                                     const std::vector<std::string>& store_ids,
                                                     std::string_view query, size_t k) {
  for (const std::string& id : store_ids) {
    auto s = store_->get_vector_store(owner, id);
    if (!s.ok()) return s.error();
    if (!s.value()) return Error::invalid_input("no vector store with id '" + id + "'");
  }
  auto embedded = embedder_({std::string(query)});
  if (!embedded.ok()) return embedded.error();
  std::vector<float> q = std::move(embedded.value());
  l2_normalize(q);

  // Best score per chunk over the stores, then the top k.
  std::map<int64_t, std::pair<float, std::string>> best;
  const std::shared_ptr<VectorIndexSet> index = this->index();
  for (const std::string& id : store_ids) {
    auto found = index->search(id, q, k);
    if (!found.ok()) return found.error();
    for (const ScoredChunk& c : found.value()) {
      auto [it, inserted] = best.try_emplace(c.chunk_id, c.score, id);
      if (!inserted && c.score > it->second.first) it->second = {c.score, id};
    }
  }
  std::vector<std::pair<int64_t, std::pair<float, std::string>>> ranked(best.begin(), best.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second.first != b.second.first ? a.second.first > b.second.first : a.first < b.first;
  });
  if (ranked.size() > k) ranked.resize(k);

  std::vector<int64_t> ids;
  for (const auto& r : ranked) ids.push_back(r.first);
  auto chunks = store_->get_chunks(owner, ids);  // deleted meanwhile: left out
  if (!chunks.ok()) return chunks.error();
  std::map<int64_t, ChunkRecord*> by_id;
  for (ChunkRecord& c : chunks.value()) by_id[c.id] = &c;
  std::map<std::string, std::string> filenames;
  std::vector<SearchHit> hits;
  for (const auto& [chunk_id, scored] : ranked) {
    auto it = by_id.find(chunk_id);
    if (it == by_id.end()) continue;
    SearchHit hit;
    hit.chunk = std::move(*it->second);
    hit.score = scored.first;
    hit.vector_store_id = scored.second;
    auto name = filenames.find(hit.chunk.file_id);
    if (name == filenames.end()) {
      auto f = store_->get_file(owner, hit.chunk.file_id);
      if (!f.ok()) return f.error();
      name = filenames.emplace(hit.chunk.file_id, f.value() ? f.value()->filename : "").first;
    }
    hit.filename = name->second;
    hits.push_back(std::move(hit));
  }
  return hits;
}

}  // namespace shardserve::knowledge
