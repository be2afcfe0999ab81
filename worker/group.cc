#include "worker/group.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "parallel/agree.h"
#include "parallel/mpi_check.h"

namespace shardserve {

// Completes row-parallel products across the group (gathers every rank's segment partials,
// adds them in segment order) and keeps the time spent doing it.
class GroupMember::GroupShardCombiner final : public ShardCombiner {
 public:
  explicit GroupShardCombiner(Collectives& c) : c_(c) {}
  void sum_segments(const float* partials, std::span<const int> per_rank, int64_t n,
                    float* out) override {
    const auto start = std::chrono::steady_clock::now();
    int64_t total = 0;
    counts_.resize(per_rank.size());
    for (size_t r = 0; r < per_rank.size(); ++r) total += (counts_[r] = per_rank[r] * n);
    const float* all = partials;
    if (c_.size() > 1) {
      gathered_.resize(total);
      c_.all_gather(partials, gathered_.data(), counts_);
      all = gathered_.data();
    }
    add_segments_in_order(all, total / n, n, out);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++calls;
  }

  void gather_columns(const float* mine, int64_t n_rows, std::span<const Range> cols_per_rank,
                      float* out) override {
    const auto start = std::chrono::steady_clock::now();
    // all_gather lays the slices out rank after rank ([rank][row][col]); rows interleave them.
    int64_t width = 0;
    counts_.resize(cols_per_rank.size());
    for (size_t r = 0; r < cols_per_rank.size(); ++r) {
      counts_[r] = cols_per_rank[r].size() * n_rows;
      width += cols_per_rank[r].size();
    }
    gathered_.resize(width * n_rows);
    c_.all_gather(mine, gathered_.data(), counts_);
    const float* slice = gathered_.data();
    for (const Range& cols : cols_per_rank) {
      for (int64_t row = 0; row < n_rows; ++row)
        std::copy(slice + row * cols.size(), slice + (row + 1) * cols.size(),
                  out + row * width + cols.begin);
      slice += cols.size() * n_rows;
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++calls;
  }

  double seconds = 0;
  int64_t calls = 0;

 private:
  Collectives& c_;
  std::vector<int64_t> counts_;
  std::vector<float> gathered_;
};

Result<std::unique_ptr<GroupMember>> GroupMember::create(MPI_Comm comm, const LoadModel& load,
                                                         const GroupOptions& options) {
  std::unique_ptr<GroupMember> m(new GroupMember());
  m->comm_ = comm;
  m->collectives_ = make_mpi_collectives(comm, {.timeout_s = options.collective_timeout_s});
  m->combiner_ = std::make_unique<GroupShardCombiner>(*m->collectives_);
  // Every rank learns whether all loaded (and reserved their KV storage) before going on: a
  // rank that fails alone (a GPU out of memory, say) must not leave the others waiting in the
  // next collective call.
  auto model = load(m->tp(), m->rank());
  const Status loaded = model ? Status{} : Status(model.error());
  if (Status all = agree(comm, loaded, "load its shard of the model"); !all) return all.error();
  m->model_ = std::move(*model);
  const Status reserved = m->make_kv_cache(options);
  if (Status all = agree(comm, reserved, "set up its KV cache"); !all) return all.error();
  m->pool_ = std::make_unique<ThreadPool>(options.threads);
  return m;
}

Status GroupMember::make_kv_cache(const GroupOptions& options) {
  const std::optional<KvCacheShape> mine = model_->kv_shape(1, options.block_size);
  if (!mine) return {};
  // Every rank gets as many blocks as the rank with the most KV heads can afford, so the
  // leader's block accounting holds for all of them. (Head counts are small integers: exact
  // as floats.)
  const auto heads = static_cast<float>(mine->n_kv_heads);
  std::vector<float> all_heads(tp());
  const std::vector<int64_t> one_each(tp(), 1);
  collectives_->all_gather(&heads, all_heads.data(), one_each);
  KvCacheShape largest = *mine;
  largest.n_kv_heads = static_cast<int64_t>(*std::max_element(all_heads.begin(), all_heads.end()));
  const int64_t block_bytes = largest.block_bytes();
  const int64_t n_blocks = options.kv_cache_bytes / block_bytes;
  if (n_blocks < 1)
    return Error{"a KV budget of " + std::to_string(options.kv_cache_bytes >> 20) +
                 " MiB per rank holds no block of " + std::to_string(options.block_size) +
                 " positions (" + std::to_string(block_bytes) + " bytes); raise kv_cache_mb"};
  kv_ = std::make_unique<KvCache>(*model_->kv_shape(n_blocks, options.block_size));
  return model_->reserve_kv(kv_->shape());
}

GroupMember::~GroupMember() = default;

GroupMember::ReduceStats GroupMember::reduce_stats() const {
  return {.seconds = combiner_->seconds, .calls = combiner_->calls};
}

void GroupMember::lead(const StepPlan& plan, std::vector<float>& outputs) {
  std::vector<uint8_t> bytes = encode_step_plan(plan);
  if (tp() > 1) {
    int64_t size = static_cast<int64_t>(bytes.size());
    broadcast_when_ready(comm_, &size, sizeof size, 0);
    collectives_->broadcast(bytes.data(), size, 0);
  }
  run(plan, &outputs);
}

Status GroupMember::follow() {
  std::vector<uint8_t> bytes;
  for (;;) {
    int64_t size = 0;
    broadcast_when_ready(comm_, &size, sizeof size, 0);
    if (size <= 0 || size > (int64_t{1} << 31))
      return Error{"rank " + std::to_string(rank()) + ": step plan of impossible size " +
                   std::to_string(size)};
    bytes.resize(size);
    collectives_->broadcast(bytes.data(), size, 0);
    auto plan = decode_step_plan(bytes);
    if (!plan) return Error{"rank " + std::to_string(rank()) + ": " + plan.error().message};
    run(*plan, nullptr);
    if (plan->shutdown) return {};
  }
}

void GroupMember::die(const StepPlan& plan, const std::string& why) const {
  std::fprintf(stderr, "shardserve: rank %d: step %llu: %s\n", rank(),
               static_cast<unsigned long long>(plan.step_id), why.c_str());
  std::exit(3);
}

void GroupMember::run(const StepPlan& plan, std::vector<float>* outputs) {
  if (plan.step_id != last_step_ + 1)
    die(plan, "out of order after step " + std::to_string(last_step_) +
                  "; the group's KV caches would diverge. Exiting.");
  last_step_ = plan.step_id;
  if (kv_)
    for (int64_t seq : plan.released) kv_->release(seq);
  chunks_.clear();
  for (const PlannedChunk& c : plan.chunks) {
    const int64_t end = c.start_pos + static_cast<int64_t>(c.tokens.size());
    if (kv_) {
      if (Status s = kv_->attach(c.seq, c.blocks); !s) die(plan, s.message());
      if (kv_->capacity(c.seq) < end)
        die(plan, "sequence " + std::to_string(c.seq) + " has blocks for " +
                      std::to_string(kv_->capacity(c.seq)) + " positions, the plan writes up to " +
                      std::to_string(end) + " (ranks out of step)");
    }
    chunks_.push_back({.seq = c.seq,
                       .start_pos = c.start_pos,
                       .tokens = c.tokens,
                       .need_logits = c.need_logits,
                       .all_logits = c.all_logits});
  }
  const StepResources resources{.pool = pool_.get(), .combiner = combiner_.get()};
  if (Status s = model_->forward(chunks_, kv_.get(), resources, outputs); !s)
    die(plan, s.message());
}

}  // namespace shardserve
