#include "coordinator/knowledge/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <queue>

#include "coordinator/knowledge/store.h"

namespace shardserve::knowledge {
namespace {

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

Result<std::unique_ptr<VectorIndexSet>> VectorIndexSet::build(KnowledgeStore& store,
                                                              VectorIndexOptions options) {
  auto set = std::make_unique<VectorIndexSet>(options);
  Status failed;
  Status read = store.for_each_store_vector(
      [&](const std::string& store_id, int64_t chunk_id, std::span<const float> v) {
        if (!failed.ok()) return;
        failed = set->add(store_id, chunk_id, v);
      });
  if (!read.ok()) return read.error();
  if (!failed.ok()) return failed.error();
  return set;
}

Status VectorIndexSet::add(const std::string& store_id, int64_t chunk_id,
                           std::span<const float> vector) {
  std::shared_ptr<VectorIndex> index;
  {
    std::unique_lock lock(mu_);
    auto& slot = stores_[store_id];
    if (!slot) slot = std::make_shared<VectorIndex>(vector.size(), options_);
    index = slot;
  }
  return index->add(chunk_id, vector);
}

void VectorIndexSet::remove(const std::string& store_id, int64_t chunk_id) {
  std::shared_ptr<VectorIndex> index;
  {
    std::shared_lock lock(mu_);
    auto it = stores_.find(store_id);
    if (it == stores_.end()) return;
    index = it->second;
  }
  index->remove(chunk_id);
}

void VectorIndexSet::drop_store(const std::string& store_id) {
  std::unique_lock lock(mu_);
  stores_.erase(store_id);
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
