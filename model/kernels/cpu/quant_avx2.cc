// AVX2 + FMA + F16C kernels: dots for F32, F16, Q8_0 x Q8_0, Q4_1 x Q8_1 and Q2_K / Q3_K x Q8_K
// (the quant dots bit-identical to the scalar reference); quantizers for F16, Q8_0, Q8_1 and
// Q8_K (bit-identical to the scalar reference). The AVX-512 level uses these Q2_K / Q3_K dots.
// Built with -mavx2 -mfma -mf16c; only called after CPUID says the CPU has them (quant.cc).
#include <cassert>

#include "model/kernels/cpu/quant_internal.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace shardserve::kernels {
namespace {

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// Two fp16 values at p (scale and min/sum of a block) as floats in lanes 0 and 1.
__m128 load_2xf16(const void* p) {
  uint32_t u;
  std::memcpy(&u, p, 4);
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(u)));
}

// --- F32 / F16 ---

float dot_f32(const void* w, const void* x, int64_t n) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

__m256 load_f16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

float dot_f16(const void* w, const void* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const uint16_t* b = static_cast<const uint16_t*>(x);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(load_f16x8(a + i), load_f16x8(b + i), acc0);
    acc1 = _mm256_fmadd_ps(load_f16x8(a + i + 8), load_f16x8(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(load_f16x8(a + i + 16), load_f16x8(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(load_f16x8(a + i + 24), load_f16x8(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load_f16x8(a + i), load_f16x8(b + i), acc0);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += fp16_to_fp32(a[i]) * fp16_to_fp32(b[i]);
  return sum;
}

void quantize_f16(const float* src, void* dst, int64_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i v = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), v);
  }
  for (; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
  for (; i < n; ++i) dst[i] = _cvtsh_ss(h[i]);
}

// --- Q8_0 / Q8_1 quantization: 32 floats -> 32 int8, q = round_even(x * 127 / amax) ---

float quantize_block_q8(const float* src, int8_t* qs, int* sum_q) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8);
  __m256 v2 = _mm256_loadu_ps(src + 16), v3 = _mm256_loadu_ps(src + 24);
  __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
  m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
  const float amax = hmax(m);
  const float d = amax / 127.f;
  const __m256 id = _mm256_set1_ps(amax != 0 ? 127.f / amax : 0.0f);
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), kRound));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), kRound));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), kRound));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), kRound));
  *sum_q = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
  // packs work per 128-bit lane; the final permute restores element order.
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  const __m256i q = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), q);
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
  const __m256 sign = _mm256_set1_ps(-0.0f);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i, src += kQKK, out += sizeof(BlockQ8_K)) {
    BlockQ8_K& y = *reinterpret_cast<BlockQ8_K*>(out);
    __m256 vmax = _mm256_setzero_ps();
    for (int j = 0; j < kQKK; j += 8)
      vmax = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(src + j)), vmax);
    const float amax = hmax(vmax);
    if (amax == 0) {
      std::memset(out, 0, sizeof(BlockQ8_K));
      continue;
    }
    float max = 0;
    for (int j = 0; j < kQKK; j += 8) {
      const int at = _mm256_movemask_ps(_mm256_cmp_ps(
          _mm256_andnot_ps(sign, _mm256_loadu_ps(src + j)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
      if (at) {
        max = src[j + __builtin_ctz(static_cast<unsigned>(at))];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m256 vscale = _mm256_set1_ps(iscale);
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    for (int j = 0; j < kQKK; j += 16) {
      __m256i q0 = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(src + j), vscale), kRound));
      __m256i q1 = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(src + j + 8), vscale), kRound));
      q0 = _mm256_min_epi32(q0, _mm256_set1_epi32(127));
      q1 = _mm256_min_epi32(q1, _mm256_set1_epi32(127));
      const int16_t sum = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q0, q1)));
      std::memcpy(&y.bsums[j / 16], &sum, sizeof sum);
      // packs work per 128-bit lane: lanes hold q0[0..3] q1[0..3] | q0[4..7] q1[4..7] as int16,
      // then the 8 bytes of each lane; the shuffle restores element order.
      const __m128i p = _mm_packs_epi16(_mm256_castsi256_si128(_mm256_packs_epi32(q0, q1)),
                                        _mm256_extracti128_si256(_mm256_packs_epi32(q0, q1), 1));
      const __m128i q = _mm_shuffle_epi32(p, _MM_SHUFFLE(3, 1, 2, 0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y.qs + j), q);
    }
    const float d = 1 / iscale;
    std::memcpy(&y.d, &d, sizeof d);
  }
}

