// CPU kernels for every tensor type: conversion to and from f32, and dot products
// between a weight row and an activation row already converted to the weight type's
// `dot_type` (model/tensor_type.h).
//
// Each operation has a scalar reference (namespace `ref`), which is the oracle, and SIMD
// versions (AVX2, AVX-512/VNNI) for the hot types; `kernels_for()` returns the fastest
// set the running CPU supports, chosen once by CPUID. All functions are thread-safe and
// allocate nothing. Preconditions (checked in debug builds): n is a multiple of the
// type's block size; pointers are valid for row_bytes(type, n) bytes (no alignment needed).
#pragma once

#include <cstdint>

#include "model/tensor_type.h"

namespace shardserve::kernels {

// Instruction sets a kernel may use.
enum class Isa { Scalar, Avx2, Avx512 };
const char* isa_name(Isa isa);
// Whether this CPU (and this build) can run kernels of level `isa`.
bool isa_supported(Isa isa);
// Best ISA this CPU supports (and this binary was built for), lowered by the environment
// variable SHARDSERVE_ISA=scalar|avx2 if set (it never raises it).
Isa best_isa();

using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
// Returns sum_i w[i] * x[i] for one row of n elements; `x` is in dot_type(weight type).
using VecDotFn = float (*)(const void* w, const void* x, int64_t n);
// Four weight rows at once (row i starts at w + i * w_stride bytes) against one activation
// row: out[i] is bit for bit dot(w + i * w_stride, x, n). Interleaving four independent
// accumulation chains hides the latency of each chain's fused multiply-adds.
using VecDot4Fn = void (*)(const void* w, size_t w_stride, const void* x, int64_t n, float* out);

struct TypeKernels {
  DequantizeRowFn dequantize = nullptr;  // any type -> f32
  QuantizeRowFn quantize = nullptr;      // f32 -> this type; set for dot types (F32, F16,
                                         // BF16, Q8_0, Q8_1, Q8_K) and Q4_0/Q4_1 (tests)
  VecDotFn dot = nullptr;                // set for weight types
  VecDot4Fn dot4 = nullptr;              // optional (SIMD levels of hot types)
};

// Kernels for `type` at the given ISA level; levels the type has no SIMD version for fall
// back to the next lower one. Never returns null functions for the roles documented above.
// Precondition: isa_supported(isa) (a higher level returns kernels that fault with SIGILL).
// SIMD kernels give the same result as the reference up to float rounding (dots accumulate in
// another order); quantizers are bit-identical to the reference.
// Dots assume int8 activation quants lie in [-127, 127], as every quantizer here produces.
const TypeKernels& kernels_for(DType type, Isa isa = best_isa());

// Scalar references, the oracle for the SIMD kernels.
namespace ref {
const TypeKernels& kernels_for(DType type);
}

// f16 / bf16 <-> f32 scalar conversions (IEEE round-to-nearest-even, like ggml).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace shardserve::kernels
