// MPI backend of Collectives: host buffers, deterministic rank-ordered sums.
#include <algorithm>
#include <chrono>
#include <climits>
#include <string>
#include <thread>
#include <vector>

#include "base/check.h"
#include "parallel/collectives.h"
#include "parallel/mpi_check.h"
#include "parallel/watchdog.h"

namespace shardserve {
namespace {

// MPI counts are int: broadcasts move in pieces of at most this many bytes.
constexpr int64_t kMaxPiece = INT_MAX / 2;

class MpiCollectives final : public Collectives {
 public:
  MpiCollectives(MPI_Comm comm, CollectiveOptions options)
      : comm_(comm), watchdog_(describe(comm), options.timeout_s) {
    MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }

  void all_reduce_sum(float* data, int64_t n) override {
    if (size_ == 1 || n == 0) return;
    // Gather every rank's partials, then add them in rank order: the same bits on every
    // rank and for every run, unlike MPI_Allreduce whose order depends on the algorithm.
    gathered_.resize(static_cast<size_t>(n) * size_);
    counts_.assign(size_, n);
    all_gather(data, gathered_.data(), counts_);
    std::copy(gathered_.begin(), gathered_.begin() + n, data);
    for (int r = 1; r < size_; ++r) {
      const float* part = gathered_.data() + static_cast<size_t>(r) * n;
      for (int64_t i = 0; i < n; ++i) data[i] += part[i];
    }
  }

  void all_gather(const float* send, float* recv, std::span<const int64_t> counts) override {
    SS_CHECK(static_cast<int>(counts.size()) == size_, "one count per rank");
    std::vector<int64_t> offset(size_ + 1, 0);
    for (int r = 0; r < size_; ++r) offset[r + 1] = offset[r] + counts[r];
    std::vector<int> piece(size_), displ(size_);
    watchdog_.arm("all_gather");
    if (offset[size_] <= INT_MAX) {  // the usual case: one call, straight into place
      for (int r = 0; r < size_; ++r) {
        piece[r] = static_cast<int>(counts[r]);
        displ[r] = static_cast<int>(offset[r]);
      }
      MPI_CHECK(MPI_Allgatherv(send, piece[rank_], MPI_FLOAT, recv, piece.data(), displ.data(),
                               MPI_FLOAT, comm_));
    } else {
      // MPI counts are int: move the blocks in rounds of at most `step` elements per rank.
      const int64_t step = INT_MAX / size_;
      const int64_t longest = *std::max_element(counts.begin(), counts.end());
      std::vector<float> staging;
      for (int64_t start = 0; start < longest; start += step) {
        int total = 0;
        for (int r = 0; r < size_; ++r) {
          piece[r] = static_cast<int>(std::clamp<int64_t>(counts[r] - start, 0, step));
          displ[r] = total;
          total += piece[r];
        }
        staging.resize(total);
        MPI_CHECK(MPI_Allgatherv(send + std::min(start, counts[rank_]), piece[rank_], MPI_FLOAT,
                                 staging.data(), piece.data(), displ.data(), MPI_FLOAT, comm_));
        for (int r = 0; r < size_; ++r)
          std::copy_n(staging.data() + displ[r], piece[r], recv + offset[r] + start);
      }
    }
    watchdog_.disarm();
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    watchdog_.arm("broadcast");
    auto* p = static_cast<char*>(data);
    for (int64_t done = 0; done < bytes; done += kMaxPiece) {
      const int piece = static_cast<int>(std::min(kMaxPiece, bytes - done));
      MPI_CHECK(MPI_Bcast(p + done, piece, MPI_BYTE, root, comm_));
    }
    watchdog_.disarm();
  }

  void barrier() override {
    watchdog_.arm("barrier");
    MPI_CHECK(MPI_Barrier(comm_));
    watchdog_.disarm();
  }

 private:
  static std::string describe(MPI_Comm comm) {
    int world = 0, rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    return "rank " + std::to_string(rank) + " of " + std::to_string(size) + " (world rank " +
           std::to_string(world) + ")";
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  Watchdog watchdog_;
  std::vector<float> gathered_;
  std::vector<int64_t> counts_;
};

}  // namespace

std::unique_ptr<Collectives> make_mpi_collectives(MPI_Comm comm, CollectiveOptions options) {
  return std::make_unique<MpiCollectives>(comm, options);
}

void broadcast_when_ready(MPI_Comm comm, void* data, int64_t bytes, int root) {
  SS_CHECK(bytes <= INT_MAX, "broadcast_when_ready moves at most INT_MAX bytes");
  MPI_Request request;
  MPI_CHECK(MPI_Ibcast(data, static_cast<int>(bytes), MPI_BYTE, root, comm, &request));
  auto pause = std::chrono::microseconds(5);
  for (;;) {
    int done = 0;
    MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

}  // namespace shardserve
