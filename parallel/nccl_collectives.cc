// NCCL backend: device buffers; deterministic sums (gather, then add in rank order).
#include "parallel/nccl_collectives.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/check.h"
#include "parallel/mpi_check.h"
#include "parallel/sum_partials.h"

namespace shardserve {
namespace {

#define CUDA_OK(call)                                                           \
  do {                                                                          \
    cudaError_t e_ = (call);                                                    \
    if (e_ != cudaSuccess) {                                                    \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                   cudaGetErrorString(e_));                                     \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

#define NCCL_OK(call)                                                           \
  do {                                                                          \
    ncclResult_t r_ = (call);                                                   \
    if (r_ != ncclSuccess) {                                                    \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                   ncclGetErrorString(r_));                                     \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

class NcclCollectives final : public Collectives {
 public:
  NcclCollectives(ncclComm_t comm, cudaStream_t stream, int rank, int size, int device,
                  CollectiveOptions options)
      : comm_(comm),
        stream_(stream),
        rank_(rank),
        size_(size),
        device_(device),
        options_(options) {}

  ~NcclCollectives() override {
    if (scratch_) cudaFree(scratch_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }

  void all_reduce_sum(float* data, int64_t n) override {
    if (size_ == 1 || n == 0) return;
    float* gathered = scratch(static_cast<size_t>(n) * size_);
    NCCL_OK(ncclAllGather(data, gathered, n, ncclFloat, comm_, stream_));
    sum_partials_in_rank_order(gathered, size_, n, data, stream_);
    wait("all_reduce_sum");
  }

  void all_gather(const float* send, float* recv, std::span<const int64_t> counts) override {
    SS_CHECK(static_cast<int>(counts.size()) == size_, "one count per rank");
    // Uneven blocks: one broadcast per rank, rooted at the owner of the block.
    NCCL_OK(ncclGroupStart());
    int64_t offset = 0;
    for (int r = 0; r < size_; ++r) {
      NCCL_OK(ncclBroadcast(r == rank_ ? send : recv + offset, recv + offset, counts[r], ncclFloat,
                            r, comm_, stream_));
      offset += counts[r];
    }
    NCCL_OK(ncclGroupEnd());
    wait("all_gather");
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    NCCL_OK(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_));
    wait("broadcast");
  }

  void barrier() override {
    float* one = scratch(1);
    NCCL_OK(ncclAllReduce(one, one, 1, ncclFloat, ncclSum, comm_, stream_));
    wait("barrier");
  }

 private:
  float* scratch(size_t n) {
    if (n > scratch_size_) {
      if (scratch_) CUDA_OK(cudaFree(scratch_));
      CUDA_OK(cudaMalloc(&scratch_, n * sizeof(float)));
      scratch_size_ = n;
    }
    return scratch_;
  }

  // Waits for the stream with a deadline, watching NCCL's asynchronous errors.
  void wait(const char* operation) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      cudaError_t status = cudaStreamQuery(stream_);
      if (status == cudaSuccess) return;
      if (status != cudaErrorNotReady) CUDA_OK(status);
      ncclResult_t async = ncclSuccess;
      NCCL_OK(ncclCommGetAsyncError(comm_, &async));
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (async != ncclSuccess || waited > options_.timeout_s) {
        std::fprintf(stderr,
                     "shardserve: rank %d of %d (GPU %d): NCCL %s %s; a peer rank has died or "
                     "stopped answering. Exiting so the group can be restarted.\n",
                     rank_, size_, device_, operation,
                     async != ncclSuccess ? ncclGetErrorString(async) : "timed out");
        ncclCommAbort(comm_);
        std::_Exit(3);
      }
    }
  }

  ncclComm_t comm_;
  cudaStream_t stream_;
  int rank_, size_, device_;
  CollectiveOptions options_;
  float* scratch_ = nullptr;
  size_t scratch_size_ = 0;
};

}  // namespace

Result<std::unique_ptr<Collectives>> make_nccl_collectives(MPI_Comm comm, int device,
                                                           CollectiveOptions options) {
  int rank = 0, size = 0;
  MPI_CHECK(MPI_Comm_rank(comm, &rank));
  MPI_CHECK(MPI_Comm_size(comm, &size));
  int n_devices = 0;
  if (cudaGetDeviceCount(&n_devices) != cudaSuccess || device < 0 || device >= n_devices)
    return Error{"rank " + std::to_string(rank) + ": CUDA device " + std::to_string(device) +
                 " is not available (this host has " + std::to_string(n_devices) + ")"};
  if (cudaSetDevice(device) != cudaSuccess)
    return Error{"cannot select CUDA device " + std::to_string(device)};
  ncclUniqueId id{};
  if (rank == 0) NCCL_OK(ncclGetUniqueId(&id));
  MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm));
  ncclComm_t nccl = nullptr;
  if (ncclResult_t r = ncclCommInitRank(&nccl, size, id, rank); r != ncclSuccess)
    return Error{"ncclCommInitRank failed on rank " + std::to_string(rank) + ": " +
                 ncclGetErrorString(r)};
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return std::unique_ptr<Collectives>(
      new NcclCollectives(nccl, stream, rank, size, device, options));
}

}  // namespace shardserve
