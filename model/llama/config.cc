#include "model/llama/config.h"

#include <cmath>

#include "model/llama/family.h"

namespace shardserve {

bool is_llama_family(std::string_view arch) {
  return find_family(arch) != nullptr;
}

bool LlamaConfig::is_plain_llama() const {
  const DecoderTraits& t = traits;
  if (t.qk_norm || t.post_norms || t.embed_scale || t.scale_query ||
      t.activation != FfnActivation::kSilu || final_logit_softcap != 0 || moe.enabled())
    return false;
  for (const LayerSpec& l : layers)
    if (l.window != 0 || l.rope_freq_base != rope_freq_base || l.rope_freq_scale != rope_freq_scale)
      return false;
  return true;
}

namespace {

// The keys every family shares; llama.cpp's defaults where a key is optional.
Status read_shared_keys(const gguf::File& f, const std::string& p, LlamaConfig& c) {
  auto get_int = [&](const std::string& key, int64_t& out) -> Status {
    auto v = f.get_int(p + key);
    if (!v) return v.error();
    if (*v <= 0) return Error{"metadata key '" + p + key + "' must be positive"};
    out = *v;
    return {};
  };
  for (auto [key, out] : {std::pair{"block_count", &c.n_layers},
                          {"embedding_length", &c.dim},
                          {"feed_forward_length", &c.hidden_dim},
                          {"attention.head_count", &c.n_heads},
                          {"context_length", &c.context_length}}) {
    if (Status s = get_int(key, *out); !s) return s.error();
  }
  auto optional = [&](const std::string& key, int64_t fallback) {
    return family_keys::get_positive_or(f, p + key, fallback);
  };
  auto kv_heads = optional("attention.head_count_kv", c.n_heads);
  if (!kv_heads) return kv_heads.error();
  c.n_kv_heads = *kv_heads;
  if (c.n_heads % c.n_kv_heads != 0)
    return Error{"head_count " + std::to_string(c.n_heads) +
                 " is not a multiple of head_count_kv " + std::to_string(c.n_kv_heads)};
  if (!f.find(p + "attention.key_length") && c.dim % c.n_heads != 0)
    return Error{"embedding_length " + std::to_string(c.dim) + " is not a multiple of head_count " +
                 std::to_string(c.n_heads) + " and '" + p + "attention.key_length' is absent"};
  auto key_length = optional("attention.key_length", c.dim / c.n_heads);
  if (!key_length) return key_length.error();
  c.head_dim = *key_length;
  auto value_length = optional("attention.value_length", c.head_dim);
  if (!value_length) return value_length.error();
  if (*value_length != c.head_dim)
    return Error{"'" + p + "attention.value_length' " + std::to_string(*value_length) +
                 " differs from key_length " + std::to_string(c.head_dim) +
                 " (not supported: every head here has one width)"};
  auto n_rot = optional("rope.dimension_count", c.head_dim);
  if (!n_rot) return n_rot.error();
  c.n_rot = *n_rot;
  if (c.n_rot > c.head_dim || c.n_rot % 2 != 0)
    return Error{"rope.dimension_count " + std::to_string(c.n_rot) +
                 " must be even and <= " + std::to_string(c.head_dim)};

  c.rms_eps = family_keys::get_float_or(f, p + "attention.layer_norm_rms_epsilon", c.rms_eps);
  c.rope_freq_base = family_keys::get_float_or(f, p + "rope.freq_base", c.rope_freq_base);
  if (auto type = f.get_string(p + "rope.scaling.type"); type && *type == "linear") {
    if (auto factor = f.get_float(p + "rope.scaling.factor"); factor && *factor > 0)
      c.rope_freq_scale = static_cast<float>(1.0 / *factor);
  }
  c.query_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

  if (auto n = f.get_int(p + "vocab_size")) {
    c.n_vocab = *n;
  } else if (auto tokens = f.get_string_array("tokenizer.ggml.tokens")) {
    c.n_vocab = static_cast<int64_t>(tokens->size());
  } else {
    return Error{"neither '" + p + "vocab_size' nor 'tokenizer.ggml.tokens' is present"};
  }
  return {};
}

}  // namespace

Result<LlamaConfig> read_llama_config(const gguf::File& f) {
  LlamaConfig c;
  auto arch = f.get_string("general.architecture");
  if (!arch) return arch.error();
  c.arch = std::string(*arch);
  const Family* family = find_family(c.arch);
  if (!family)
    return Error{"architecture '" + c.arch +
                 "' is not supported (supported: " + supported_architectures() + ")"};
  const std::string p = c.arch + ".";
  if (Status s = read_shared_keys(f, p, c); !s) return s.error();
  c.layers.assign(c.n_layers, LayerSpec{.rope_freq_base = c.rope_freq_base,
                                        .rope_freq_scale = c.rope_freq_scale});
  if (Status s = family->configure(f, p, c); !s) return s.error();
  return c;
}

}  // namespace shardserve
