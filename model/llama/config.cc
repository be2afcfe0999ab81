#include "model/llama/config.h"

#include <array>

namespace shardserve {

bool is_llama_family(std::string_view arch) {
  static constexpr std::array<std::string_view, 4> kArchs = {"llama", "mistral", "qwen2", "smollm"};
  for (auto a : kArchs)
    if (a == arch) return true;
  return false;
}

Result<LlamaConfig> read_llama_config(const gguf::File& f) {
  LlamaConfig c;
  auto arch = f.get_string("general.architecture");
  if (!arch) return arch.error();
  c.arch = std::string(*arch);
  if (!is_llama_family(c.arch))
    return Error{"architecture '" + c.arch +
                 "' is not supported (supported: llama, mistral, qwen2, smollm)"};
  const std::string p = c.arch + ".";

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
  c.n_kv_heads = c.n_heads;
  if (f.find(p + "attention.head_count_kv"))
    if (Status s = get_int("attention.head_count_kv", c.n_kv_heads); !s) return s.error();
  if (c.dim % c.n_heads != 0)
    return Error{"embedding_length " + std::to_string(c.dim) + " is not a multiple of head_count " +
                 std::to_string(c.n_heads)};
  if (c.n_heads % c.n_kv_heads != 0)
    return Error{"head_count " + std::to_string(c.n_heads) +
                 " is not a multiple of head_count_kv " + std::to_string(c.n_kv_heads)};
  c.head_dim = c.dim / c.n_heads;
  c.n_rot = c.head_dim;
  if (f.find(p + "rope.dimension_count"))
    if (Status s = get_int("rope.dimension_count", c.n_rot); !s) return s.error();
  if (c.n_rot > c.head_dim || c.n_rot % 2 != 0)
    return Error{"rope.dimension_count " + std::to_string(c.n_rot) +
                 " must be even and <= " + std::to_string(c.head_dim)};

  if (auto eps = f.get_float(p + "attention.layer_norm_rms_epsilon"))
    c.rms_eps = static_cast<float>(*eps);
  if (auto base = f.get_float(p + "rope.freq_base")) c.rope_freq_base = static_cast<float>(*base);
  if (auto type = f.get_string(p + "rope.scaling.type"); type && *type == "linear") {
    if (auto factor = f.get_float(p + "rope.scaling.factor"); factor && *factor > 0)
      c.rope_freq_scale = static_cast<float>(1.0 / *factor);
  }
  c.rope_neox = c.arch == "qwen2";

  if (auto n = f.get_int(p + "vocab_size")) {
    c.n_vocab = *n;
  } else if (auto tokens = f.get_string_array("tokenizer.ggml.tokens")) {
    c.n_vocab = static_cast<int64_t>(tokens->size());
  } else {
    return Error{"neither '" + p + "vocab_size' nor 'tokenizer.ggml.tokens' is present"};
  }
  return c;
}

}  // namespace shardserve
