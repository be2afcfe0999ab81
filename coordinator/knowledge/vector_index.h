// Approximate nearest neighbours over chunk vectors: one HNSW graph (hnswlib) per vector store.
//
// Promise: `VectorIndex` holds unit vectors under a chunk id and answers "the k chunks most
// similar to this query" by cosine similarity (inner product of L2-normalised vectors; every
// vector and query is normalised on the way in, the caller's copy untouched). Results are
// best first with score = cosine in [-1, 1]. Approximate: on 10k random 384-d vectors recall@10
// against `brute_force_search` is >= 0.95 with the default options (vector_index_test.cc).
// Removing marks the vector deleted (hnswlib's markDelete): it is never returned again and its
// slot stays until the index is rebuilt; adding the same id again replaces and revives it.
// Capacity grows by doubling.
//
// `VectorIndexSet` keeps one `VectorIndex` per vector store, so a search never sees another
// store's (or owner's) chunks and needs no filter; a file attached to two stores is indexed
// twice. At start-up it is loaded from the files a previous `save` left beside the database
// (`open`), or built from the database when those are missing, stale or damaged (`open` falls
// back to `build`); then the caller keeps it in step: add after an upload is attached, remove
// after a detach or delete, and `save` now and then. It holds no text; the caller reads chunk
// text from the store by id.
//
// Saved files (`open`, `save`; vector_index_io.cc): in `index_dir`, one hnswlib graph file per
// non-empty store and a text `manifest` naming the database id, the store's generation
// (store.h), m and ef_construction, and each graph file's store, dimension, size and checksum.
// Every file is written to a temporary name, fsynced and renamed, the manifest last, and old
// graph files are removed only after the new manifest is durable: a crash at any point leaves
// the previous save whole, or a manifest that does not match the database (then `open`
// rebuilds). One process per `index_dir`.
//
// Thread-safety: both classes are safe from any thread; searches run concurrently (shared
// lock), adds and removes take the lock exclusively. `save` may run during searches; see its
// comment for what it needs from the caller's mutations.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
class InnerProductSpace;
}  // namespace hnswlib

namespace shardserve::knowledge {

class KnowledgeStore;

struct ScoredChunk {
  int64_t chunk_id = 0;
  float score = 0;  // cosine similarity
};

// Scales `v` to unit length (left as is when all zero).
void l2_normalize(std::span<float> v);

// Exact top-k by cosine over `n = ids.size()` vectors stored row-major in `vectors`
// (n * dim floats, normalised or not). Best first. The reference for tests and benchmarks.
std::vector<ScoredChunk> brute_force_search(std::span<const float> vectors,
                                            std::span<const int64_t> ids, size_t dim,
                                            std::span<const float> query, size_t k);

// The defaults hold recall@10 >= 0.95 on 10k random Gaussian 384-d vectors, the hardest case
// (no low-dimensional structure; recall there falls as N grows: 0.93 at 20k); measured with
// hnswlib 0.6.2: M=16/ef_search=128 gives 0.60, M=32/256 0.95, M=32/400 0.98. Clustered
// vectors, closer to real sentence embeddings, keep 0.99+ at 100k (bench/README.md).
// Recall comes from ef_search; ef_construction shapes the graph and sets the build cost:
// 100 instead of 200 builds 1.4-1.7x faster for recall@10 0.982 instead of 0.983 (10k random,
// ef_search 400) and 0.931 instead of 0.937 (20k random).
struct VectorIndexOptions {
  size_t m = 32;                 // graph degree (hnswlib's M)
  size_t ef_construction = 100;  // candidate list while inserting
  size_t ef_search = 400;        // candidate list while searching (at least k)
  size_t initial_capacity = 1024;
  size_t build_threads = 0;  // threads for add_batch (and so build/open); 0: one per core
};

class VectorIndex {
 public:
  explicit VectorIndex(size_t dim, VectorIndexOptions options = {});
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // kInvalidInput when the vector's size is not dim(); kInternal when memory runs out.
  Status add(int64_t chunk_id, std::span<const float> vector);
  // Adds ids.size() vectors, stored row-major in `vectors`, as if by add() in order (a later
  // duplicate id replaces an earlier one), inserting the new ids on `build_threads` threads.
  // Holds the index exclusively throughout: this index's searches wait for the whole batch.
  // kInvalidInput when vectors.size() != ids.size() * dim(); on kInternal (memory) some of the
  // batch may be in the index.
  Status add_batch(std::span<const int64_t> ids, std::span<const float> vectors);
  // False when the id is not in the index (or was removed already).
  bool remove(int64_t chunk_id);
  // Empty when the index is empty; kInvalidInput when the query's size is not dim().
  Result<std::vector<ScoredChunk>> search(std::span<const float> query, size_t k) const;

  size_t dim() const { return dim_; }
  size_t size() const;  // vectors that searches can return

