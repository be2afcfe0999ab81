#include "base/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace shardserve {
namespace {

namespace fs = std::filesystem;

class MappedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mapped_file_test." + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  fs::path dir_;
};

TEST_F(MappedFileTest, MapsTheWholeFile) {
  std::vector<uint8_t> bytes(3 * 4096 + 17);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  auto file = MappedFile::open(write("model.bin", bytes));
  ASSERT_TRUE(file.ok()) << file.error().message;
  ASSERT_EQ(file->bytes().size(), bytes.size());
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), file->bytes().begin()));
}

TEST_F(MappedFileTest, DroppedPagesReadTheSameBytesAgain) {
  std::vector<uint8_t> bytes(4 * 4096);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 13 + 1);
  auto file = MappedFile::open(write("model.bin", bytes));
  ASSERT_TRUE(file.ok());
  const uint8_t* data = file->bytes().data();
  file->drop_pages(data + 100, 3 * 4096);
  const uint8_t elsewhere[16] = {};
  file->drop_pages(elsewhere, sizeof elsewhere);  // not in the mapping: ignored
  file->drop_pages(data, bytes.size() + 1);       // past the end: ignored
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), file->bytes().begin()));
}

TEST_F(MappedFileTest, MovingHandsTheMappingOver) {
  auto opened = MappedFile::open(write("model.bin", {1, 2, 3}));
  ASSERT_TRUE(opened.ok());
  MappedFile a = std::move(*opened);
  MappedFile b;
  EXPECT_TRUE(b.bytes().empty());
  b = std::move(a);
  EXPECT_TRUE(a.bytes().empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  ASSERT_EQ(b.bytes().size(), 3u);
  EXPECT_EQ(b.bytes()[2], 3);
}

TEST_F(MappedFileTest, ErrorsNameThePathAndTheProblem) {
  const std::string missing = (dir_ / "missing.gguf").string();
  auto r = MappedFile::open(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot open model file '" + missing + "'"), std::string::npos);
  EXPECT_NE(r.error().message.find("No such file"), std::string::npos);

  auto dir = MappedFile::open(dir_.string());
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find("is not a regular file"), std::string::npos);

  auto empty = MappedFile::open(write("empty.gguf", {}));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("is empty"), std::string::npos);
}

}  // namespace
}  // namespace shardserve
