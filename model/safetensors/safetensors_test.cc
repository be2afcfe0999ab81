#include "model/safetensors/safetensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/safetensors/testing/safetensors_builder.h"

namespace shardserve::safetensors {
namespace {

using testing::SafetensorsBuilder;

std::vector<uint8_t> small_file() {
  return SafetensorsBuilder()
      .metadata("format", "pt")
      .f32("w", {2, 3}, {1, 2, 3, 4, 5, 6})
      .tensor("ids", "I64", {1, 2}, std::vector<uint8_t>(16, 7))
      .tensor("h", "F16", {2}, {0x00, 0x3c, 0x00, 0xc0})
      .tensor("b", "BF16", {}, {0x80, 0x3f})
      .tensor("empty", "F32", {0, 4}, {})
      .build();
}

// The error message of parsing `bytes`; fails the test if it parses.
std::string error_of(const std::vector<uint8_t>& bytes) {
  auto f = File::parse(bytes);
  EXPECT_FALSE(f.ok()) << "accepted a bad file";
  return f.ok() ? "" : f.error().message;
}

std::string error_of_entry(std::string_view entry_json) {
  return error_of(SafetensorsBuilder().raw_entry("t", entry_json).build());
}

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

TEST(Safetensors, ParsesTensorsInDataOrder) {
  auto bytes = small_file();
  auto file = File::parse(bytes);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const File& f = **file;
  ASSERT_EQ(f.tensors().size(), 5u);
  const TensorInfo* w = f.tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, "F32");
  EXPECT_EQ(w->type, DType::F32);
  EXPECT_EQ(w->element_bytes, 4u);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->n_elements(), 6);
  EXPECT_EQ(w->offset, 0u);
  EXPECT_EQ(w->n_bytes, 24u);
  float last = 0;
  std::memcpy(&last, w->data + 20, 4);
  EXPECT_EQ(last, 6.0f);

  const TensorInfo* ids = f.tensor("ids");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->type, std::nullopt);  // valid, but not a type the engine computes in
  EXPECT_EQ(ids->offset, 24u);
  EXPECT_EQ(ids->data[0], 7);
  EXPECT_EQ(f.tensor("h")->type, DType::F16);
  EXPECT_EQ(f.tensor("b")->type, DType::BF16);
  EXPECT_EQ(f.tensor("b")->n_elements(), 1);  // a scalar
  EXPECT_EQ(f.tensor("empty")->n_bytes, 0u);
  EXPECT_EQ(f.tensor("__metadata__"), nullptr);
  EXPECT_EQ(f.tensor("missing"), nullptr);
  for (size_t i = 1; i < f.tensors().size(); ++i)
    EXPECT_LE(f.tensors()[i - 1].offset, f.tensors()[i].offset);
}

TEST(Safetensors, EmptyHeaderAndUnpaddedHeaderParse) {
  EXPECT_TRUE(File::parse(SafetensorsBuilder().build()).ok());
  const std::string h = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  EXPECT_TRUE(File::parse(SafetensorsBuilder::image_raw(h.size(), h, {9})).ok());
}

TEST(Safetensors, ShortFileAndBadHeaderLength) {
  EXPECT_HAS(error_of({1, 2, 3}), "too short for the 8-byte header length");
  const std::string h = "{}";
  EXPECT_HAS(error_of(SafetensorsBuilder::image_raw(100, h, {})), "runs past the 10-byte file");
  EXPECT_HAS(error_of(SafetensorsBuilder::image_raw(uint64_t{1} << 40, h, {})),
             "exceeds the 100000000-byte limit");
  EXPECT_HAS(error_of(SafetensorsBuilder::image_raw(0, "", {})), "does not start with '{'");
  EXPECT_HAS(error_of(SafetensorsBuilder::image("[1]", {})), "does not start with '{'");
}

TEST(Safetensors, BadJsonSaysWhereItBroke) {
  std::string e = error_of(SafetensorsBuilder::image(R"({"a": {"dtype": F32}})", {}));
  EXPECT_HAS(e, "header is not valid JSON");
  EXPECT_HAS(e, "column");
  EXPECT_HAS(error_of(SafetensorsBuilder::image("{\"a\": 1} x", {})), "not valid JSON");
}

TEST(Safetensors, DeepNestingIsRefusedBeforeItIsBuilt) {
  std::string deep = "{\"a\":";
  for (int i = 0; i < 100000; ++i) deep += '[';
  EXPECT_HAS(error_of(SafetensorsBuilder::image(deep, {})), "nests deeper");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[[1]],"data_offsets":[0,4]})"),
             "nests deeper");
}

TEST(Safetensors, DuplicateNamesAndKeys) {
  const std::string dup = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                          R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  EXPECT_HAS(error_of(SafetensorsBuilder::image(dup, {1, 2})), "names tensor 'a' twice");
  const std::string dup_key =
      R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  EXPECT_HAS(error_of(SafetensorsBuilder::image(dup_key, {1})), "has the key 'dtype' twice");
}

TEST(Safetensors, EntryStructure) {
  EXPECT_HAS(error_of_entry("[1, 2]"), "tensor 't': entry is a JSON array, expected an object");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[],"data_offsets":[0,0],"x":1})"),
             "tensor 't': unknown key 'x'");
}