  // --- files (VectorIndexSet::save and open use these) ---
  // Writes the graph to `path` in hnswlib's format, not durably (the caller fsyncs and
  // renames), and returns the size the file must have: hnswlib reports no write errors, so
  // the caller compares. Searches may run meanwhile; adds wait.
  Result<uint64_t> write_graph(const std::string& path) const;
  // Reads a graph that write_graph wrote with this `dim` and the same m and ef_construction
  // (kInvalidInput naming the first header field that differs). The caller must have checked
  // the file's size and checksum first: past the header hnswlib trusts every byte.
  static Result<std::unique_ptr<VectorIndex>> read_graph(const std::string& path, size_t dim,
                                                         VectorIndexOptions options);

 private:
  VectorIndex(size_t dim, VectorIndexOptions options,
              std::unique_ptr<hnswlib::InnerProductSpace> space,
              std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw);

  // Constant after construction.
  const size_t dim_;
  const VectorIndexOptions options_;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;

  mutable std::shared_mutex mu_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_;  // guarded by mu_
  size_t live_ = 0;                                        // guarded by mu_
};

class VectorIndexSet {
 public:
  explicit VectorIndexSet(VectorIndexOptions options = {}) : options_(options) {}

  // Every attached file's vectors, read from the store; each store's index built with
  // add_batch (options.build_threads threads). No directory: save() refuses.
  static Result<std::unique_ptr<VectorIndexSet>> build(KnowledgeStore& store,
                                                       VectorIndexOptions options = {});

  // Loads the indexes saved in `index_dir` (created when missing) when the manifest there
  // names this database, the store's current generation and options' m and ef_construction,
  // and every graph file has the recorded size and checksum and a header that fits; else
  // (first start, a mutation since the save, damaged or foreign files) writes one line to
  // stderr saying why and builds everything from the store as build() does. All or nothing:
  // one bad file rebuilds every store. Removes temporary files of a killed save. Errors only
  // when the store cannot be read or the directory cannot be made. Call it before mutations
  // start; after a rebuild, call save() so that the next start loads.
  static Result<std::unique_ptr<VectorIndexSet>> open(KnowledgeStore& store,
                                                      const std::string& index_dir,
                                                      VectorIndexOptions options = {});

  // Writes every non-empty index and then the manifest, recording store.generation() and
  // store.database_id(), into the directory given to open(); then removes graph files the new
  // manifest does not name (stores dropped, older saves). Returns at once when neither the
  // generation nor this set changed since the last save or the load.
  //
  // The caller must guarantee that the indexes hold exactly the store's vectors at the
  // generation this call reads, and that neither changes until it returns: call it under the
  // same lock that makes each mutation (the store call and its index add/remove/drop_store)
  // atomic, and never after an index update failed for a committed store change (the index
  // no longer matches the store: replace the set with a new open(), which finds the files
  // older than the store and rebuilds). Searches may run meanwhile.
  // One save at a time (an internal mutex). Cost: the whole index is written and fsynced
  // (about dim * 4 + m * 8 + 16 bytes per vector: 1.8 KB at 384-d, m=32); debounce it.
  //
  // kInvalidInput for a set that open() did not make; kInternal naming the path when the
  // disk fails (the previous save stays usable).
  Status save(KnowledgeStore& store);

  // True when open() loaded the saved files; false when it (or build) built from the store.
  bool loaded_from_disk() const { return loaded_from_disk_; }

  // The store's index is made on first add, with the dimension of that vector.
  Status add(const std::string& store_id, int64_t chunk_id, std::span<const float> vector);
  // Many vectors for one store at once (VectorIndex::add_batch); all of one dimension.
  Status add_batch(const std::string& store_id, std::span<const int64_t> ids,
                   std::span<const float> vectors, size_t dim);
  void remove(const std::string& store_id, int64_t chunk_id);
  void drop_store(const std::string& store_id);
  // Empty for a store without vectors.
  Result<std::vector<ScoredChunk>> search(const std::string& store_id, std::span<const float> query,
                                          size_t k) const;

 private:
  std::shared_ptr<VectorIndex> index_for_add(const std::string& store_id, size_t dim);
  Status add_from_store(KnowledgeStore& store);  // build()'s work
  // open()'s work when the files fit: fills stores_ from index_dir_, or says why not.
  Status load(int64_t generation, const std::string& database_id);
  // The stores' indexes, copied under mu_.
  std::map<std::string, std::shared_ptr<VectorIndex>, std::less<>> snapshot() const;

  // Constant after construction (open sets the first two before the set is shared).
  const VectorIndexOptions options_;
  std::string index_dir_;  // empty: not made by open()
  bool loaded_from_disk_ = false;

  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<VectorIndex>, std::less<>> stores_;  // guarded by mu_
  std::atomic<uint64_t> changes_{0};  // bumped by every add, remove and drop_store

  std::mutex save_mu_;                     // one save at a time
  std::string saved_database_id_;          // guarded by save_mu_: what the files on disk hold
  int64_t saved_generation_ = -1;          // guarded by save_mu_
  uint64_t saved_changes_ = ~uint64_t{0};  // guarded by save_mu_
};

}  // namespace shardserve::knowledge
