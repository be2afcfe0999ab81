// AVX-512 (F, BW, VL, DQ, VNNI) kernels: dots for F32, F16, Q8_0 x Q8_0 and Q4_1 x Q8_1 using
// vpdpbusd on two 32-element blocks per 512-bit register; quantizers for F16, Q8_0 and Q8_1
// (bit-identical to the scalar reference). Only called after CPUID says the CPU has them.
#include <cassert>

#include "model/kernels/cpu/quant_internal.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__) && defined(__AVX512VNNI__) && defined(__FMA__) && defined(__F16C__)
// GCC 12's AVX-512 headers trip -Wuninitialized on their own _mm512_undefined_*() (GCC
// PR105593, fixed in 13); the warnings point into the headers, not at this code.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace shardserve::kernels {
namespace {

// --- F32 / F16 ---

float dot_f32(const void* w, const void* x, int64_t n) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

__m512 load_f16x16(const uint16_t* p, __mmask16 m = 0xffff) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

float dot_f16(const void* w, const void* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const uint16_t* b = static_cast<const uint16_t*>(x);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_fmadd_ps(load_f16x16(a + i), load_f16x16(b + i), acc0);
    acc1 = _mm512_fmadd_ps(load_f16x16(a + i + 16), load_f16x16(b + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(load_f16x16(a + i + 32), load_f16x16(b + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(load_f16x16(a + i + 48), load_f16x16(b + i + 48), acc3);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(load_f16x16(a + i, m), load_f16x16(b + i, m), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

void quantize_f16(const float* src, void* dst, int64_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256i v = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), kRound);
    _mm256_mask_storeu_epi16(h + i, m, v);
  }
}

// --- Q8_0 / Q8_1 quantization: 32 floats -> 32 int8, q = round_even(x * 127 / amax) ---

float quantize_block_q8(const float* src, int8_t* qs, int* sum_q) {
  const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const float d = amax / 127.f;
  const __m512 id = _mm512_set1_ps(amax != 0 ? 127.f / amax : 0.0f);
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512i i0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), kRound);
  const __m512i i1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), kRound);
  *sum_q = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtsepi32_epi8(i0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtsepi32_epi8(i1));
  return d;
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  assert(n % kQK == 0);
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    int sum_q;
    b[i].d = fp32_to_fp16(quantize_block_q8(src, b[i].qs, &sum_q));
  }
}

void quantize_q8_1(const float* src, void* dst, int64_t n) {
  assert(n % kQK == 0);
  BlockQ8_1* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    int sum_q;
    const float d = quantize_block_q8(src, b[i].qs, &sum_q);
    b[i].d = fp32_to_fp16(d);
    b[i].s = fp32_to_fp16(d * static_cast<float>(sum_q));
  }
}

// --- quant dots: two blocks per zmm (lanes 0-7 block i, lanes 8-15 block i+1) ---

__m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

__m512i load_2x32(const void* p0, const void* p1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(load32(p0)), load32(p1), 1);
}

uint32_t load_u32(const void* p) {
  uint32_t u;
  std::memcpy(&u, p, 4);
  return u;
}

// Broadcasts lane 0 of v to the low 8 floats and lane 2 to the high 8.
__m512 spread_lanes_0_2(__m128 v) {
  const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(v));
}

// |w| * (x with w's sign), summed in groups of 4 by vpdpbusd; exact for w in [-128, 127] and
// x in [-127, 127].
__m512 dot_q8_2blocks(const BlockQ8_0& w0, const BlockQ8_0& w1, const BlockQ8_0& x0,
                      const BlockQ8_0& x1, __m512 acc) {
  const __m512i qw = load_2x32(w0.qs, w1.qs), qx = load_2x32(x0.qs, x1.qs);
  const __m512i sx = _mm512_mask_sub_epi8(qx, _mm512_movepi8_mask(qw), _mm512_setzero_si512(), qx);
  const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qw), sx);
  // scales: cvtph of [dw0, dx0, dw1, dx1] -> lanes 0 and 2 hold dw * dx
  const __m128 h =
      _mm_cvtph_ps(_mm_setr_epi16(static_cast<short>(w0.d), static_cast<short>(x0.d),
                                  static_cast<short>(w1.d), static_cast<short>(x1.d), 0, 0, 0, 0));
  const __m512 d = spread_lanes_0_2(_mm_mul_ps(h, _mm_movehdup_ps(h)));
  return _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
}

