#include "coordinator/knowledge/vector_index.h"

// Sanitizer builds compile this file with NO_MANUAL_VECTORIZATION (CMakeLists.txt): hnswlib
// 0.6.2's SSE search path prefetches one link past the end of a list, a heap over-read ASan
// would report, so those builds take hnswlib's scalar distance and search code. This is the
// only translation unit that includes hnswlib: hnswlib.h defines non-inline functions.
#include <hnswlib/hnswlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include "coordinator/knowledge/store.h"

namespace shardserve::knowledge {
namespace {

// The fixed header hnswlib 0.6.2's saveIndex writes, field by field in this order.
struct GraphHeader {
  uint64_t offset_level0;
  uint64_t max_elements;
  uint64_t count;  // cur_element_count: slots used, deleted ones included
  uint64_t size_data_per_element;
  uint64_t label_offset;
  uint64_t offset_data;
  int32_t max_level;
  uint32_t enter_point;
  uint64_t max_m;
  uint64_t max_m0;
  uint64_t m;
  double mult;
  uint64_t ef_construction;
};
static_assert(sizeof(GraphHeader) == 96, "hnswlib 0.6.2 writes a 96-byte header");

std::vector<float> normalized(std::span<const float> v) {
  std::vector<float> out(v.begin(), v.end());
  l2_normalize(out);
  return out;
}

}  // namespace

void l2_normalize(std::span<float> v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  const auto inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

std::vector<ScoredChunk> brute_force_search(std::span<const float> vectors,
                                            std::span<const int64_t> ids, size_t dim,
                                            std::span<const float> query, size_t k) {
  const std::vector<float> q = normalized(query);
  std::vector<ScoredChunk> all;
  all.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const float* row = vectors.data() + i * dim;
    double dot = 0, norm = 0;
    for (size_t d = 0; d < dim; ++d) {
      dot += static_cast<double>(row[d]) * q[d];
      norm += static_cast<double>(row[d]) * row[d];
    }
    all.push_back({ids[i], norm > 0 ? static_cast<float>(dot / std::sqrt(norm)) : 0.0f});
  }
  const size_t top = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(top), all.end(),
                    [](const ScoredChunk& a, const ScoredChunk& b) {
                      return a.score != b.score ? a.score > b.score : a.chunk_id < b.chunk_id;
                    });
  all.resize(top);
  return all;
}

VectorIndex::VectorIndex(size_t dim, VectorIndexOptions options)
    : dim_(dim), options_(options), space_(std::make_unique<hnswlib::InnerProductSpace>(dim)) {
  hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      space_.get(), std::max<size_t>(options_.initial_capacity, 1), options_.m,
      options_.ef_construction);
  hnsw_->setEf(options_.ef_search);  // once: setEf during searches would race
}

VectorIndex::VectorIndex(size_t dim, VectorIndexOptions options,
                         std::unique_ptr<hnswlib::InnerProductSpace> space,
                         std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw)
    : dim_(dim), options_(options), space_(std::move(space)), hnsw_(std::move(hnsw)) {
  hnsw_->setEf(options_.ef_search);
  // Slots stay after markDelete; count the live ones (hnswlib's own count is not reliable
  // after loadIndex, see read_graph).
  for (size_t i = 0; i < hnsw_->cur_element_count; ++i) {
    if (!hnsw_->isMarkedDeleted(static_cast<hnswlib::tableint>(i))) ++live_;
  }
}

VectorIndex::~VectorIndex() = default;

Status VectorIndex::add(int64_t chunk_id, std::span<const float> vector) {
  if (vector.size() != dim_) {
    return Error::invalid_input("a vector of " + std::to_string(vector.size()) +
                                " numbers for an index of dimension " + std::to_string(dim_));
  }
  const std::vector<float> v = normalized(vector);
  const auto label = static_cast<hnswlib::labeltype>(chunk_id);
  std::unique_lock lock(mu_);
  try {
    const bool known = hnsw_->label_lookup_.count(label) != 0;
    const bool was_live = known && !hnsw_->isMarkedDeleted(hnsw_->label_lookup_.at(label));
    if (!known && hnsw_->cur_element_count >= hnsw_->max_elements_) {
      hnsw_->resizeIndex(2 * hnsw_->max_elements_);
    }
    hnsw_->addPoint(v.data(), label);  // replaces (and revives) a known label
    if (!was_live) ++live_;
  } catch (const std::exception& e) {
    return Error{std::string("vector index: cannot add: ") + e.what()};
  }
  return Status::Ok();
}

