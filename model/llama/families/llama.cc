// Llama and the families that are Llama under another name: Mistral (its sliding window is not
// in GGUF files of Mistral 7B v0.2+, and llama.cpp ignores it), SmolLM, and Mixtral (llama with
// expert_count: experts of feed_forward_length columns). Llama 3.x's `llama3` RoPE scaling
// arrives as the rope_freqs.weight tensor (weights.h), linear scaling as rope.scaling.* keys
// (read for every family).
#include "model/llama/family.h"

namespace shardserve {
namespace {

constexpr std::string_view kArchs[] = {"llama", "mistral", "smollm"};

Status configure(const gguf::File& file, const std::string& p, LlamaConfig& c) {
  return family_keys::read_experts(file, p, c.hidden_dim, c);
}

}  // namespace

extern const Family kLlamaFamily{.name = "llama", .arch = kArchs, .configure = configure};

}  // namespace shardserve