float dot_q8_0(const void* w, const void* x, int64_t n) {
  assert(n % kQK == 0);
  const BlockQ8_0* a = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  const int64_t nb = n / kQK;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    acc0 = dot_q8_2blocks(a[i], a[i + 1], b[i], b[i + 1], acc0);
    acc1 = dot_q8_2blocks(a[i + 2], a[i + 3], b[i + 2], b[i + 3], acc1);
  }
  if (i + 2 <= nb) {
    acc0 = dot_q8_2blocks(a[i], a[i + 1], b[i], b[i + 1], acc0);
    i += 2;
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (i < nb) {  // last odd block, 256-bit
    const __m256i qw = load32(a[i].qs), qx = load32(b[i].qs);
    const __m256i p =
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(qw), _mm256_sign_epi8(qx, qw));
    const __m256 f = _mm256_cvtepi32_ps(p);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    sum += _mm_cvtss_f32(s) * (_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d));
  }
  return sum;
}

// Nibbles of two Q4_1 blocks as 64 unsigned bytes: [lo0, hi0, lo1, hi1] (16 bytes each), i.e.
// elements 0..31 of block i then of block i+1.
__m512i unpack_nibbles_2blocks(const uint8_t* q0, const uint8_t* q1) {
  const __m256i q = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q1)),
                                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(q0)));
  __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
  both = _mm512_and_si512(both, _mm512_set1_epi8(0x0f));  // [lo0, lo1, hi0, hi1]
  return _mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(3, 1, 2, 0));
}

// Two Q4_1 x Q8_1 blocks: the int dot scaled by dw * dx per lane; `mins` gets lanes 1 and 3 of
// [dw*dx, m*s, dw*dx, m*s].
__m512 dot_q4_1_2blocks(const BlockQ4_1& w0, const BlockQ4_1& w1, const BlockQ8_1& x0,
                        const BlockQ8_1& x1, __m128* mins) {
  const __m128 hw = _mm_cvtph_ps(
      _mm_setr_epi32(static_cast<int>(load_u32(&w0)), static_cast<int>(load_u32(&w1)), 0, 0));
  const __m128 hx = _mm_cvtph_ps(
      _mm_setr_epi32(static_cast<int>(load_u32(&x0)), static_cast<int>(load_u32(&x1)), 0, 0));
  const __m128 s = _mm_mul_ps(hw, hx);  // [dw0*dx0, m0*s0, dw1*dx1, m1*s1]
  *mins = _mm_add_ps(*mins, s);
  const __m512i p = _mm512_dpbusd_epi32(
      _mm512_setzero_si512(), unpack_nibbles_2blocks(w0.qs, w1.qs), load_2x32(x0.qs, x1.qs));
  return _mm512_mul_ps(spread_lanes_0_2(s), _mm512_cvtepi32_ps(p));
}

