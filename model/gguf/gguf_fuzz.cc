// libFuzzer target for the GGUF reader: any byte string must parse or fail cleanly.
#include <cstddef>
#include <cstdint>
#include <span>

#include "model/gguf/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = shardserve::gguf::File::parse(std::span<const uint8_t>(data, size));
  if (file.ok()) {
    // Touch what a loader would: every tensor's first and last byte, every getter.
    volatile uint8_t sink = 0;
    for (const auto& t : (*file)->tensors())
      if (t.n_bytes) sink = sink + t.data[0] + t.data[t.n_bytes - 1];
    for (const auto& [key, value] : (*file)->metadata()) {
      (void)(*file)->get_i32_array(key);
      (void)(*file)->get_f32_array(key);
      (void)(*file)->get_uint(key);
    }
  }
  return 0;
}
