// Run-time kernel selection: CPU feature detection and the per-ISA kernel tables, each level
// layered over the one below so every documented role is always filled.
#include <array>
#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "model/kernels/cpu/quant_internal.h"

namespace shardserve::kernels {
namespace {

constexpr std::array kAllTypes = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                                  DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q8_1, DType::Q2_K,
                                  DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K};
constexpr int kNumIsas = 3;

int type_index(DType type) {
  for (size_t i = 0; i < kAllTypes.size(); ++i) {
    if (kAllTypes[i] == type) return static_cast<int>(i);
  }
  SS_CHECK(false, "unknown DType");
}

void overlay(TypeKernels& k, const TypeKernels* simd) {
  if (simd == nullptr) return;
  if (simd->dequantize) k.dequantize = simd->dequantize;
  if (simd->quantize) k.quantize = simd->quantize;
  if (simd->dot) k.dot = simd->dot;
  k.dot4 = simd->dot4;  // a multi-row kernel belongs to its level's single-row kernel
}

struct Tables {
  std::array<std::array<TypeKernels, kAllTypes.size()>, kNumIsas> k;
  Tables() {
    for (size_t t = 0; t < kAllTypes.size(); ++t) {
      TypeKernels cur = ref::kernels_for(kAllTypes[t]);
      k[0][t] = cur;
      overlay(cur, avx2_kernels(kAllTypes[t]));
      k[1][t] = cur;
      overlay(cur, avx512_kernels(kAllTypes[t]));
      k[2][t] = cur;
    }
  }
};

Isa detect_hw_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    avx2_kernels(DType::F32) != nullptr;
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
                      avx512_kernels(DType::F32) != nullptr;
  // F16C has no __builtin_cpu_supports name in older compilers; every AVX2 CPU has it.
  return avx512 ? Isa::Avx512 : avx2 ? Isa::Avx2 : Isa::Scalar;
#else
  return Isa::Scalar;
#endif
}

Isa hw_isa() {
  static const Isa isa = detect_hw_isa();
  return isa;
}

Isa detect_isa() {
  Isa best = hw_isa();
  // SHARDSERVE_ISA=scalar|avx2 caps the level (for debugging and A/B runs); it never raises it.
  if (const char* cap = std::getenv("SHARDSERVE_ISA")) {
    if (std::strcmp(cap, "scalar") == 0) best = Isa::Scalar;
    if (std::strcmp(cap, "avx2") == 0 && best == Isa::Avx512) best = Isa::Avx2;
  }
  return best;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  return static_cast<int>(isa) <= static_cast<int>(hw_isa());
}

Isa best_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

const TypeKernels& kernels_for(DType type, Isa isa) {
  static const Tables tables;
  return tables.k[static_cast<int>(isa)][type_index(type)];
}

}  // namespace shardserve::kernels
