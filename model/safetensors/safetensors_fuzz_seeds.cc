// Writes a seed corpus for safetensors_fuzz: small valid images with every float dtype, an
// integer tensor, a scalar, an empty tensor and metadata, so the fuzzer starts inside the format.
#include <cstdio>
#include <fstream>
#include <string>

#include "model/safetensors/testing/safetensors_builder.h"

using shardserve::safetensors::testing::SafetensorsBuilder;

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
  write(SafetensorsBuilder().build());
  write(SafetensorsBuilder().metadata("format", "pt").f32("w", {2, 2}, {1, 2, 3, 4}).build());
  write(SafetensorsBuilder()
            .metadata("format", "pt")
            .tensor("embeddings.position_ids", "I64", {1, 4}, std::vector<uint8_t>(32, 1))
            .f32("embeddings.LayerNorm.weight", {4}, {1, 1, 1, 1})
            .tensor("h", "F16", {2, 1}, {0x00, 0x3c, 0x00, 0xc0})
            .tensor("b", "BF16", {}, {0x80, 0x3f})
            .tensor("e", "F32", {0, 3}, {})
            .tensor("u", "U8", {3}, {1, 2, 3})
            .build());
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
  return 0;
}
