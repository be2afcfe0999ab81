// Phi-3 and Phi-4-mini: fused attn_qkv and gate/up (ffn_up holds the gate rows, then the up
// rows; weights.cc takes views of both), partial rotary (rope.dimension_count below the head
// width), NEOX RoPE, and q scaled by 1/sqrt(head_dim) before attention. Its
// attention.sliding_window key is ignored, as llama.cpp ignores it ("Phi SWA is currently
// disabled"): every layer attends to everything.
#include "model/llama/family.h"

namespace shardserve {
namespace {

constexpr std::string_view kArchs[] = {"phi3"};

Status configure(const gguf::File& file, const std::string&, LlamaConfig& c) {
  if (file.tensor("rope_factors_long.weight") || file.tensor("rope_factors_short.weight"))
    return Error{
        "this Phi-3 file uses LongRoPE (rope_factors_long/short, the 128k-context "
        "variants), which is not supported yet; use a 4k-context Phi-3 file"};
  c.traits.rope_neox = true;
  c.traits.scale_query = true;
  return {};
}

}  // namespace

extern const Family kPhi3Family{.name = "phi3", .arch = kArchs, .configure = configure};

}  // namespace shardserve
