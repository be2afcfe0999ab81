#include "worker/group.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

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
    std::copy(all, all + n, out);
    for (int64_t seg = 1; seg < total / n; ++seg)
      for (int64_t i = 0; i < n; ++i) out[i] += all[seg * n + i];
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

Result<std::unique_ptr<GroupMember>> GroupMember::create(MPI_Comm comm, const gguf::File& file,
                                                         const GroupOptions& options) {
  std::unique_ptr<GroupMember> m(new GroupMember());
  m->comm_ = comm;
  m->collectives_ = make_mpi_collectives(comm, {.timeout_s = options.collective_timeout_s});
  m->combiner_ = std::make_unique<GroupShardCombiner>(*m->collectives_);
  auto model = LlamaModel::load(file, m->tp(), m->rank());
  if (!model) return model.error();
  m->model_ = std::move(*model);

  // Every rank gets as many blocks as the rank with the most KV heads can afford, so the
  // leader's block accounting holds for all of them.
  const LlamaConfig& c = m->model_->config();
  const int64_t max_heads = (c.n_kv_heads + m->tp() - 1) / m->tp();
  const int64_t block_bytes = 2 * c.n_layers * max_heads * options.block_size * c.head_dim * 2;
  const int64_t n_blocks = options.kv_cache_bytes / block_bytes;
  if (n_blocks < 1)
    return Error{"a KV budget of " + std::to_string(options.kv_cache_bytes >> 20) +
                 " MiB per rank holds no block of " + std::to_string(options.block_size) +
                 " positions (" + std::to_string(block_bytes) + " bytes); raise kv_cache_mb"};
  m->kv_ = std::make_unique<KvCache>(m->model_->kv_shape(n_blocks, options.block_size));
  m->pool_ = std::make_unique<ThreadPool>(options.threads);
  return m;
}

Result<std::unique_ptr<GroupMember>> GroupMember::create_encoder(MPI_Comm comm,
                                                                 const safetensors::File& file,
                                                                 const BertConfig& config,
                                                                 const GroupOptions& options) {
  std::unique_ptr<GroupMember> m(new GroupMember());
  m->comm_ = comm;
  m->collectives_ = make_mpi_collectives(comm, {.timeout_s = options.collective_timeout_s});
  m->combiner_ = std::make_unique<GroupShardCombiner>(*m->collectives_);
  auto encoder = BertModel::load(file, config, m->tp(), m->rank());
  if (!encoder) return encoder.error();
  m->encoder_ = std::move(*encoder);
  m->pool_ = std::make_unique<ThreadPool>(options.threads);
  return m;
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

void GroupMember::run(const StepPlan& plan, std::vector<float>* outputs) {
  if (plan.step_id != last_step_ + 1) {
    std::fprintf(stderr,
                 "shardserve: rank %d: step plan %llu arrived after %llu; the group's KV "
                 "caches would diverge. Exiting.\n",
                 rank(), static_cast<unsigned long long>(plan.step_id),
                 static_cast<unsigned long long>(last_step_));
    std::exit(3);
  }
  last_step_ = plan.step_id;
  if (encoder_) {
    encode(plan, outputs);
    return;
  }
  for (int64_t seq : plan.released) kv_->release(seq);
  chunks_.clear();
  for (const PlannedChunk& c : plan.chunks) {
    const int64_t end = c.start_pos + static_cast<int64_t>(c.tokens.size());
    if (Status s = kv_->reserve(c.seq, end); !s) {
      std::fprintf(stderr, "shardserve: rank %d: step %llu: %s (the leader's plan overcommits)\n",
                   rank(), static_cast<unsigned long long>(plan.step_id), s.message().c_str());
      std::exit(3);
    }
    chunks_.push_back(
        {.seq = c.seq, .start_pos = c.start_pos, .tokens = c.tokens, .need_logits = c.need_logits});
  }
  if (chunks_.empty()) {
    if (outputs) outputs->clear();
    return;
  }
  model_->forward(chunks_, *kv_, *pool_, combiner_.get(), outputs);
}

void GroupMember::encode(const StepPlan& plan, std::vector<float>* outputs) {
  const BertConfig& c = encoder_->config();
  inputs_.clear();
  for (const PlannedChunk& chunk : plan.chunks) {
    const auto n = static_cast<int64_t>(chunk.tokens.size());
    if (chunk.start_pos != 0 || n < 1 || n > c.max_positions) {
      std::fprintf(stderr,
                   "shardserve: rank %d: step %llu: input %lld of %lld tokens at position %lld "
                   "cannot be encoded (1..%lld tokens from position 0)\n",
                   rank(), static_cast<unsigned long long>(plan.step_id),
                   static_cast<long long>(chunk.seq), static_cast<long long>(n),
                   static_cast<long long>(chunk.start_pos),
                   static_cast<long long>(c.max_positions));
      std::exit(3);
    }
    inputs_.emplace_back(chunk.tokens);
  }
  std::vector<float>& out = outputs ? *outputs : embeddings_;
  out.resize(inputs_.size() * static_cast<size_t>(c.dim));
  if (!inputs_.empty()) encoder_->encode(inputs_, *pool_, combiner_.get(), out.data());
}

}  // namespace shardserve
