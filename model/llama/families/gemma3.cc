// Gemma 3: embeddings scaled by sqrt(dim); RMSNorm of each query and key head before RoPE;
// q scaled before attention; RMSNorm of the attention and FFN outputs before they join the
// residual (post norms); GELU (tanh form, through llama.cpp's f16 table) gating; tied LM head.
// Layers alternate sliding-window and global attention: with attention.sliding_window > 0,
// layer l slides iff l % P < P - 1 (P = attention.sliding_window_pattern, default 6; the key
// may instead be one bool per layer), and sliding layers rotate with rope.freq_base_swa
// (default 10000) unscaled, global ones with the file's base and scaling. Norm weights in GGUF
// already include Gemma's +1. An optional final_logit_softcapping caps the logits (no Gemma 3
// file sets it).
#include <cmath>

#include "model/llama/family.h"

namespace shardserve {
namespace {

constexpr std::string_view kArchs[] = {"gemma3"};

// Which layers slide: from the pattern key (an integer period or a bool per layer).
Result<std::vector<bool>> sliding_layers(const gguf::File& file, const std::string& key,
                                         int64_t n_layers) {
  std::vector<bool> sliding(n_layers);
  const gguf::Value* v = file.find(key);
  if (v && v->type == gguf::ValueType::Array) {
    if (v->elem_type != gguf::ValueType::Bool || static_cast<int64_t>(v->count) != n_layers)
      return Error{"metadata key '" + key + "' must be an integer or " + std::to_string(n_layers) +
                   " booleans (one per layer)"};
    for (int64_t l = 0; l < n_layers; ++l) sliding[l] = v->array_data[l] != 0;
    return sliding;
  }
  auto period = family_keys::get_positive_or(file, key, 6);
  if (!period) return period.error();
  for (int64_t l = 0; l < n_layers; ++l) sliding[l] = l % *period < *period - 1;
  return sliding;
}

Status configure(const gguf::File& file, const std::string& p, LlamaConfig& c) {
  c.traits = {.rope_neox = true,
              .qk_norm = true,
              .post_norms = true,
              .embed_scale = true,
              .scale_query = true,
              .activation = FfnActivation::kGeluF16};
  // llama.cpp scales by the head width, except for the 27B model (62 layers), whose
  // checkpoint was trained with dim / n_heads.
  const int64_t scale_width = c.n_layers == 62 ? c.dim / c.n_heads : c.head_dim;
  c.query_scale = 1.0f / std::sqrt(static_cast<float>(scale_width));
  c.final_logit_softcap = family_keys::get_float_or(file, p + "final_logit_softcapping", 0.0f);

  int64_t window = 0;  // absent or 0: every layer is global
  if (file.find(p + "attention.sliding_window")) {
    auto w = file.get_int(p + "attention.sliding_window");
    if (!w || *w < 0)
      return Error{"metadata key '" + p +
                   "attention.sliding_window' must be a "
                   "non-negative integer"};
    window = *w;
  }
  if (window == 0) return {};
  auto sliding = sliding_layers(file, p + "attention.sliding_window_pattern", c.n_layers);
  if (!sliding) return sliding.error();
  const float swa_base = family_keys::get_float_or(file, p + "rope.freq_base_swa", 10000.0f);
  for (int64_t l = 0; l < c.n_layers; ++l)
    if ((*sliding)[l])
      c.layers[l] = {.window = window, .rope_freq_base = swa_base, .rope_freq_scale = 1.0f};
  return {};
}

}  // namespace

extern const Family kGemma3Family{.name = "gemma3", .arch = kArchs, .configure = configure};

}  // namespace shardserve