Status VectorIndex::add_batch(std::span<const int64_t> ids, std::span<const float> vectors) {
  if (vectors.size() != ids.size() * dim_) {
    return Error::invalid_input("a batch of " + std::to_string(ids.size()) + " ids needs " +
                                std::to_string(ids.size() * dim_) + " numbers for dimension " +
                                std::to_string(dim_) + ", got " + std::to_string(vectors.size()));
  }
  if (ids.empty()) return Status::Ok();
  // As add() in order: the last row of a repeated id wins.
  std::unordered_map<int64_t, size_t> last;
  last.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) last[ids[i]] = i;
  auto row = [&](size_t i) {
    std::vector<float> v(vectors.begin() + static_cast<std::ptrdiff_t>(i * dim_),
                         vectors.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim_));
    l2_normalize(v);
    return v;
  };

  std::unique_lock lock(mu_);
  // Ids already in the index are updated one at a time (hnswlib's update of a label is not
  // safe against a concurrent insert of the same label); new ids go to the threads.
  std::vector<size_t> fresh;
  fresh.reserve(last.size());
  try {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (last[ids[i]] != i) continue;
      const auto label = static_cast<hnswlib::labeltype>(ids[i]);
      auto it = hnsw_->label_lookup_.find(label);
      if (it == hnsw_->label_lookup_.end()) {
        fresh.push_back(i);
        continue;
      }
      const bool was_live = !hnsw_->isMarkedDeleted(it->second);
      hnsw_->addPoint(row(i).data(), label);
      if (!was_live) ++live_;
    }
    // Room for all new ids first: concurrent addPoint must never resize.
    const size_t need = hnsw_->cur_element_count + fresh.size();
    if (need > hnsw_->max_elements_) {
      hnsw_->resizeIndex(std::max(need, 2 * hnsw_->max_elements_));
    }
    // The first point of an empty graph becomes the entry point; insert it alone.
    size_t begin = 0;
    if (hnsw_->cur_element_count == 0 && !fresh.empty()) {
      hnsw_->addPoint(row(fresh[0]).data(), static_cast<hnswlib::labeltype>(ids[fresh[0]]));
      ++live_;
      begin = 1;
    }
    std::atomic<size_t> next{begin};
    std::atomic<size_t> added{0};
    std::mutex error_mu;
    std::string error;  // guarded by error_mu; the first failure
    // hnswlib's addPoint is safe to call from several threads for distinct new labels within
    // capacity (per-node link locks; the entry point under its global lock). One caveat it
    // shares with every parallel hnswlib build: a new node's random level comes from one
    // unguarded generator (getRandomLevel), a data race on its state that TSan would report;
    // in practice two threads may draw the same level, which the graph does not mind.
    auto insert = [&] {
      for (size_t k; (k = next.fetch_add(1)) < fresh.size();) {
        try {
          hnsw_->addPoint(row(fresh[k]).data(), static_cast<hnswlib::labeltype>(ids[fresh[k]]));
          added.fetch_add(1);
        } catch (const std::exception& e) {
          std::lock_guard elock(error_mu);
          if (error.empty()) error = e.what();
          next.store(fresh.size());  // stop everyone
        }
      }
    };
    size_t threads = options_.build_threads != 0
                         ? options_.build_threads
                         : std::max(1u, std::thread::hardware_concurrency());
    threads = std::min(threads, std::max<size_t>(1, (fresh.size() - begin) / 64));
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(insert);
    insert();
    for (std::thread& t : pool) t.join();
    live_ += added.load();
    if (!error.empty()) return Error{"vector index: cannot add: " + error};
  } catch (const std::exception& e) {
    return Error{std::string("vector index: cannot add: ") + e.what()};
  }
  return Status::Ok();
}

bool VectorIndex::remove(int64_t chunk_id) {
  const auto label = static_cast<hnswlib::labeltype>(chunk_id);
  std::unique_lock lock(mu_);
  auto it = hnsw_->label_lookup_.find(label);
  if (it == hnsw_->label_lookup_.end() || hnsw_->isMarkedDeleted(it->second)) return false;
  hnsw_->markDelete(label);
  --live_;
  return true;
}

