#include "coordinator/serving/route_path.h"

#include <gtest/gtest.h>

namespace shardserve {
namespace {

TEST(RoutePath, LiteralPathsMatchExactly) {
  EXPECT_TRUE(match_route_path("/v1/files", "/v1/files", nullptr));
  EXPECT_FALSE(match_route_path("/v1/files", "/v1/files/", nullptr));
  EXPECT_FALSE(match_route_path("/v1/files", "/v1/file", nullptr));
  EXPECT_FALSE(match_route_path("/v1/files", "/v1/filesx", nullptr));
}

TEST(RoutePath, SegmentsAreCapturedInOrder) {
  std::vector<std::string> p;
  ASSERT_TRUE(
      match_route_path("/v1/vector_stores/{}/files/{}", "/v1/vector_stores/vs_1/files/file-2", &p));
  EXPECT_EQ(p, (std::vector<std::string>{"vs_1", "file-2"}));
  p.clear();
  ASSERT_TRUE(match_route_path("/v1/files/{}/content", "/v1/files/file-9/content", &p));
  EXPECT_EQ(p, (std::vector<std::string>{"file-9"}));
}

TEST(RoutePath, ASegmentIsNeverEmptyAndNeverSpansSlashes) {
  std::vector<std::string> p;
  EXPECT_FALSE(match_route_path("/v1/files/{}", "/v1/files/", &p));
  EXPECT_FALSE(match_route_path("/v1/files/{}", "/v1/files/a/b", &p));
  EXPECT_FALSE(match_route_path("/v1/vector_stores/{}/search", "/v1/vector_stores//search", &p));
  EXPECT_FALSE(match_route_path("/v1/files/{}/content", "/v1/files/a/contents", &p));
  EXPECT_TRUE(p.empty()) << "nothing is captured from a failed match";
}

TEST(RoutePath, TheRestMatchesSlashes) {
  std::vector<std::string> p;
  ASSERT_TRUE(match_route_path("/v1/models/{*}", "/v1/models/org/model-1", &p));
  EXPECT_EQ(p, (std::vector<std::string>{"org/model-1"}));
  EXPECT_FALSE(match_route_path("/v1/models/{*}", "/v1/models/", nullptr));
}

}  // namespace
}  // namespace shardserve
