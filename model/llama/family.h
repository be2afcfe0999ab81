// A model family: the GGUF architecture names it answers to and how it turns that file's
// metadata into a LlamaConfig. read_llama_config reads the keys every family shares (sizes,
// heads, key_length, RoPE, eps, vocabulary) and then calls the family's `configure`, which sets
// its traits, per-layer specs and own keys. Tensor names are shared (model/llama/weights.h
// loads the optional ones a family's traits ask for), so a family is a small file under
// model/llama/families/.
//
// Adding a family: write families/NAME.cc defining `extern const Family kNameFamily`, list it in
// family.cc's kFamilies, and add a synthetic model to tests/golden/make_synthetic_models.py.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "model/gguf/gguf.h"
#include "model/llama/config.h"

namespace shardserve {

struct Family {
  std::string_view name;                   // for messages
  std::span<const std::string_view> arch;  // general.architecture values it runs
  // Completes `config` (whose shared keys are read) from the file's `{arch}.` keys; an Error
  // names the key that is wrong.
  Status (*configure)(const gguf::File& file, const std::string& prefix, LlamaConfig& config);
};

// The family that runs architecture `arch`, or nullptr.
const Family* find_family(std::string_view arch);

// The supported architecture names, comma-separated (for error messages).
std::string supported_architectures();

// Helpers for family files.
namespace family_keys {
// The value of an optional float key, or `fallback` when absent.
float get_float_or(const gguf::File& file, const std::string& key, float fallback);
// The value of an optional positive integer key, or `fallback` when absent; an Error when it
// is present but not a positive integer.
Result<int64_t> get_positive_or(const gguf::File& file, const std::string& key, int64_t fallback);
// The mixture-of-experts keys `{prefix}expert_count` and `expert_used_count` into config.moe,
// with expert width `expert_ffn`; leaves a dense model (no expert_count) as it is.
Status read_experts(const gguf::File& file, const std::string& prefix, int64_t expert_ffn,
                    LlamaConfig& config);
}  // namespace family_keys

}  // namespace shardserve
