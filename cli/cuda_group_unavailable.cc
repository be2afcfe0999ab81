// The cuda backend of a worker rank in `shardserve`, which leaves the CUDA libraries out
// (cli/cuda_group.h): it says why and what runs cuda groups (shardserve-cuda, where built).
// SHARDSERVE_NO_CUDA_REASON is set by cli/CMakeLists.txt.
#include "cli/cuda_group.h"

#ifndef SHARDSERVE_NO_CUDA_REASON
#define SHARDSERVE_NO_CUDA_REASON "CMake found no CUDA toolkit"
#endif

namespace shardserve::cli {

std::optional<std::string> cuda_backend_missing() {
  const std::string reason = SHARDSERVE_NO_CUDA_REASON;
  if (reason.empty())  // this build has shardserve-cuda beside shardserve
    return std::string(
        "this is shardserve without the CUDA libraries (linked in, they would cost the "
        "coordinator and every CPU rank ~190 MiB); cuda groups run with shardserve-cuda from "
        "the same build: `shardserve up` starts them with it; under mpirun by hand, name "
        "shardserve-cuda instead of shardserve, or set backend: cpu for this group");
  return "this shardserve was built without the CUDA backend (" + reason +
         "); rebuild with the CUDA toolkit, cuBLAS and NCCL installed (cmake "
         "-DSHARDSERVE_CUDA=ON) or set backend: cpu for this group";
}

Result<std::unique_ptr<RankModel>> load_cuda_rank_model(MPI_Comm /*comm*/,
                                                        const gguf::File& /*file*/, int /*tp*/,
                                                        int /*rank*/,
                                                        const CudaRankOptions& /*options*/) {
  return Error::invalid_input(*cuda_backend_missing());
}

}  // namespace shardserve::cli
