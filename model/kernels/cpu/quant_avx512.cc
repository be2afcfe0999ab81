// AVX-512 (F, BW, VL, DQ, VNNI) kernels: dots for F32, F16, Q8_0 x Q8_0 (vpdpbusd on two blocks
// per 512-bit register) and Q4_1 x Q8_1 (256-bit vpdpbusd per block), both bit-identical to
// AVX2 and the reference; quantizers for F16, Q8_0, Q8_1 and Q8_K (bit-identical to the reference).
// Only called after CPUID says the CPU has them.
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

void dequantize_f16(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i)));
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

// --- Q8_K quantization: 256 floats -> 256 int8 with the reference's choice of scale (the
// first element of largest magnitude, with its sign), per-16 sums, and d = 1 / iscale ---

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  assert(n % kQKK == 0);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i, src += kQKK, out += sizeof(BlockQ8_K)) {
    BlockQ8_K& y = *reinterpret_cast<BlockQ8_K*>(out);
    __m512 vmax = _mm512_setzero_ps();
    for (int j = 0; j < kQKK; j += 16)
      vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(src + j)), vmax);
    const float amax = _mm512_reduce_max_ps(vmax);
    if (amax == 0) {
      std::memset(out, 0, sizeof(BlockQ8_K));
      continue;
    }
    float max = 0;
    for (int j = 0; j < kQKK; j += 16) {
      const __mmask16 at = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(src + j)),
                                              _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (at) {
        max = src[j + __builtin_ctz(at)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 vscale = _mm512_set1_ps(iscale);
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    for (int j = 0; j < kQKK; j += 16) {
      __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src + j), vscale), kRound);
      q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y.qs + j), _mm512_cvtsepi32_epi8(q));
      const int16_t sum = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
      std::memcpy(&y.bsums[j / 16], &sum, sizeof sum);
    }
    const float d = 1 / iscale;
    std::memcpy(&y.d, &d, sizeof d);
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

// The quant dots follow the reference's order (LaneSum8 in quant_ref.cc), which is llama.cpp's:
// one 8-lane accumulator, lane j = integer dot of elements 4j..4j+3 of a block, one fused
// multiply-add per block in block order, then the 8 lanes folded. The float accumulation is a
// 256-bit chain, so the result is bit-identical to AVX2 and the reference.

float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// acc += d0 * (lanes 0-7 of p), then acc += d2 * (lanes 8-15 of p), for d = [d0, _, d2, _].
__m256 fmadd_2blocks(__m128 d, __m512 p, __m256 acc) {
  acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(d), _mm512_castps512_ps256(p), acc);
  return _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehl_ps(d, d)), _mm512_extractf32x8_ps(p, 1),
                         acc);
}

// Integer dots of two Q8_0 blocks as floats: |w| * (x with w's sign) summed in groups of 4 by
// vpdpbusd; exact for w in [-128, 127] and x in [-127, 127].
__m512 dot_q8_2blocks(const BlockQ8_0& w0, const BlockQ8_0& w1, const BlockQ8_0& x0,
                      const BlockQ8_0& x1) {
  const __m512i qw = load_2x32(w0.qs, w1.qs), qx = load_2x32(x0.qs, x1.qs);
  const __m512i sx = _mm512_mask_sub_epi8(qx, _mm512_movepi8_mask(qw), _mm512_setzero_si512(), qx);
  return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qw), sx));
}

__m256 dot_q8_block(const BlockQ8_0& w, const BlockQ8_0& x) {
  const __m256i qw = load32(w.qs), qx = load32(x.qs);
  return _mm256_cvtepi32_ps(
      _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(qw), _mm256_sign_epi8(qx, qw)));
}

float dot_q8_0(const void* w, const void* x, int64_t n) {
  assert(n % kQK == 0);
  const BlockQ8_0* a = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  const int64_t nb = n / kQK;
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    // [dw0, dx0, dw1, dx1] -> lanes 0 and 2 hold dw * dx
    const __m128 h = _mm_cvtph_ps(
        _mm_setr_epi16(static_cast<short>(a[i].d), static_cast<short>(b[i].d),
                       static_cast<short>(a[i + 1].d), static_cast<short>(b[i + 1].d), 0, 0, 0, 0));
    const __m128 d = _mm_mul_ps(h, _mm_movehdup_ps(h));
    acc = fmadd_2blocks(d, dot_q8_2blocks(a[i], a[i + 1], b[i], b[i + 1]), acc);
  }
  if (i < nb) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d));
    acc = _mm256_fmadd_ps(d, dot_q8_block(a[i], b[i]), acc);
  }
  return hsum8(acc);
}

__m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
}

// The m_w * s_x terms form a scalar fused multiply-add chain in block order, added at the end.
// One block per step with 256-bit vpdpbusd: the accumulation is a serial chain either way, and
// this is quicker than pairing blocks in 512-bit registers and splitting them again.
float dot_q4_1(const void* w, const void* x, int64_t n) {
  assert(n % kQK == 0);
  const BlockQ4_1* a = static_cast<const BlockQ4_1*>(w);
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(x);
  __m256 acc = _mm256_setzero_ps();
  __m128 sum_m = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m128 hw = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(&a[i]))));
    const __m128 hx = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(&b[i]))));
    const __m256 p = _mm256_cvtepi32_ps(
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack_nibbles(a[i].qs), load32(b[i].qs)));
    acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ss(hw, hx)), p, acc);
    sum_m = _mm_fmadd_ss(_mm_movehdup_ps(hw), _mm_movehdup_ps(hx), sum_m);
  }
  return hsum8(acc) + _mm_cvtss_f32(sum_m);
}

// dot_q4_1 for four rows: the same per-row arithmetic, four chains interleaved.
void dot4_q4_1(const void* w, size_t w_stride, const void* x, int64_t n, float* out) {
  assert(n % kQK == 0);
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(x);
  const BlockQ4_1* a[4];
  for (int r = 0; r < 4; ++r)
    a[r] = reinterpret_cast<const BlockQ4_1*>(static_cast<const uint8_t*>(w) + r * w_stride);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  __m128 sum_m[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m128 hx = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(&b[i]))));
    const __m256i qx = load32(b[i].qs);
    for (int r = 0; r < 4; ++r) {
      const __m128 hw = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(&a[r][i]))));
      const __m256 p = _mm256_cvtepi32_ps(
          _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack_nibbles(a[r][i].qs), qx));
      acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ss(hw, hx)), p, acc[r]);
      sum_m[r] = _mm_fmadd_ss(_mm_movehdup_ps(hw), _mm_movehdup_ps(hx), sum_m[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum8(acc[r]) + _mm_cvtss_f32(sum_m[r]);
}

}  // namespace

const TypeKernels* avx512_kernels(DType type) {
  static const TypeKernels kF32{nullptr, nullptr, dot_f32};
  static const TypeKernels kF16{dequantize_f16, quantize_f16, dot_f16};
  static const TypeKernels kQ4_1{nullptr, nullptr, dot_q4_1, dot4_q4_1};
  static const TypeKernels kQ8_0{nullptr, quantize_q8_0, dot_q8_0};
  static const TypeKernels kQ8_1{nullptr, quantize_q8_1, nullptr};
  static const TypeKernels kQ8_K{nullptr, quantize_q8_k, nullptr};
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
    case DType::Q8_K:
      return &kQ8_K;
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