Result<std::vector<ScoredChunk>> VectorIndex::search(std::span<const float> query, size_t k) const {
  if (query.size() != dim_) {
    return Error::invalid_input("a query of " + std::to_string(query.size()) +
                                " numbers for an index of dimension " + std::to_string(dim_));
  }
  const std::vector<float> q = normalized(query);
  std::shared_lock lock(mu_);
  if (live_ == 0 || k == 0) return std::vector<ScoredChunk>();
  // hnswlib searches with max(ef, k) candidates.
  auto heap = hnsw_->searchKnn(q.data(), std::min(k, live_));
  std::vector<ScoredChunk> out(heap.size());
  for (size_t i = heap.size(); i-- > 0;) {  // the heap pops the farthest first
    out[i] = {static_cast<int64_t>(heap.top().second), 1.0f - heap.top().first};
    heap.pop();
  }
  return out;
}

size_t VectorIndex::size() const {
  std::shared_lock lock(mu_);
  return live_;
}

Result<uint64_t> VectorIndex::write_graph(const std::string& path) const {
  std::shared_lock lock(mu_);
  const hnswlib::HierarchicalNSW<float>& h = *hnsw_;
  // saveIndex's layout: the header, every slot's level-0 block, then per slot a 4-byte size
  // and its upper-level links.
  uint64_t bytes = sizeof(GraphHeader) + h.cur_element_count * h.size_data_per_element_;
  for (size_t i = 0; i < h.cur_element_count; ++i) {
    bytes += sizeof(unsigned int);
    if (h.element_levels_[i] > 0) {
      bytes += h.size_links_per_element_ * static_cast<uint64_t>(h.element_levels_[i]);
    }
  }
  try {
    hnsw_->saveIndex(path);
  } catch (const std::exception& e) {
    return Error{"vector index: cannot write " + path + ": " + e.what()};
  }
  return bytes;
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::read_graph(const std::string& path, size_t dim,
                                                             VectorIndexOptions options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error{"vector index: cannot stat " + path + ": " + std::strerror(errno)};
  }
  const auto file_bytes = static_cast<uint64_t>(st.st_size);
  GraphHeader h{};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(&h), sizeof(h))) {
      return Error::invalid_input("vector index: " + path + " is shorter than a graph header");
    }
  }
  // What hnswlib would have written for this dim and these options.
  const uint64_t links0 = 2 * options.m * sizeof(hnswlib::tableint) + sizeof(unsigned int);
  auto mismatch = [&](const char* field, uint64_t want, uint64_t got) {
    return Error::invalid_input("vector index: " + path + " has " + field + " " +
                                std::to_string(got) + ", expected " + std::to_string(want) +
                                " (written with other options or another hnswlib?)");
  };
  if (h.offset_level0 != 0) return mismatch("offsetLevel0", 0, h.offset_level0);
  if (h.m != options.m) return mismatch("M", options.m, h.m);
  if (h.max_m != options.m) return mismatch("maxM", options.m, h.max_m);
  if (h.max_m0 != 2 * options.m) return mismatch("maxM0", 2 * options.m, h.max_m0);
  const uint64_t efc = std::max(options.ef_construction, options.m);
  if (h.ef_construction != efc) return mismatch("ef_construction", efc, h.ef_construction);
  if (h.offset_data != links0) return mismatch("offsetData", links0, h.offset_data);
  const uint64_t label_offset = links0 + dim * sizeof(float);
  if (h.label_offset != label_offset) return mismatch("label_offset", label_offset, h.label_offset);
  const uint64_t per_element = label_offset + sizeof(hnswlib::labeltype);
  if (h.size_data_per_element != per_element) {
    return mismatch("size_data_per_element", per_element, h.size_data_per_element);
  }
  if (h.count == 0 || h.count > file_bytes / per_element) {
    return mismatch("an element count that fits the file, at most", file_bytes / per_element,
                    h.count);
  }
  if (h.enter_point >= h.count) return mismatch("an entry point below", h.count, h.enter_point);
  if (h.max_level < 0 || h.max_level > 64) {
    return Error::invalid_input("vector index: " + path + " has top level " +
                                std::to_string(h.max_level) + ", expected 0 to 64");
  }

  auto space = std::make_unique<hnswlib::InnerProductSpace>(dim);
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
  try {
    // Capacity: the slots used plus room to grow (the saved capacity is not trusted).
    const size_t capacity =
        std::max<size_t>(h.count + h.count / 8, std::max<size_t>(options.initial_capacity, 1));
    hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), path, false, capacity);
  } catch (const std::exception& e) {
    return Error::invalid_input("vector index: cannot load " + path + ": " + e.what());
  }
  // loadIndex leaves num_deleted_ uninitialised and then adds to it; searchKnn skips the
  // deleted-element checks when it reads 0. Count it here.
  hnsw->num_deleted_ = 0;
  for (size_t i = 0; i < hnsw->cur_element_count; ++i) {
    if (hnsw->isMarkedDeleted(static_cast<hnswlib::tableint>(i))) ++hnsw->num_deleted_;
  }
  return std::unique_ptr<VectorIndex>(
      new VectorIndex(dim, options, std::move(space), std::move(hnsw)));
}

