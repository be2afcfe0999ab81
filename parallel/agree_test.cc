// agree() under mpirun with 1, 2 and 3 ranks (parallel/CMakeLists.txt): every rank gets the
// same verdict, and the ranks that did not fail learn which rank did and why.
#include "parallel/agree.h"

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <string>

#include "parallel/mpi_env.h"

namespace shardserve {
namespace {

int rank_of_world() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int size_of_world() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

TEST(Agree, SucceedsWhenEveryRankSucceeds) {
  EXPECT_TRUE(agree(MPI_COMM_WORLD, Status{}, "start").ok());
}

TEST(Agree, OneFailingRankFailsEveryRank) {
  const int failing = size_of_world() - 1;
  const int rank = rank_of_world();
  const Status mine =
      rank == failing ? Status(Error::unavailable("CUDA device 7 does not exist")) : Status{};
  const Status all = agree(MPI_COMM_WORLD, mine, "select its GPU");
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.code(), ErrorCode::kUnavailable);
  if (rank == failing) {
    EXPECT_EQ(all.message(), "CUDA device 7 does not exist");
  } else {
    EXPECT_EQ(all.message(), "rank " + std::to_string(failing) + " of " +
                                 std::to_string(size_of_world()) +
                                 " could not select its GPU: CUDA device 7 does not exist");
  }
}

TEST(Agree, TheLowestFailingRankIsNamed) {
  const int rank = rank_of_world();
  const Status mine = rank >= 1 || size_of_world() == 1
                          ? Status(Error{"failure on rank " + std::to_string(rank)})
                          : Status{};
  const Status all = agree(MPI_COMM_WORLD, mine, "start");
  ASSERT_FALSE(all.ok());
  if (!mine.ok())
    EXPECT_EQ(all.message(), mine.message());
  else
    EXPECT_NE(all.message().find("rank 1 of"), std::string::npos) << all.message();
  EXPECT_EQ(all.code(), ErrorCode::kInternal);
}

// The communicator stays usable after a failed agreement (nothing left in flight).
TEST(Agree, CommunicatorStaysUsable) {
  (void)agree(MPI_COMM_WORLD, Status(Error{"x"}), "start");
  int one = 1, sum = 0;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(sum, size_of_world());
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
