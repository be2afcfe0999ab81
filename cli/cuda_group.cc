// The cuda backend of a worker rank in a build with CUDA and NCCL (cli/cuda_group.h).
#include "cli/cuda_group.h"

#include <utility>

#include "model/cuda/cuda_llama_model.h"
#include "parallel/nccl_collectives.h"

namespace shardserve::cli {
namespace {

// The rank's model together with the communicator it sums through: the communicator is
// declared first so that it is destroyed after the model.
class CudaRankModel final : public RankModel {
 public:
  CudaRankModel(std::unique_ptr<Collectives> nccl, std::unique_ptr<CudaLlamaModel> model)
      : nccl_(std::move(nccl)), model_(std::move(model)) {}

  int64_t output_width() const override { return model_->output_width(); }
  std::optional<KvCacheShape> kv_shape(int64_t n_blocks, int64_t block_size) const override {
    return model_->kv_shape(n_blocks, block_size);
  }
  Status reserve_kv(const KvCacheShape& shape) override { return model_->reserve_kv(shape); }
  Status forward(std::span<const SeqChunk> chunks, KvCache* kv, const StepResources& resources,
                 std::vector<float>* outputs) override {
    return model_->forward(chunks, kv, resources, outputs);
  }

 private:
  std::unique_ptr<Collectives> nccl_;  // null for tp 1
  std::unique_ptr<CudaLlamaModel> model_;
};

}  // namespace

std::optional<std::string> cuda_backend_missing() {
  return std::nullopt;
}

Result<std::unique_ptr<RankModel>> load_cuda_rank_model(MPI_Comm comm, const gguf::File& file,
                                                        int tp, int rank,
                                                        const CudaRankOptions& options) {
  // A group of one sums nothing across ranks: no communicator to create (or to fail).
  std::unique_ptr<Collectives> nccl;
  if (tp > 1) {
    auto made =
        make_nccl_collectives(comm, options.device, {.timeout_s = options.collective_timeout_s});
    if (!made)
      return Error{"the group's NCCL communicator: " + made.error().message +
                       "; check the group's devices, or set backend: cpu",
                   made.error().code};
    nccl = std::move(*made);
  }
  auto model = CudaLlamaModel::load(file, tp, rank, options.device, nccl.get(),
                                    {.context_length = options.context_length,
                                     .max_step_tokens = options.max_step_tokens,
                                     .max_step_chunks = options.max_step_chunks});
  if (!model) return model.error();
  return std::unique_ptr<RankModel>(new CudaRankModel(std::move(nccl), std::move(*model)));
}

}  // namespace shardserve::cli
