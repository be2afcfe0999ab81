// The cuda backend of a build without CUDA (cli/cuda_group_unavailable.cc) refuses cuda groups
// with a message that says why and what to do; built and run in every build.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "cli/cuda_group.h"

namespace shardserve::cli {
namespace {

constexpr const char* kModel = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

TEST(CudaGroupUnavailable, SaysWhyAndWhatToDo) {
  const std::optional<std::string> why = cuda_backend_missing();
  ASSERT_TRUE(why.has_value());
  const bool sibling = why->find("shardserve-cuda") != std::string::npos;
  if (!sibling) {  // a build without CUDA: how to get it
    EXPECT_NE(why->find("built without the CUDA backend"), std::string::npos) << *why;
    EXPECT_NE(why->find("-DSHARDSERVE_CUDA=ON"), std::string::npos) << *why;
  }
  EXPECT_NE(why->find("backend: cpu"), std::string::npos) << *why;
}

TEST(CudaGroupUnavailable, LoadingRefusesWithTheSameMessage) {
  if (!std::filesystem::exists(kModel)) GTEST_SKIP() << kModel << " absent";
  auto file = gguf::File::open(kModel);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto model = load_cuda_rank_model(MPI_COMM_NULL, **file, 1, 0, {.device = 0});
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.error().code, ErrorCode::kInvalidInput);
  EXPECT_EQ(model.error().message, *cuda_backend_missing());
}

}  // namespace
}  // namespace shardserve::cli