TEST(Safetensors, Dtype) {
  EXPECT_HAS(error_of_entry(R"({"shape":[1],"data_offsets":[0,4]})"),
             "tensor 't': 'dtype' is missing");
  EXPECT_HAS(error_of_entry(R"({"dtype":4,"shape":[1],"data_offsets":[0,4]})"),
             "tensor 't': 'dtype' is not a string");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F31","shape":[1],"data_offsets":[0,4]})"),
             "tensor 't': unknown dtype 'F31'");
}

TEST(Safetensors, Shape) {
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","data_offsets":[0,4]})"), "'shape' is missing");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":4,"data_offsets":[0,4]})"),
             "'shape' is not an array");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"),
             "tensor 't': shape [-1] has an entry that is not a size");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})"), "not a size");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":["1"],"data_offsets":[0,4]})"), "not a size");
  EXPECT_HAS(
      error_of_entry(
          R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]})"),
      "shape has 17 dimensions");
  EXPECT_HAS(
      error_of_entry(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})"),
      "more elements than fit in 64 bits");
  // 2^62 elements of 4 bytes: the element count fits, the byte count does not.
  EXPECT_HAS(
      error_of_entry(R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]})"),
      "needs 4611686018427387904 x 4");
}

TEST(Safetensors, DataOffsets) {
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[1]})"), "'data_offsets' is missing");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"),
             "data_offsets [0] is not a pair of non-negative integers");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"), "not a pair");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), "not a pair");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[1],"data_offsets":{"a":0,"b":4}})"),
             "not a pair");
  EXPECT_HAS(error_of_entry(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"),
             "tensor 't': data_offsets [8, 4] begin after they end");
}

TEST(Safetensors, RangePastTheData) {
  auto bytes = SafetensorsBuilder().f32("a", {2}, {1, 2}).f32("b", {4}, {1, 2, 3, 4}).build();
  bytes.resize(bytes.size() - 3);  // a truncated download
  EXPECT_HAS(error_of(bytes), "tensor 'b': data_offsets [8, 24] end past the file's 21 data bytes");
}

TEST(Safetensors, SizeMustMatchShapeAndDtype) {
  auto bytes = SafetensorsBuilder()
                   .raw_entry("t", R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,20]})")
                   .extra_data(std::vector<uint8_t>(20))
                   .build();
  EXPECT_HAS(error_of(bytes),
             "tensor 't': data_offsets [0, 20] hold 20 bytes, but shape [2, 3] of F32 needs 6 x 4");
}

TEST(Safetensors, OverlapsGapsAndTrailingBytes) {
  auto overlap = SafetensorsBuilder()
                     .raw_entry("a", R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})")
                     .raw_entry("b", R"({"dtype":"U8","shape":[4],"data_offsets":[2,6]})")
                     .extra_data(std::vector<uint8_t>(6))
                     .build();
  EXPECT_HAS(error_of(overlap), "tensor 'b': data_offsets [2, 6] overlap tensor 'a''s [0, 4]");
  auto same = SafetensorsBuilder()
                  .raw_entry("a", R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})")
                  .raw_entry("b", R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})")
                  .extra_data(std::vector<uint8_t>(4))
                  .build();
  EXPECT_HAS(error_of(same), "overlap");
  auto gap = SafetensorsBuilder()
                 .raw_entry("a", R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})")
                 .raw_entry("b", R"({"dtype":"U8","shape":[2],"data_offsets":[6,8]})")
                 .extra_data(std::vector<uint8_t>(8))
                 .build();
  EXPECT_HAS(error_of(gap), "data bytes [4, 6) belong to no tensor (before tensor 'b')");
  auto trailing = SafetensorsBuilder().f32("a", {1}, {1}).extra_data({0, 0}).build();
  EXPECT_HAS(error_of(trailing), "the file has 6 data bytes but its tensors end at 4");
}

TEST(Safetensors, EveryTruncationIsAnErrorNotACrash) {
  auto bytes = small_file();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    EXPECT_FALSE(File::parse(cut).ok()) << "accepted a file truncated to " << n << " bytes";
  }
}

TEST(Safetensors, OpenMapsAFileAndNamesItInErrors) {
  const std::string dir = ::testing::TempDir();
  const std::string good = dir + "/safetensors_test_good.safetensors";
  const std::string bad = dir + "/safetensors_test_bad.safetensors";
  auto bytes = small_file();
  std::ofstream(good, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  std::ofstream(bad, std::ios::binary).write("\x01\x00", 2);
  {
    auto f = File::open(good);
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ((*f)->path(), good);
    ASSERT_NE((*f)->tensor("w"), nullptr);
    float first = 0;
    std::memcpy(&first, (*f)->tensor("w")->data, 4);
    EXPECT_EQ(first, 1.0f);
    (*f)->drop_pages((*f)->tensor("w")->data, 24);  // still readable afterwards
    std::memcpy(&first, (*f)->tensor("w")->data, 4);
    EXPECT_EQ(first, 1.0f);
  }
  auto b = File::open(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message.rfind(bad + ": ", 0), 0u) << b.error().message;
  auto missing = File::open(dir + "/no-such-file.safetensors");
  ASSERT_FALSE(missing.ok());
  EXPECT_HAS(missing.error().message, "cannot open model file");
  std::remove(good.c_str());
  std::remove(bad.c_str());
}

}  // namespace
}  // namespace shardserve::safetensors