Result<std::unique_ptr<VectorIndexSet>> VectorIndexSet::build(KnowledgeStore& store,
                                                              VectorIndexOptions options) {
  auto set = std::make_unique<VectorIndexSet>(options);
  if (Status s = set->add_from_store(store); !s.ok()) return s.error();
  return set;
}

Status VectorIndexSet::add_from_store(KnowledgeStore& store) {
  // The store hands vectors over grouped by store id; add them in batches so the threads of
  // add_batch have work and the buffer stays small (kBatch * dim floats).
  constexpr size_t kBatch = 16384;
  std::string batch_store;
  size_t batch_dim = 0;
  std::vector<int64_t> ids;
  std::vector<float> vectors;
  Status failed;
  auto flush = [&] {
    if (!ids.empty() && failed.ok()) failed = add_batch(batch_store, ids, vectors, batch_dim);
    ids.clear();
    vectors.clear();
  };
  Status read = store.for_each_store_vector(
      [&](const std::string& store_id, int64_t chunk_id, std::span<const float> v) {
        if (!failed.ok()) return;
        if (store_id != batch_store || v.size() != batch_dim || ids.size() == kBatch) {
          flush();
          batch_store = store_id;
          batch_dim = v.size();
        }
        ids.push_back(chunk_id);
        vectors.insert(vectors.end(), v.begin(), v.end());
      });
  flush();
  if (!read.ok()) return read.error();
  return failed;
}

std::shared_ptr<VectorIndex> VectorIndexSet::index_for_add(const std::string& store_id,
                                                           size_t dim) {
  std::unique_lock lock(mu_);
  auto& slot = stores_[store_id];
  if (!slot) slot = std::make_shared<VectorIndex>(dim, options_);
  return slot;
}

Status VectorIndexSet::add(const std::string& store_id, int64_t chunk_id,
                           std::span<const float> vector) {
  changes_.fetch_add(1);
  return index_for_add(store_id, vector.size())->add(chunk_id, vector);
}

Status VectorIndexSet::add_batch(const std::string& store_id, std::span<const int64_t> ids,
                                 std::span<const float> vectors, size_t dim) {
  if (ids.empty()) return Status::Ok();
  changes_.fetch_add(1);
  return index_for_add(store_id, dim)->add_batch(ids, vectors);
}

void VectorIndexSet::remove(const std::string& store_id, int64_t chunk_id) {
  std::shared_ptr<VectorIndex> index;
  {
    std::shared_lock lock(mu_);
    auto it = stores_.find(store_id);
    if (it == stores_.end()) return;
    index = it->second;
  }
  changes_.fetch_add(1);
  index->remove(chunk_id);
}

void VectorIndexSet::drop_store(const std::string& store_id) {
  std::unique_lock lock(mu_);
  changes_.fetch_add(1);
  stores_.erase(store_id);
}

std::map<std::string, std::shared_ptr<VectorIndex>, std::less<>> VectorIndexSet::snapshot() const {
  std::shared_lock lock(mu_);
  return stores_;
}

Result<std::vector<ScoredChunk>> VectorIndexSet::search(const std::string& store_id,
                                                        std::span<const float> query,
                                                        size_t k) const {
  std::shared_ptr<VectorIndex> index;
  {
    std::shared_lock lock(mu_);
    auto it = stores_.find(store_id);
    if (it == stores_.end()) return std::vector<ScoredChunk>();
    index = it->second;
  }
  return index->search(query, k);
}

}  // namespace shardserve::knowledge
