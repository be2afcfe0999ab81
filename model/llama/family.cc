#include "model/llama/family.h"

#include <array>

namespace shardserve {

extern const Family kLlamaFamily;
extern const Family kQwen2Family;
extern const Family kQwen3Family;
extern const Family kQwen3MoeFamily;
extern const Family kPhi3Family;
extern const Family kGemma3Family;

namespace {
constexpr std::array<const Family*, 6> kFamilies = {
    &kLlamaFamily, &kQwen2Family, &kQwen3Family, &kQwen3MoeFamily, &kPhi3Family, &kGemma3Family};
}  // namespace

const Family* find_family(std::string_view arch) {
  for (const Family* family : kFamilies)
    for (std::string_view a : family->arch)
      if (a == arch) return family;
  return nullptr;
}

std::string supported_architectures() {
  std::string out;
  for (const Family* family : kFamilies)
    for (std::string_view a : family->arch) out += (out.empty() ? "" : ", ") + std::string(a);
  return out;
}

namespace family_keys {

float get_float_or(const gguf::File& file, const std::string& key, float fallback) {
  auto v = file.get_float(key);
  return v ? static_cast<float>(*v) : fallback;
}

Result<int64_t> get_positive_or(const gguf::File& file, const std::string& key, int64_t fallback) {
  if (!file.find(key)) return fallback;
  auto v = file.get_int(key);
  if (!v) return v.error();
  if (*v <= 0) return Error{"metadata key '" + key + "' must be positive"};
  return *v;
}

Status read_experts(const gguf::File& file, const std::string& p, int64_t expert_ffn,
                    LlamaConfig& c) {
  auto n_expert = get_positive_or(file, p + "expert_count", 0);
  if (!n_expert) return n_expert.error();
  if (*n_expert == 0) return {};
  auto n_used = file.get_int(p + "expert_used_count");
  if (!n_used) return n_used.error();
  if (*n_used < 1 || *n_used > *n_expert)
    return Error{"metadata key '" + p + "expert_used_count' is " + std::to_string(*n_used) +
                 ": it must be between 1 and expert_count " + std::to_string(*n_expert)};
  c.moe = {.n_expert = *n_expert, .n_used = *n_used, .expert_ffn = expert_ffn};
  return {};
}

}  // namespace family_keys
}  // namespace shardserve
