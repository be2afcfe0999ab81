// NCCL backend: device buffers; deterministic sums (gather, then add in rank order).
#include "parallel/nccl_collectives.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "base/check.h"
#include "parallel/agree.h"
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

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Polls a nonblocking communicator until it leaves ncclInProgress or `timeout_s` pass; returns
// its state (ncclInProgress after a timeout). Sleeps a little between polls after the first
// millisecond, so a slow peer does not cost a spinning core.
ncclResult_t settle(ncclComm_t comm, double timeout_s) {
  const auto start = Clock::now();
  for (int polls = 0;; ++polls) {
    ncclResult_t state = ncclSuccess;
    if (ncclResult_t r = ncclCommGetAsyncError(comm, &state); r != ncclSuccess) return r;
    if (state != ncclInProgress || seconds_since(start) > timeout_s) return state;
    if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

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
    // A nonblocking communicator finalizes in the background: destroy it once that is done,
    // abort it if it does not finish in time.
    const ncclResult_t r = ncclCommFinalize(comm_);
    if ((r == ncclSuccess || r == ncclInProgress) &&
        settle(comm_, options_.timeout_s) == ncclSuccess)
      ncclCommDestroy(comm_);
    else
      ncclCommAbort(comm_);
    cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }

  void all_reduce_sum(float* data, int64_t n) override {
    if (n == 0) return;
    float* gathered = scratch(static_cast<size_t>(n) * size_);
    enqueued(ncclAllGather(data, gathered, n, ncclFloat, comm_, stream_), "all_reduce_sum");
    CUDA_OK(sum_partials_in_rank_order(gathered, size_, n, data, stream_));
    wait("all_reduce_sum");
  }

  void all_gather(const float* send, float* recv, std::span<const int64_t> counts) override {
    SS_CHECK(static_cast<int>(counts.size()) == size_, "one count per rank");
    // Uneven blocks: one broadcast per rank, rooted at the owner of the block.
    enqueued(ncclGroupStart(), "all_gather");
    int64_t offset = 0;
    for (int r = 0; r < size_; ++r) {
      enqueued(ncclBroadcast(r == rank_ ? send : recv + offset, recv + offset, counts[r], ncclFloat,
                             r, comm_, stream_),
               "all_gather");
      offset += counts[r];
    }
    enqueued(ncclGroupEnd(), "all_gather");
    wait("all_gather");
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    enqueued(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_), "broadcast");
    wait("broadcast");
  }

  void barrier() override {
    float* one = scratch(1);
    enqueued(ncclAllReduce(one, one, 1, ncclFloat, ncclSum, comm_, stream_), "barrier");
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

  [[noreturn]] void give_up(const char* operation, const char* why) {
    std::fprintf(stderr,
                 "shardserve: rank %d of %d (GPU %d): NCCL %s %s; a peer rank has died or "
                 "stopped answering. Exiting so the group can be restarted.\n",
                 rank_, size_, device_, operation, why);
    ncclCommAbort(comm_);
    std::_Exit(3);
  }

  // An NCCL call on the nonblocking communicator may return ncclInProgress while NCCL queues
  // the work in the background: nothing may be queued after it until that is done.
  void enqueued(ncclResult_t r, const char* operation) {
    if (r == ncclSuccess) return;
    if (r != ncclInProgress) give_up(operation, ncclGetErrorString(r));
    const ncclResult_t state = settle(comm_, options_.timeout_s);
    if (state == ncclInProgress) give_up(operation, "timed out while queuing");
    if (state != ncclSuccess) give_up(operation, ncclGetErrorString(state));
  }

  // Waits for the stream with a deadline, watching NCCL's asynchronous errors.
  void wait(const char* operation) {
    const auto start = Clock::now();
    for (;;) {
      const cudaError_t status = cudaStreamQuery(stream_);
      if (status == cudaSuccess) return;
      if (status != cudaErrorNotReady) CUDA_OK(status);
      ncclResult_t async = ncclSuccess;
      if (ncclResult_t r = ncclCommGetAsyncError(comm_, &async); r != ncclSuccess)
        give_up(operation, ncclGetErrorString(r));
      if (async != ncclSuccess && async != ncclInProgress)
        give_up(operation, ncclGetErrorString(async));
      if (seconds_since(start) > options_.timeout_s) give_up(operation, "timed out");
    }
  }

  ncclComm_t comm_;
  cudaStream_t stream_;
  int rank_, size_, device_;
  CollectiveOptions options_;
  float* scratch_ = nullptr;
  size_t scratch_size_ = 0;
};

// Step 1 of the bootstrap on this rank: the device exists and is selected.
Status select_device(int device, int rank) {
  int n_devices = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&n_devices); e != cudaSuccess) {
    cudaGetLastError();
    return Error::unavailable("rank " + std::to_string(rank) + ": no CUDA device (" +
                              cudaGetErrorString(e) + ")");
  }
  if (device < 0 || device >= n_devices)
    return Error::invalid_input("rank " + std::to_string(rank) + ": CUDA device " +
                                std::to_string(device) + " does not exist (this host has " +
                                std::to_string(n_devices) + "); check the group's devices");
  if (const cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
    return Error::unavailable("rank " + std::to_string(rank) + ": cannot select CUDA device " +
                              std::to_string(device) + ": " + cudaGetErrorString(e));
  return {};
}

// Step 3: this rank's communicator, created without blocking and waited for with a deadline.
// On failure *comm is null (a communicator that failed or timed out is aborted here).
Status init_communicator(ncclComm_t* comm, int size, const ncclUniqueId& id, int rank,
                         double timeout_s) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  *comm = nullptr;
  const ncclResult_t r = ncclCommInitRankConfig(comm, size, id, rank, &config);
  ncclResult_t state = r;
  if (r == ncclSuccess || r == ncclInProgress) state = settle(*comm, timeout_s);
  if (state == ncclSuccess) return {};
  const std::string why = state == ncclInProgress ? "timed out after " + std::to_string(timeout_s) +
                                                        " s (a peer rank did not join)"
                                                  : std::string(ncclGetErrorString(state));
  if (*comm) ncclCommAbort(*comm);
  *comm = nullptr;
  return Error::unavailable("rank " + std::to_string(rank) + ": creating the NCCL communicator " +
                            "of " + std::to_string(size) + " ranks failed: " + why);
}

}  // namespace

Result<std::unique_ptr<Collectives>> make_nccl_collectives(MPI_Comm comm, int device,
                                                           CollectiveOptions options) {
  int rank = 0, size = 0;
  MPI_CHECK(MPI_Comm_rank(comm, &rank));
  MPI_CHECK(MPI_Comm_size(comm, &size));

  // Steps 1 and 2: no rank leaves before the broadcast unless every rank does.
  Status local = select_device(device, rank);
  ncclUniqueId id{};
  if (local.ok() && rank == 0)
    if (const ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess)
      local = Error::unavailable(std::string("rank 0: ncclGetUniqueId failed: ") +
                                 ncclGetErrorString(r));
  if (Status all = agree(comm, local, "select its GPU for NCCL"); !all) return all.error();
  MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm));

  // Steps 3 and 4.
  ncclComm_t nccl = nullptr;
  const Status init = init_communicator(&nccl, size, id, rank, options.timeout_s);
  if (Status all = agree(comm, init, "create its NCCL communicator"); !all) {
    if (nccl) ncclCommAbort(nccl);
    return all.error();
  }
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return std::unique_ptr<Collectives>(
      new NcclCollectives(nccl, stream, rank, size, device, options));
}

}  // namespace shardserve