// --- quant dots ---

__m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// 8 int32 partial sums of u[i] * s[i] (u unsigned, s signed; pair sums must fit int16).
__m256 dot_us8(__m256i u, __m256i s) {
  const __m256i p16 = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

// Signed x signed: |w| * (x with w's sign). Exact for w in [-128, 127], x in [-127, 127].
__m256 dot_q8_block(const BlockQ8_0& w, const BlockQ8_0& x) {
  const __m256i qw = load32(w.qs), qx = load32(x.qs);
  return dot_us8(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
}

// Block after block into one 8-lane accumulator, lane j = elements 4j..4j+3: the order of the
// reference (LaneSum8 in quant_ref.cc) and of llama.cpp, so the bits agree.
float dot_q8_0(const void* w, const void* x, int64_t n) {
  assert(n % kQK == 0);
  const BlockQ8_0* a = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d));
    acc = _mm256_fmadd_ps(d, dot_q8_block(a[i], b[i]), acc);
  }
  return hsum(acc);
}

// Q4_1 block: nibbles -> 32 unsigned bytes (low nibbles = elements 0..15, high = 16..31).
__m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// Same lanes and order as dot_q8_0; the m_w * s_x terms go into a scalar fused multiply-add
// chain added at the end.
float dot_q4_1(const void* w, const void* x, int64_t n) {
  assert(n % kQK == 0);
  const BlockQ4_1* a = static_cast<const BlockQ4_1*>(w);
  const BlockQ8_1* b = static_cast<const BlockQ8_1*>(x);
  __m256 acc = _mm256_setzero_ps();
  __m128 sum_m = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m128 hw = load_2xf16(&a[i]), hx = load_2xf16(&b[i]);  // [dw, mw], [dx, sx]
    sum_m = _mm_fmadd_ss(_mm_movehdup_ps(hw), _mm_movehdup_ps(hx), sum_m);
    const __m256 d = _mm256_broadcastss_ps(_mm_mul_ss(hw, hx));
    acc = _mm256_fmadd_ps(d, dot_us8(unpack_nibbles(a[i].qs), load32(b[i].qs)), acc);
  }
  return hsum(acc) + _mm_cvtss_f32(sum_m);
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
    const __m128 hx = load_2xf16(&b[i]);
    const __m256i qx = load32(b[i].qs);
    for (int r = 0; r < 4; ++r) {
      const __m128 hw = load_2xf16(&a[r][i]);
      sum_m[r] = _mm_fmadd_ss(_mm_movehdup_ps(hw), _mm_movehdup_ps(hx), sum_m[r]);
      const __m256 d = _mm256_broadcastss_ps(_mm_mul_ss(hw, hx));
      acc[r] = _mm256_fmadd_ps(d, dot_us8(unpack_nibbles(a[r][i].qs), qx), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(acc[r]) + _mm_cvtss_f32(sum_m[r]);
}

// --- Q2_K / Q3_K x Q8_K: 2-bit planes of 32 bytes, 16 sub-blocks of 16 with their own scales ---

// Sub-block scales as int16 for the quarter t (0..3) of a 128-element half: `s` holds the
// half's 8 scales in both 128-bit lanes; the result holds scale 2t in the low lane (elements
// 0..15 of the quarter) and 2t + 1 in the high lane (elements 16..31).
__m256i quarter_scales(__m256i s, int t) {
  const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,  //
                                        2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
  return _mm256_shuffle_epi8(s, _mm256_add_epi8(pick, _mm256_set1_epi8(static_cast<char>(4 * t))));
}

// 16 int8 scales -> int16, half h's 8 scales in both lanes of halves[h].
void split_scales(__m128i scales8, __m256i halves[2]) {
  const __m256i s16 = _mm256_cvtepi8_epi16(scales8);
  halves[0] = _mm256_permute2x128_si256(s16, s16, 0x00);
  halves[1] = _mm256_permute2x128_si256(s16, s16, 0x11);
}

// The order of the reference dot_q2_k (llama.cpp's repacked Q2_K kernel): exact int32 sums per
// super-block, reduced to one integer, then two scalar fused multiply-add chains.
float dot_q2_k(const void* w, const void* x, int64_t n) {
  assert(n % kQKK == 0);
  const BlockQ2_K* a = static_cast<const BlockQ2_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m128i m4 = _mm_set1_epi8(0xf);
  __m128 acc = _mm_setzero_ps(), acc_m = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const __m128i sc_min = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc_min, 4), m4));
    const __m256i bsums = load32(y[i].bsums);
    const int summ = hsum_i32(_mm256_madd_epi16(mins, bsums));
    __m256i halves[2];
    split_scales(_mm_and_si128(sc_min, m4), halves);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i bits = load32(a[i].qs + 32 * h);
      for (int t = 0; t < 4; ++t) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * t), m3);
        const __m256i p16 = _mm256_maddubs_epi16(q, load32(y[i].qs + 128 * h + 32 * t));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, quarter_scales(halves[h], t)));
      }
    }
    float dy;
    std::memcpy(&dy, &y[i].d, 4);
    const __m128 dw = load_2xf16(&a[i].d);  // [d, dmin]
    acc = _mm_fmadd_ss(_mm_cvtsi32_ss(acc, hsum_i32(sumi)), _mm_mul_ss(dw, _mm_set_ss(dy)), acc);
    acc_m = _mm_fmadd_ss(_mm_cvtsi32_ss(acc_m, summ),
                         _mm_mul_ss(_mm_movehdup_ps(dw), _mm_set_ss(dy)), acc_m);
  }
  return _mm_cvtss_f32(_mm_sub_ss(acc, acc_m));
}

