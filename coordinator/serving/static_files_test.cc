#include "coordinator/serving/static_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace shardserve {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("ss_static_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(base_ / "web" / "js");
    write(base_ / "web" / "index.html", "<html></html>");
    write(base_ / "web" / "js" / "app.js", "export {}");
    write(base_ / "secret.txt", "secret");
    root_ = (base_ / "web").string();
  }
  void TearDown() override { fs::remove_all(base_); }
  static void write(const fs::path& p, const char* text) { std::ofstream(p) << text; }

  fs::path base_;
  std::string root_;
};

TEST_F(StaticFilesTest, ServesFilesAndIndexHtmlForADirectorySlash) {
  auto index = find_static_file(root_, "/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->path, root_ + "/index.html");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  auto js = find_static_file(root_, "/js/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
}

TEST_F(StaticFilesTest, NothingOutsideTheRootNorMissingFilesNorDirectories) {
  EXPECT_FALSE(find_static_file(root_, "/../secret.txt"));
  EXPECT_FALSE(find_static_file(root_, "/js/../../secret.txt"));
  EXPECT_FALSE(find_static_file(root_, "/..\\secret.txt"));
  EXPECT_FALSE(find_static_file(root_, std::string_view("/index.html\0x", 13)));
  EXPECT_FALSE(find_static_file(root_, "relative.html"));
  EXPECT_FALSE(find_static_file(root_, "/missing.html"));
  EXPECT_FALSE(find_static_file(root_, "/js"));
  EXPECT_FALSE(find_static_file("", "/index.html"));  // no web root
}

TEST(ContentTypeTest, ByExtension) {
  EXPECT_EQ(content_type_for("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("a.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("a.png"), "image/png");
  EXPECT_EQ(content_type_for("a.json"), "application/json");
  EXPECT_EQ(content_type_for("favicon.ico"), "image/x-icon");
  EXPECT_EQ(content_type_for("a.bin"), "application/octet-stream");
}

}  // namespace
}  // namespace shardserve
