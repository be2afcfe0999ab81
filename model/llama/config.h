// The blueprint of a decoder-only transformer in the Llama lineage, read from GGUF metadata
// under the `{architecture}.` prefix. The families this engine runs (model/llama/family.h:
// llama, mistral, smollm, qwen2, qwen3, phi3, gemma3) share one forward pass and differ in the
// traits and per-layer specs below, which each family's file fills in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/gguf/gguf.h"

namespace shardserve {

// The feed-forward block's gate activation: act(gate) * up.
enum class FfnActivation {
  kSilu,     // silu (llama, qwen, phi3)
  kGeluF16,  // tanh-form GELU through llama.cpp's half-precision table (gemma)
};

// How a family's layer differs from Llama's. Every field's default is Llama's behaviour.
struct DecoderTraits {
  bool rope_neox = false;    // rotate (x[i], x[i + n_rot/2]) instead of (x[2i], x[2i+1])
  bool qk_norm = false;      // RMSNorm over each query and key head before RoPE (qwen3, gemma3)
  bool post_norms = false;   // RMSNorm of the attention and FFN outputs (gemma3)
  bool embed_scale = false;  // embeddings multiplied by sqrt(dim) (gemma3)
  bool scale_query = false;  // q *= query_scale before attention (f32, before its f16
                             // rounding) instead of scaling the scores (gemma3, phi3)
  FfnActivation activation = FfnActivation::kSilu;
};

// What differs from layer to layer (Gemma 3's sliding-window and global layers).
struct LayerSpec {
  int64_t window = 0;  // attends to the last `window` positions, itself included; 0: all
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  bool operator==(const LayerSpec&) const = default;
};

// Mixture-of-experts feed-forward (Mixtral, Qwen3-MoE): every layer's FFN is n_expert gated
// FFNs of width expert_ffn, of which a router picks n_used per token (softmax over all
// experts, the n_used largest, renormalised to sum to 1).
struct MoeSpec {
  int64_t n_expert = 0;  // 0: a dense model
  int64_t n_used = 0;
  int64_t expert_ffn = 0;
  bool enabled() const { return n_expert > 0; }
};

struct LlamaConfig {
  std::string arch;  // general.architecture
  int64_t n_layers = 0;
  int64_t dim = 0;         // embedding width
  int64_t hidden_dim = 0;  // feed-forward width
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;  // attention.key_length (default dim / n_heads)
  int64_t n_vocab = 0;
  int64_t context_length = 0;  // trained context (seq_len)
  int64_t n_rot = 0;           // rotated dims per head (default head_dim)
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;  // the file's base and scale (layers may override them)
  float rope_freq_scale = 1.0f;
  DecoderTraits traits;
  float query_scale = 1.0f;       // 1/sqrt(head_dim) unless the family says otherwise
  float final_logit_softcap = 0;  // logits = c * tanh(logits / c) when > 0
  std::vector<LayerSpec> layers;  // one per layer
  MoeSpec moe;

  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  int64_t q_dim() const { return n_heads * head_dim; }
  // Whether the model needs nothing beyond the original Llama forward pass (no family traits,
  // one RoPE and no window for every layer): the CUDA path runs only those.
  bool is_plain_llama() const;
};

// Reads and checks the config; an Error names the missing or inconsistent key, or lists the
// supported architectures.
Result<LlamaConfig> read_llama_config(const gguf::File& file);

// Whether this engine implements the GGUF architecture name.
bool is_llama_family(std::string_view arch);

}  // namespace shardserve