// The 16 scales of a Q3_K super-block (6 bits, stored + 32) as int8.
__m128i q3k_scales(const uint8_t* p) {
  uint32_t u[3];
  std::memcpy(u, p, 12);
  const uint32_t lo = 0x0f0f0f0f, hi = 0x03030303;
  const __m128i s =
      _mm_setr_epi32(static_cast<int>((u[0] & lo) | ((u[2] & hi) << 4)),
                     static_cast<int>((u[1] & lo) | (((u[2] >> 2) & hi) << 4)),
                     static_cast<int>(((u[0] >> 4) & lo) | (((u[2] >> 4) & hi) << 4)),
                     static_cast<int>(((u[1] >> 4) & lo) | (((u[2] >> 6) & hi) << 4)));
  return _mm_sub_epi8(s, _mm_set1_epi8(32));
}

// The reference's order (LaneSum8, ggml_vec_dot_q3_K_q8_K's): lane l of a super-block's int32
// sum takes elements 4l..4l+3 of each 32-element quarter, scaled by its sub-block's scale.
float dot_q3_k(const void* w, const void* x, int64_t n) {
  assert(n % kQKK == 0);
  const BlockQ3_K* a = static_cast<const BlockQ3_K*>(w);
  const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    __m256i halves[2];
    split_scales(q3k_scales(a[i].scales), halves);
    const __m256i hbits = load32(a[i].hmask);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i bits = load32(a[i].qs + 32 * h);
      for (int t = 0; t < 4; ++t) {
        const __m256i low = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * t), m3);
        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(hbits, 4 * h + t), one);
        // q = low + 4 * high - 4 in [-4, 3]; |q| * (y with q's sign) keeps maddubs exact
        const __m256i q =
            _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 2)), _mm256_set1_epi8(4));
        const __m256i qy = load32(y[i].qs + 128 * h + 32 * t);
        const __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(qy, q));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, quarter_scales(halves[h], t)));
      }
    }
    float dy;
    std::memcpy(&dy, &y[i].d, 4);
    const __m256 d = _mm256_set1_ps(dy * _cvtsh_ss(a[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
}

}  // namespace

const TypeKernels* avx2_kernels(DType type) {
  static const TypeKernels kF32{nullptr, nullptr, dot_f32};
  static const TypeKernels kF16{dequantize_f16, quantize_f16, dot_f16};
  static const TypeKernels kQ4_1{nullptr, nullptr, dot_q4_1, dot4_q4_1};
  static const TypeKernels kQ8_0{nullptr, quantize_q8_0, dot_q8_0};
  static const TypeKernels kQ8_1{nullptr, quantize_q8_1, nullptr};
  static const TypeKernels kQ2_K{nullptr, nullptr, dot_q2_k};
  static const TypeKernels kQ3_K{nullptr, nullptr, dot_q3_k};
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
    case DType::Q2_K:
      return &kQ2_K;
    case DType::Q3_K:
      return &kQ3_K;
    case DType::Q8_K:
      return &kQ8_K;
    default:
      return &kNone;
  }
}

}  // namespace shardserve::kernels

#else  // not built with AVX2: no kernels at this level

namespace shardserve::kernels {
const TypeKernels* avx2_kernels(DType) {
  return nullptr;
}
}  // namespace shardserve::kernels

#endif
