// Writes a seed corpus for gguf_fuzz: small valid GGUF images of both versions with every
// metadata kind and several tensor types, so the fuzzer starts from deep inside the format.
#include <cstdio>
#include <fstream>
#include <string>

#include "model/gguf/testing/gguf_builder.h"

using shardserve::DType;
using shardserve::gguf::ValueType;
using shardserve::gguf::testing::GgufBuilder;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int n = 0;
  auto write = [&](const std::vector<uint8_t>& bytes) {
    std::ofstream(dir + "/seed-" + std::to_string(n++), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  };
  for (uint32_t version : {2u, 3u}) {
    write(GgufBuilder(version).build());
    write(GgufBuilder(version)
              .kv_string("general.architecture", "llama")
              .kv_u32("llama.block_count", 2)
              .kv_i32("llama.context_length", 128)
              .kv_f32("llama.rope.freq_base", 10000.0f)
              .kv_bool("tokenizer.ggml.add_bos_token", true)
              .kv_strings("tokenizer.ggml.tokens", {"<s>", "a", "b", "ab"})
              .kv_strings("tokenizer.ggml.merges", {"a b"})
              .kv_array<float>("tokenizer.ggml.scores", ValueType::F32, {0, 1, 2, 3})
              .kv_array<int32_t>("tokenizer.ggml.token_type", ValueType::I32, {3, 1, 1, 1})
              .build());
    write(GgufBuilder(version, 64)
              .kv_u32("general.alignment", 64)
              .tensor("f32", DType::F32, {4, 2}, std::vector<uint8_t>(32, 1))
              .tensor("q8", DType::Q8_0, {32}, std::vector<uint8_t>(34, 2))
              .tensor("q4_1", DType::Q4_1, {32, 2}, std::vector<uint8_t>(40, 3))
              .tensor("q6k", DType::Q6_K, {256}, std::vector<uint8_t>(210, 4))
              .build());
  }
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
  return 0;
}
