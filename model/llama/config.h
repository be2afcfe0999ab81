// The blueprint of a Llama-family decoder (llama, mistral, qwen2 and their fine-tunes such
// as SmolLM2), read from GGUF metadata under the `{architecture}.` prefix.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "model/gguf/gguf.h"

namespace shardserve {

struct LlamaConfig {
  std::string arch;  // general.architecture
  int64_t n_layers = 0;
  int64_t dim = 0;         // embedding width
  int64_t hidden_dim = 0;  // feed-forward width
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;  // dim / n_heads
  int64_t n_vocab = 0;
  int64_t context_length = 0;  // trained context (seq_len)
  int64_t n_rot = 0;           // rotated dims per head
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  bool rope_neox = false;  // qwen2 rotates halves; llama/mistral rotate pairs

  int64_t kv_dim() const { return n_kv_heads * head_dim; }
};

// Reads and checks the config; an Error names the missing or inconsistent key.
Result<LlamaConfig> read_llama_config(const gguf::File& file);

// Whether this engine implements the GGUF architecture name.
bool is_llama_family(std::string_view arch);

}  // namespace shardserve
