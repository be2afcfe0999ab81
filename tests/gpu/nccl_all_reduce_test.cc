// The NCCL backend of Collectives (parallel/nccl_collectives.h) against serial sums: run under
// mpirun with one rank per GPU (rank r uses device r); with one GPU, a group of one, which runs
// the same NCCL calls. Skips with the reason where no device exists or there are more ranks
// than devices. The bootstrap test runs everywhere: a rank that cannot start must not leave
// the others waiting.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cstdio>

#include "parallel/nccl_collectives.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve {
namespace {

using gpu::testing::to_device;
using gpu::testing::to_host;

// What rank r contributes at index i: exact in float, distinct per rank.
float contribution(int r, int64_t i) {
  return static_cast<float>((i * 7 + r * 13) % 101) * 0.25f - static_cast<float>(r);
}

std::unique_ptr<Collectives> make_group(std::string* skip) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int n_devices = gpu::cuda_device_count();
  if (n_devices == 0) {
    *skip = *gpu::testing::skip_reason();
    return nullptr;
  }
  if (size > n_devices) {  // NCCL cannot put two ranks of one communicator on one GPU
    *skip = std::to_string(size) + " ranks but " + std::to_string(n_devices) + " GPUs";
    return nullptr;
  }
  auto c = make_nccl_collectives(MPI_COMM_WORLD, rank);
  if (!c.ok()) {
    ADD_FAILURE() << c.error().message;
    return nullptr;
  }
  return std::move(*c);
}

TEST(NcclCollectives, AllReduceEqualsTheSerialSum) {
  std::string skip;
  std::unique_ptr<Collectives> group = make_group(&skip);
  if (!group) GTEST_SKIP() << skip;
  EXPECT_STREQ(group->backend(), "nccl");
  for (int64_t n : {int64_t{1}, int64_t{576}, int64_t{49152 + 3}}) {
    std::vector<float> mine(n), expected(n, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      mine[i] = contribution(group->rank(), i);
      for (int r = 0; r < group->size(); ++r) expected[i] += contribution(r, i);
    }
    gpu::DeviceBuffer<float> d = to_device(mine);
    group->all_reduce_sum(d.data(), n);
    EXPECT_EQ(to_host(d), expected) << "n = " << n << ", " << group->size() << " ranks";
  }
}

TEST(NcclCollectives, AllGatherOfUnevenBlocks) {
  std::string skip;
  std::unique_ptr<Collectives> group = make_group(&skip);
  if (!group) GTEST_SKIP() << skip;
  std::vector<int64_t> counts;
  std::vector<float> expected;
  for (int r = 0; r < group->size(); ++r) {
    counts.push_back(5 + 3 * r);
    for (int64_t i = 0; i < counts.back(); ++i) expected.push_back(contribution(r, i));
  }
  std::vector<float> mine(counts[group->rank()]);
  for (int64_t i = 0; i < counts[group->rank()]; ++i) mine[i] = contribution(group->rank(), i);
  gpu::DeviceBuffer<float> send = to_device(mine), recv(expected.size());
  group->all_gather(send.data(), recv.data(), counts);
  EXPECT_EQ(to_host(recv), expected);
}

// GPU-NOTES item 3: the last rank names a device that does not exist. Every rank must return
// an Error (the others' naming that rank) promptly, none wait in the id's broadcast or in
// NCCL's own set-up.
TEST(NcclBootstrap, ARankThatCannotStartFailsEveryRankWithoutWaiting) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const auto start = std::chrono::steady_clock::now();
  auto c = make_nccl_collectives(MPI_COMM_WORLD, rank == size - 1 ? 999 : rank, {.timeout_s = 20});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(c.ok()) << "rank " << rank << " started an NCCL group with a missing device";
  EXPECT_LT(seconds, 15.0) << c.error().message;
  const std::string& why = c.error().message;
  if (rank == size - 1 || gpu::cuda_device_count() == 0)
    EXPECT_NE(why.find("rank " + std::to_string(rank) + ": "), std::string::npos) << why;
  else
    EXPECT_NE(why.find("rank " + std::to_string(size - 1) + " of " + std::to_string(size)),
              std::string::npos)
        << why;
}

}  // namespace
}  // namespace shardserve

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0)
    delete ::testing::UnitTest::GetInstance()->listeners().Release(
        ::testing::UnitTest::GetInstance()->listeners().default_result_printer());
  const int result = RUN_ALL_TESTS();
  int worst = 0;
  MPI_Allreduce(&result, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
