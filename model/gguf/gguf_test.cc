#include "model/gguf/gguf.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "model/gguf/testing/gguf_builder.h"

namespace shardserve::gguf {
namespace {

using testing::GgufBuilder;

std::vector<uint8_t> small_model() {
  std::vector<uint8_t> f32_data(4 * 2 * sizeof(float), 0);
  float one = 1.0f;
  std::memcpy(f32_data.data(), &one, sizeof one);
  return GgufBuilder()
      .kv_string("general.architecture", "llama")
      .kv_u32("llama.block_count", 2)
      .kv_f32("llama.rope.freq_base", 10000.0f)
      .kv_bool("tokenizer.ggml.add_bos_token", true)
      .kv_strings("tokenizer.ggml.tokens", {"a", "b", "<s>"})
      .kv_array<float>("tokenizer.ggml.scores", ValueType::F32, {0.5f, -1.0f, 0.0f})
      .kv_array<int32_t>("tokenizer.ggml.token_type", ValueType::I32, {1, 1, 3})
      .tensor("w", DType::F32, {4, 2}, f32_data)
      .tensor("v", DType::F32, {4}, std::vector<uint8_t>(16, 0))
      .build();
}

TEST(Gguf, ParsesMetadataAndTensors) {
  auto bytes = small_model();
  auto file = File::parse(bytes);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const File& f = **file;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(*f.get_string("general.architecture"), "llama");
  EXPECT_EQ(*f.get_uint("llama.block_count"), 2u);
  EXPECT_EQ(*f.get_int("llama.block_count"), 2);
  EXPECT_FLOAT_EQ(static_cast<float>(*f.get_float("llama.rope.freq_base")), 10000.0f);
  EXPECT_TRUE(*f.get_bool("tokenizer.ggml.add_bos_token"));
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[2], "<s>");
  EXPECT_EQ(f.get_f32_array("tokenizer.ggml.scores")->at(0), 0.5f);
  EXPECT_EQ(f.get_i32_array("tokenizer.ggml.token_type")->at(2), 3);

  const TensorInfo* w = f.tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(w->n_bytes, 32u);
  EXPECT_EQ(w->n_rows(), 2);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w->data) % 32,
            reinterpret_cast<uintptr_t>(bytes.data()) % 32);
  float first = 0;
  std::memcpy(&first, w->data, sizeof first);
  EXPECT_EQ(first, 1.0f);
  EXPECT_EQ(f.tensor("missing"), nullptr);
}

TEST(Gguf, TypedGettersNameKeyAndType) {
  auto bytes = small_model();
  auto file = File::parse(bytes);
  ASSERT_TRUE(file.ok());
  auto s = (*file)->get_uint("general.architecture");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("general.architecture"), std::string::npos);
  EXPECT_NE(s.error().message.find("string"), std::string::npos);
  auto m = (*file)->get_string("nope");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("missing"), std::string::npos);
}

TEST(Gguf, EveryTruncationIsAnErrorNotACrash) {
  auto bytes = small_model();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    auto file = File::parse(cut);
    EXPECT_FALSE(file.ok()) << "accepted a file truncated to " << n << " bytes";
  }
}

TEST(Gguf, RejectsBadMagicAndVersion) {
  auto bytes = small_model();
  bytes[0] = 'X';
  auto file = File::parse(bytes);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.error().message.find("magic"), std::string::npos);

  auto v1 = GgufBuilder(1).build();
  auto f1 = File::parse(v1);
  ASSERT_FALSE(f1.ok());
  EXPECT_NE(f1.error().message.find("version 1"), std::string::npos);
  auto v2 = GgufBuilder(2).kv_u32("x", 1).build();
  EXPECT_TRUE(File::parse(v2).ok());
}

TEST(Gguf, RejectsHostileCountsWithoutAllocating) {
  auto bytes = GgufBuilder().kv_strings("tokens", {"a"}).build();
  // Claim 2^60 metadata entries.
  uint64_t huge = uint64_t{1} << 60;
  std::memcpy(bytes.data() + 16, &huge, sizeof huge);
  EXPECT_FALSE(File::parse(bytes).ok());

  // A string array claiming 2^60 elements.
  auto arr = GgufBuilder().kv_strings("tokens", {"a"}).build();
  size_t count_at = 24 + 8 + 6 + 4 + 4;  // header, key, types
  std::memcpy(arr.data() + count_at, &huge, sizeof huge);
  auto f = File::parse(arr);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("tokens"), std::string::npos);
}

TEST(Gguf, RejectsTensorPastEndAndBadShapes) {
  std::vector<uint8_t> data(16, 0);
  auto bytes = GgufBuilder().tensor("t", DType::F32, {8}, data).build();  // needs 32 bytes
  auto f = File::parse(bytes);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("'t'"), std::string::npos) << f.error().message;

  auto q = GgufBuilder().tensor("q", DType::Q8_0, {33}, std::vector<uint8_t>(68, 0)).build();
  auto fq = File::parse(q);
  ASSERT_FALSE(fq.ok());
  EXPECT_NE(fq.error().message.find("block size"), std::string::npos) << fq.error().message;

  auto dup = GgufBuilder().kv_u32("k", 1).kv_u32("k", 2).build();
  auto fd = File::parse(dup);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("duplicate"), std::string::npos);
}

TEST(Gguf, OpenReportsMissingFile) {
  auto f = File::open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("/nonexistent/model.gguf"), std::string::npos);
}

TEST(Gguf, OpensTheDefaultModel) {
  const char* path = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent: run scripts/fetch-models";
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(*(*f)->get_string("general.architecture"), "llama");
  EXPECT_EQ((*f)->tensors().size(), 272u);
  const TensorInfo* emb = (*f)->tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::Q8_0);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{576, 49152}));
}

}  // namespace
}  // namespace shardserve::gguf
