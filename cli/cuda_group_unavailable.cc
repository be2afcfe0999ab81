// The cuda backend of a worker rank in a build without CUDA or NCCL (cli/cuda_group.h): it
// says so. SHARDSERVE_NO_CUDA_REASON is set by cli/CMakeLists.txt.
#include "cli/cuda_group.h"

#ifndef SHARDSERVE_NO_CUDA_REASON
#define SHARDSERVE_NO_CUDA_REASON "CMake found no CUDA toolkit"
#endif

namespace shardserve::cli {

std::optional<std::string> cuda_backend_missing() {
  return std::string("this shardserve was built without the CUDA backend (") +
         SHARDSERVE_NO_CUDA_REASON +
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