// Four Q4_1 x Q8_1 blocks; 128-bit lane i of the products holds block i. The low nibbles of
// all four blocks meet the first 16 activations of each block, the high nibbles the last 16,
// in two vpdpbusd; one conversion and one fma scale them. `mins` gets the m * s terms in its
// odd lanes. Blocks are gathered from whole 64-byte loads by dword permutes (a Q4_1 block is
// 5 dwords, a Q8_1 block 9), never reading past the four blocks.
__m512 dot_q4_1_4blocks(const BlockQ4_1* w, const BlockQ8_1* x, __m256* mins, __m512 acc) {
  const auto* wp = reinterpret_cast<const uint8_t*>(w);
  const auto* xp = reinterpret_cast<const uint8_t*>(x);
  const __m512i w0 = _mm512_loadu_si512(wp), w4 = _mm512_loadu_si512(wp + 16);  // dw 0-15, 4-19
  const __m512i q = _mm512_permutex2var_epi32(
      w0, _mm512_setr_epi32(1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 28, 29, 30, 31), w4);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i lo = _mm512_and_si512(q, m4);
  const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
  const __m512i x0 = _mm512_loadu_si512(xp), x16 = _mm512_loadu_si512(xp + 64);  // dw 0-15, 16-31
  const __m512i x4 = _mm512_loadu_si512(xp + 16), x20 = _mm512_loadu_si512(xp + 80);  // 4-19, 20-35
  const __m512i ylo = _mm512_permutex2var_epi32(
      x0, _mm512_setr_epi32(1, 2, 3, 4, 10, 11, 12, 13, 19, 20, 21, 22, 28, 29, 30, 31), x16);
  const __m512i yhi = _mm512_permutex2var_epi32(
      x4, _mm512_setr_epi32(1, 2, 3, 4, 10, 11, 12, 13, 19, 20, 21, 22, 28, 29, 30, 31), x20);
  __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, ylo);
  p = _mm512_dpbusd_epi32(p, hi, yhi);
  // fp16 (d, m) of each weight block (dword 5k), (d, s) of each activation block (dword 9k)
  const __m512i sw = _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 5, 10, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), w0);
  const __m512i sx = _mm512_permutex2var_epi32(
      x0, _mm512_setr_epi32(0, 9, 18, 27, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), x16);
  const __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm512_castsi512_si128(sw)),
                                 _mm256_cvtph_ps(_mm512_castsi512_si128(sx)));
  *mins = _mm256_add_ps(*mins, s);  // s = [dw*dx, m*s] for blocks 0..3
  const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
  const __m512 d = _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(s));
  return _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
}

float dot_q4_1(const void* w, const void* x, int64_t n) {
  assert(n % kQK == 0);
  const BlockQ4_1* a = static_cast<const BlockQ4_1*>(w);
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(x);
  const int64_t nb = n / kQK;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m256 mins4 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    acc0 = dot_q4_1_4blocks(a + i, b + i, &mins4, acc0);
    acc1 = dot_q4_1_4blocks(a + i + 4, b + i + 4, &mins4, acc1);
  }
  if (i + 4 <= nb) {
    acc0 = dot_q4_1_4blocks(a + i, b + i, &mins4, acc0);
    i += 4;
  }
  __m128 mins = _mm_add_ps(_mm256_castps256_ps128(mins4), _mm256_extractf128_ps(mins4, 1));
  if (i + 2 <= nb) {
    acc1 = _mm512_add_ps(acc1, dot_q4_1_2blocks(a[i], a[i + 1], b[i], b[i + 1], &mins));
    i += 2;
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (i < nb) {  // last odd block, 256-bit
    const __m128 hw = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(&a[i]))));
    const __m128 hx = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(&b[i]))));
    const __m128 s = _mm_mul_ps(hw, hx);
    mins = _mm_add_ps(mins, s);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].qs));
    const __m256i qw =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), qw, load32(b[i].qs));
    const __m256 f = _mm256_cvtepi32_ps(p);
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    t = _mm_add_ss(t, _mm_movehdup_ps(t));
    sum += _mm_cvtss_f32(t) * _mm_cvtss_f32(s);
  }
  // lanes 1 and 3 hold the m * s sums
  const __m128 m13 = _mm_movehdup_ps(mins);
  return sum + _mm_cvtss_f32(_mm_add_ss(m13, _mm_movehl_ps(m13, m13)));
}

}  // namespace

const TypeKernels* avx512_kernels(DType type) {
  static const TypeKernels kF32{nullptr, nullptr, dot_f32};
  static const TypeKernels kF16{nullptr, quantize_f16, dot_f16};
  static const TypeKernels kQ4_1{nullptr, nullptr, dot_q4_1};
  static const TypeKernels kQ8_0{nullptr, quantize_q8_0, dot_q8_0};
  static const TypeKernels kQ8_1{nullptr, quantize_q8_1, nullptr};
  static const TypeKernels kNone{};
  switch (type) {
    case DType::F32:
      return &kF32;
    case DType::F16:
      return &kF16;
    case DType::Q4_1:
      return &kQ4_1;
    case DType::Q8_0:
      return &kQ8_0;
    case DType::Q8_1:
      return &kQ8_1;
    default:
      return &kNone;
  }
}

}  // namespace shardserve::kernels

#else  // not built with AVX-512: no kernels at this level

namespace shardserve::kernels {
const TypeKernels* avx512_kernels(DType) {
  return nullptr;
}
}  // namespace shardserve::kernels

#endif
