// Qwen2 (q/k/v biases, loaded when present), Qwen3 (RMSNorm of every query and key head
// before RoPE; key_length 128 whatever the width) and Qwen3-MoE (Qwen3's attention, experts
// of expert_feed_forward_length columns: feed_forward_length is another number). All rotate
// NEOX-style.
#include "model/llama/family.h"

namespace shardserve {
namespace {

constexpr std::string_view kQwen2[] = {"qwen2"};
constexpr std::string_view kQwen3[] = {"qwen3"};
constexpr std::string_view kQwen3Moe[] = {"qwen3moe"};

Status configure_qwen2(const gguf::File&, const std::string&, LlamaConfig& c) {
  c.traits.rope_neox = true;
  return {};
}

Status configure_qwen3(const gguf::File&, const std::string&, LlamaConfig& c) {
  c.traits.rope_neox = true;
  c.traits.qk_norm = true;
  return {};
}

Status configure_qwen3moe(const gguf::File& file, const std::string& p, LlamaConfig& c) {
  c.traits.rope_neox = true;
  c.traits.qk_norm = true;
  auto n_used = family_keys::get_positive_or(file, p + "expert_used_count", 1);
  if (!n_used) return n_used.error();
  // llama.cpp's fallback when the width key is absent: feed_forward_length / expert_used_count.
  auto width =
      family_keys::get_positive_or(file, p + "expert_feed_forward_length", c.hidden_dim / *n_used);
  if (!width) return width.error();
  if (Status s = family_keys::read_experts(file, p, *width, c); !s) return s;
  if (!c.moe.enabled()) return Error{"metadata key '" + p + "expert_count' is missing"};
  return {};
}

}  // namespace

extern const Family kQwen2Family{.name = "qwen2", .arch = kQwen2, .configure = configure_qwen2};
extern const Family kQwen3Family{.name = "qwen3", .arch = kQwen3, .configure = configure_qwen3};
extern const Family kQwen3MoeFamily{
    .name = "qwen3moe", .arch = kQwen3Moe, .configure = configure_qwen3moe};

}  // namespace shardserve
