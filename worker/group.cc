#include "worker/group.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "parallel/mpi_check.h"

namespace shardserve {

class GroupMember::GroupPartialSum final : public PartialSum {
 public:
  explicit GroupPartialSum(Collectives& c) : c_(c) {}
  void all_reduce_sum(float* data, int64_t n) override { c_.all_reduce_sum(data, n); }

 private:
  Collectives& c_;
};

Result<std::unique_ptr<GroupMember>> GroupMember::create(MPI_Comm comm, const gguf::File& file,
                                                         const GroupOptions& options) {
  std::unique_ptr<GroupMember> m(new GroupMember());
  m->comm_ = comm;
  m->collectives_ = make_mpi_collectives(comm, {.timeout_s = options.collective_timeout_s});
  m->partial_sum_ = std::make_unique<GroupPartialSum>(*m->collectives_);
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

GroupMember::~GroupMember() = default;

void GroupMember::lead(const StepPlan& plan, std::vector<float>& logits) {
  std::vector<uint8_t> bytes = encode_step_plan(plan);
  if (tp() > 1) {
    int64_t size = static_cast<int64_t>(bytes.size());
    broadcast_when_ready(comm_, &size, sizeof size, 0);
    collectives_->broadcast(bytes.data(), size, 0);
  }
  run(plan, &logits);
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

void GroupMember::run(const StepPlan& plan, std::vector<float>* logits) {
  if (plan.step_id != last_step_ + 1) {
    std::fprintf(stderr,
                 "shardserve: rank %d: step plan %llu arrived after %llu; the group's KV "
                 "caches would diverge. Exiting.\n",
                 rank(), static_cast<unsigned long long>(plan.step_id),
                 static_cast<unsigned long long>(last_step_));
    std::exit(3);
  }
  last_step_ = plan.step_id;
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
    if (logits) logits->clear();
    return;
  }
  model_->forward(chunks_, *kv_, *pool_, partial_sum_.get(), logits);
}

}  // namespace shardserve
