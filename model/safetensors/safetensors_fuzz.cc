// libFuzzer target for the safetensors reader: any byte string must parse or fail cleanly.
#include <cstddef>
#include <cstdint>
#include <span>

#include "model/safetensors/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = shardserve::safetensors::File::parse(std::span<const uint8_t>(data, size));
  if (file.ok()) {
    // Touch what a loader would: every tensor's first and last byte, and the lookup.
    volatile uint8_t sink = 0;
    for (const auto& t : (*file)->tensors()) {
      if (t.n_bytes) sink = sink + t.data[0] + t.data[t.n_bytes - 1];
      if ((*file)->tensor(t.name) != &t) __builtin_trap();
      if (static_cast<uint64_t>(t.n_elements()) * t.element_bytes != t.n_bytes) __builtin_trap();
    }
  }
  return 0;
}
