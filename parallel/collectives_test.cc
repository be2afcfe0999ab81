// Collectives against a serial computation, run under mpirun with 1, 2 and 3 ranks
// (see parallel/CMakeLists.txt). Every rank can compute every rank's input, so each checks
// the exact expected bits locally.
#include <gtest/gtest.h>
#include <mpi.h>

#include <numeric>
#include <vector>

#include "parallel/collectives.h"
#include "parallel/mpi_env.h"

namespace shardserve {
namespace {

float input(int rank, int64_t i) {
  return 0.1f * static_cast<float>((i * 7919 + rank * 104729) % 1000) - 37.3f;
}

class CollectivesTest : public ::testing::Test {
 protected:
  void SetUp() override { c_ = make_mpi_collectives(MPI_COMM_WORLD, {.timeout_s = 30}); }
  std::unique_ptr<Collectives> c_;
};

TEST_F(CollectivesTest, AllReduceSumAddsInRankOrder) {
  for (int64_t n : {1, 7, 576, 100003}) {
    std::vector<float> data(n);
    for (int64_t i = 0; i < n; ++i) data[i] = input(c_->rank(), i);
    c_->all_reduce_sum(data.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      float expected = input(0, i);
      for (int r = 1; r < c_->size(); ++r) expected += input(r, i);
      ASSERT_EQ(data[i], expected) << "n=" << n << " i=" << i;  // exact: same order
    }
  }
}

TEST_F(CollectivesTest, AllGatherWithUnevenCounts) {
  std::vector<int64_t> counts(c_->size());
  for (int r = 0; r < c_->size(); ++r) counts[r] = 3 * r + 1;
  std::vector<float> send(counts[c_->rank()]);
  for (int64_t i = 0; i < counts[c_->rank()]; ++i) send[i] = input(c_->rank(), i);
  std::vector<float> recv(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  c_->all_gather(send.data(), recv.data(), counts);
  int64_t at = 0;
  for (int r = 0; r < c_->size(); ++r)
    for (int64_t i = 0; i < counts[r]; ++i) ASSERT_EQ(recv[at++], input(r, i));
}

TEST_F(CollectivesTest, BroadcastFromEveryRoot) {
  for (int root = 0; root < c_->size(); ++root) {
    for (int64_t bytes : {1, 1000, 1 << 20}) {
      std::vector<char> buf(bytes, c_->rank() == root ? static_cast<char>(root + 1) : 0);
      c_->broadcast(buf.data(), bytes, root);
      for (char b : buf) ASSERT_EQ(b, static_cast<char>(root + 1));
    }
  }
}

TEST_F(CollectivesTest, BroadcastWhenReadyWaitsForALateRoot) {
  int value = c_->rank() == 0 ? 42 : 0;
  if (c_->rank() == 0) MPI_Barrier(MPI_COMM_WORLD);  // root arrives after the others wait
  if (c_->rank() != 0) MPI_Barrier(MPI_COMM_WORLD);
  broadcast_when_ready(MPI_COMM_WORLD, &value, sizeof value, 0);
  EXPECT_EQ(value, 42);
  c_->barrier();
}

}  // namespace
}  // namespace shardserve

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto env = shardserve::MpiEnv::init(&argc, &argv);
  if (!env.ok()) {
    std::fprintf(stderr, "%s\n", env.error().message.c_str());
    return 1;
  }
  if ((*env)->world_rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  delete *env;
  return any_failed;
}
