// The cuda backend of a worker rank, as `shardserve worker` sees it: one function that loads
// this rank's shard of a chat model onto its GPU behind the RankModel interface the group
// drives (model/rank_model.h), whatever the build. A build with CUDA and NCCL links
// cuda_group.cc; a build without links cuda_group_unavailable.cc, which refuses with the reason.
//
// What a loaded rank holds: CudaLlamaModel (model/cuda/cuda_llama_model.h) on `device`, its KV
// cache on that device (reserve_kv), and for tp > 1 the group's NCCL communicator
// (parallel/nccl_collectives.h), bootstrapped over `comm` with bounded waits and owned by the
// returned model, which outlives nothing it needs. The step protocol stays the group's (plans
// over MPI in host memory, worker/group.h); NCCL carries only the row-parallel sums.
// Threading: call from the thread that makes the rank's MPI calls; the model then runs there.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "model/gguf/gguf.h"
#include "model/rank_model.h"

namespace shardserve::cli {

struct CudaRankOptions {
  int device = 0;                      // this rank's CUDA device (GroupConfig::device_of_rank)
  int64_t context_length = 0;          // positions a sequence may reach (the group's context)
  int64_t max_step_tokens = 512;       // the scheduler's max_batch_tokens
  int64_t max_step_chunks = 32;        // the scheduler's max_batch
  double collective_timeout_s = 60.0;  // NCCL bootstrap and collectives
};

// Why this build cannot run cuda groups, or nullopt when it can. Never fails otherwise.
std::optional<std::string> cuda_backend_missing();

// Collective over `comm` (the group's communicator, tp ranks): rank `rank` of `tp` of the
// chat model in `file` (which must outlive the model) on options.device. An Error on every
// rank when any rank cannot join the NCCL communicator; an Error on this rank for no device,
// a device that does not exist, a model the CUDA path cannot run, memory that does not fit,
// or a build without the backend (cuda_backend_missing()).
Result<std::unique_ptr<RankModel>> load_cuda_rank_model(MPI_Comm comm, const gguf::File& file,
                                                        int tp, int rank,
                                                        const CudaRankOptions& options);

}  // namespace shardserve::cli
