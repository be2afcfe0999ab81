// Tests for the tensor type table and the CPU quant kernels: round trips, reference dots
// against dequantized rows, every SIMD kernel against the scalar reference, and f16/bf16
// conversion edge cases.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "model/kernels/cpu/kernel_test_util.h"
#include "model/kernels/cpu/quant.h"
#include "model/kernels/cpu/quant_internal.h"
#include "model/tensor_type.h"

namespace shardserve::kernels {
namespace {

using test_util::random_row;

constexpr DType kAllTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                               DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q8_1, DType::Q2_K,
                               DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K};
constexpr DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                                  DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                                  DType::Q4_K, DType::Q5_K, DType::Q6_K};
constexpr Isa kSimdIsas[] = {Isa::Avx2, Isa::Avx512};

std::vector<float> random_floats(int64_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = dist(rng);
  return v;
}

// An activation row for a dot with `weight`: random floats quantized by the reference.
std::vector<uint8_t> activation_row(DType weight, int64_t n, std::mt19937& rng) {
  const DType dt = info(weight).dot_type;
  std::vector<uint8_t> row(row_bytes(dt, n));
  const std::vector<float> v = random_floats(n, rng);
  ref::kernels_for(dt).quantize(v.data(), row.data(), n);
  return row;
}

std::vector<float> dequantize(DType type, const std::vector<uint8_t>& row, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  ref::kernels_for(type).dequantize(row.data(), v.data(), n);
  return v;
}

// Row lengths to test: several sizes, including odd multiples of the block size.
std::vector<int64_t> test_lengths(DType type) {
  const int64_t bs = info(type).block_size;
  if (bs == 1) return {1, 7, 16, 31, 33, 64, 100, 576, 1000, 1536, 4095, 4096};
  if (bs == 32) return {32, 64, 96, 160, 224, 576, 1056, 1536, 4064, 4096};
  return {256, 768, 1536, 2304, 4096};
}

// Sum of |m * s| over blocks, for the *_1 types whose dot uses the fp16 block sum s.
double min_term_scale(DType type, const std::vector<uint8_t>& w, const std::vector<uint8_t>& x) {
  if (type != DType::Q4_1 && type != DType::Q5_1) return 0;
  const size_t bb = info(type).block_bytes, nb = w.size() / bb;
  const BlockQ8_1* xb = reinterpret_cast<const BlockQ8_1*>(x.data());
  double sum = 0;
  for (size_t i = 0; i < nb; ++i) {
    uint16_t m;
    std::memcpy(&m, w.data() + i * bb + 2, 2);
    sum += std::fabs(f16_to_f32(m) * f16_to_f32(xb[i].s));
  }
  return sum;
}

// --- the type table ---

TEST(TensorType, TableMatchesGguf) {
  struct Want {
    DType t;
    int64_t bs;
    size_t bytes;
    DType dot;
  };
  const Want want[] = {
      {DType::F32, 1, 4, DType::F32},       {DType::F16, 1, 2, DType::F16},
      {DType::BF16, 1, 2, DType::BF16},     {DType::Q4_0, 32, 18, DType::Q8_0},
      {DType::Q4_1, 32, 20, DType::Q8_1},   {DType::Q5_0, 32, 22, DType::Q8_0},
      {DType::Q5_1, 32, 24, DType::Q8_1},   {DType::Q8_0, 32, 34, DType::Q8_0},
      {DType::Q8_1, 32, 36, DType::Q8_1},   {DType::Q2_K, 256, 84, DType::Q8_K},
      {DType::Q3_K, 256, 110, DType::Q8_K}, {DType::Q4_K, 256, 144, DType::Q8_K},
      {DType::Q5_K, 256, 176, DType::Q8_K}, {DType::Q6_K, 256, 210, DType::Q8_K},
      {DType::Q8_K, 256, 292, DType::Q8_K},
  };
  for (const Want& w : want) {
    const auto i = dtype_info(static_cast<uint32_t>(w.t));
    ASSERT_TRUE(i.has_value());
    EXPECT_EQ(i->type, w.t);
    EXPECT_EQ(i->block_size, w.bs) << i->name;
    EXPECT_EQ(i->block_bytes, w.bytes) << i->name;
    EXPECT_EQ(i->dot_type, w.dot) << i->name;
    EXPECT_EQ(&info(w.t), &info(w.t));
  }
  EXPECT_EQ(info(DType::Q4_1).name, "Q4_1");
  EXPECT_EQ(row_bytes(DType::Q4_1, 576), 18u * 20u);
  EXPECT_EQ(row_bytes(DType::F16, 3), 6u);
  EXPECT_FALSE(dtype_info(4).has_value());  // Q4_2, removed from GGUF
  EXPECT_FALSE(dtype_info(1000).has_value());
}

TEST(QuantKernels, EveryRoleIsFilled) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    for (DType t : kAllTypes) {
      const TypeKernels& k = kernels_for(t, isa);
      EXPECT_NE(k.dequantize, nullptr) << info(t).name;
      const bool is_dot_type = info(t).dot_type == t;
      const bool weight = t != DType::Q8_1 && t != DType::Q8_K;
      if (is_dot_type || t == DType::Q4_0 || t == DType::Q4_1) {
        EXPECT_NE(k.quantize, nullptr) << info(t).name;
      }
      if (weight) {
        EXPECT_NE(k.dot, nullptr) << info(t).name;
      }
    }
  }
  EXPECT_TRUE(isa_supported(Isa::Scalar));
  EXPECT_TRUE(isa_supported(best_isa()));
}

// --- scalar references ---

// Max error of dequantize(quantize(x)) relative to the max |x| of the block.
double round_trip_tolerance(DType t) {
  switch (t) {
    case DType::F32:
      return 0;
    case DType::F16:
      return 1e-3;
    case DType::BF16:
      return 8e-3;
    case DType::Q8_0:
    case DType::Q8_1:
    case DType::Q8_K:
      return 0.5 / 127 + 1e-3;
    case DType::Q4_0:
      return 1.0 / 8 + 1e-3;
    case DType::Q4_1:
      return 1.0 / 15 + 2e-3;
    case DType::Q5_0:
      return 1.0 / 16 + 1e-3;
    case DType::Q5_1:
      return 1.0 / 31 + 2e-3;
    default:
      return -1;
  }
}

TEST(QuantRef, RoundTripIsClose) {
  std::mt19937 rng(1);
  for (DType t : kAllTypes) {
    const TypeKernels& k = ref::kernels_for(t);
    if (k.quantize == nullptr) continue;
    const int64_t n = 1024;
    std::vector<float> x = random_floats(n, rng, 3.0f);
    for (int j = 256; j < 288; ++j) x[j] = 0;  // an all-zero block
    std::vector<uint8_t> q(row_bytes(t, n));
    k.quantize(x.data(), q.data(), n);
    const std::vector<float> y = dequantize(t, q, n);
    const int64_t blk = std::max<int64_t>(info(t).block_size, 32);
    for (int64_t b = 0; b < n; b += blk) {
      float amax = 0;
      for (int64_t j = b; j < b + blk; ++j) amax = std::max(amax, std::fabs(x[j]));
      for (int64_t j = b; j < b + blk; ++j) {
        const double tol = info(t).block_size == 1 ? round_trip_tolerance(t) * std::fabs(x[j])
                                                   : round_trip_tolerance(t) * amax;
        ASSERT_NEAR(y[j], x[j], tol) << info(t).name << " element " << j;
      }
    }
  }
}

TEST(QuantRef, Q8QuantizerRoundsHalfToEven) {
  // amax = 127 gives id = 1, so x * id is exact and ties must go to even.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 3.5f;
  x[4] = 0.5f;
  BlockQ8_1 b;
  ref::kernels_for(DType::Q8_1).quantize(x.data(), &b, 32);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 2);
  EXPECT_EQ(b.qs[2], -2);
  EXPECT_EQ(b.qs[3], 4);
  EXPECT_EQ(b.qs[4], 0);
  EXPECT_EQ(f16_to_f32(b.d), 1.0f);
  EXPECT_EQ(f16_to_f32(b.s), 127.0f + 2 - 2 + 4);
}

TEST(QuantRef, DotMatchesDequantizedRows) {
  std::mt19937 rng(2);
  for (DType t : kWeightTypes) {
    const DType dt = info(t).dot_type;
    for (int64_t n : test_lengths(t)) {
      const std::vector<uint8_t> w = random_row(t, n, rng);
      const std::vector<uint8_t> x = activation_row(t, n, rng);
      const std::vector<float> wf = dequantize(t, w, n), xf = dequantize(dt, x, n);
      double want = 0, scale = 0;
      for (int64_t i = 0; i < n; ++i) {
        want += static_cast<double>(wf[i]) * xf[i];
        scale += std::fabs(static_cast<double>(wf[i]) * xf[i]);
      }
      const double ms = min_term_scale(t, w, x);
      const double tol = 1e-5 * scale + 2.5e-3 * ms + 1e-6;
      EXPECT_NEAR(ref::kernels_for(t).dot(w.data(), x.data(), n), want, tol)
          << info(t).name << " n=" << n;
    }
  }
}

// Q2_K / Q3_K element and scale layout: the reference dequantizers against a transcription of
// the loops of ggml's dequantize_row_q2_K / dequantize_row_q3_K (elements written in order,
// half by half, each 2-bit plane of 32 bytes as two sub-blocks of 16; Q3_K's scales unpacked as
// little-endian words), bit for bit.
TEST(QuantRef, Q2KAndQ3KDequantizeInGgmlLayout) {
  std::mt19937 rng(6);
  const int64_t n = 768;
  const std::vector<uint8_t> w2 = random_row(DType::Q2_K, n, rng);
  const std::vector<uint8_t> w3 = random_row(DType::Q3_K, n, rng);
  std::vector<float> want2, want3;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const BlockQ2_K& b2 = reinterpret_cast<const BlockQ2_K*>(w2.data())[i];
    const BlockQ3_K& b3 = reinterpret_cast<const BlockQ3_K*>(w3.data())[i];
    uint32_t aux[4];
    std::memcpy(aux, b3.scales, 12);
    const uint32_t tmp = aux[2], m4 = 0x0f0f0f0f, m2 = 0x03030303;
    aux[2] = ((aux[0] >> 4) & m4) | (((tmp >> 4) & m2) << 4);
    aux[3] = ((aux[1] >> 4) & m4) | (((tmp >> 6) & m2) << 4);
    aux[0] = (aux[0] & m4) | ((tmp & m2) << 4);
    aux[1] = (aux[1] & m4) | (((tmp >> 2) & m2) << 4);
    int8_t sc3[16];
    std::memcpy(sc3, aux, 16);
    const float d2 = f16_to_f32(b2.d), min2 = f16_to_f32(b2.dmin), d3 = f16_to_f32(b3.d);
    int is = 0;
    uint8_t hm = 1;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q2 = b2.qs + 32 * half;
      const uint8_t* q3 = b3.qs + 32 * half;
      for (int shift = 0; shift < 8; shift += 2, hm = static_cast<uint8_t>(hm << 1)) {
        for (int part = 0; part < 2; ++part, ++is) {
          const float dl = d2 * static_cast<float>(b2.scales[is] & 0xf);
          const float ml = min2 * static_cast<float>(b2.scales[is] >> 4);
          const float dl3 = d3 * static_cast<float>(sc3[is] - 32);
          for (int l = 16 * part; l < 16 * part + 16; ++l) {
            const float p = dl * static_cast<float>((q2[l] >> shift) & 3);
            want2.push_back(p - ml);
            const int q = ((q3[l] >> shift) & 3) - ((b3.hmask[l] & hm) ? 0 : 4);
            want3.push_back(dl3 * static_cast<float>(q));
          }
        }
      }
    }
  }
  const std::vector<float> got2 = dequantize(DType::Q2_K, w2, n);
  const std::vector<float> got3 = dequantize(DType::Q3_K, w3, n);
  for (int64_t k = 0; k < n; ++k) {
    ASSERT_EQ(test_util::bits(got2[k]), test_util::bits(want2[k])) << "Q2_K element " << k;
    ASSERT_EQ(test_util::bits(got3[k]), test_util::bits(want3[k])) << "Q3_K element " << k;
  }
}

// --- SIMD against the reference ---

TEST(QuantSimd, DotMatchesReference) {
  for (Isa isa : kSimdIsas) {
    if (!isa_supported(isa)) {
      std::printf("skipping %s: not supported by this CPU\n", isa_name(isa));
      continue;
    }
    std::mt19937 rng(3);
    for (DType t : kWeightTypes) {
      const DType dt = info(t).dot_type;
      for (int64_t n : test_lengths(t)) {
        for (int rep = 0; rep < 4; ++rep) {
          const std::vector<uint8_t> w = random_row(t, n, rng);
          const std::vector<uint8_t> x = activation_row(t, n, rng);
          const std::vector<float> wf = dequantize(t, w, n), xf = dequantize(dt, x, n);
          double scale = min_term_scale(t, w, x);
          for (int64_t i = 0; i < n; ++i) scale += std::fabs(static_cast<double>(wf[i]) * xf[i]);
          const float want = ref::kernels_for(t).dot(w.data(), x.data(), n);
          const float got = kernels_for(t, isa).dot(w.data(), x.data(), n);
          if (t == DType::Q4_1 || t == DType::Q8_0 || t == DType::Q2_K || t == DType::Q3_K) {
            // These SIMD dots sum in the reference's order (llama.cpp's): same bits.
            ASSERT_EQ(got, want) << isa_name(isa) << " " << info(t).name << " n=" << n;
          } else {
            ASSERT_NEAR(got, want, 2e-5 * scale + 1e-6)
                << isa_name(isa) << " " << info(t).name << " n=" << n;
          }
        }
      }
    }
  }
}

TEST(QuantSimd, F16DequantizeMatchesReferenceOnAllBitPatterns) {
  std::vector<uint16_t> h(0x10000 + 5);  // odd length exercises the tails
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
  std::vector<float> want(h.size()), got(h.size());
  ref::kernels_for(DType::F16).dequantize(h.data(), want.data(), static_cast<int64_t>(h.size()));
  for (Isa isa : kSimdIsas) {
    if (!isa_supported(isa)) continue;
    kernels_for(DType::F16, isa).dequantize(h.data(), got.data(), static_cast<int64_t>(h.size()));
    for (size_t i = 0; i < h.size(); ++i) {
      if (std::isnan(want[i])) {
        ASSERT_TRUE(std::isnan(got[i])) << isa_name(isa) << " " << std::hex << h[i];
      } else {
        ASSERT_EQ(got[i], want[i]) << isa_name(isa) << " " << std::hex << h[i];
      }
    }
  }
}

TEST(QuantSimd, FourRowDotsEqualSingleRowDotsBitForBit) {
  for (Isa isa : kSimdIsas) {
    if (!isa_supported(isa)) continue;
    std::mt19937 rng(11);
    for (DType t : kWeightTypes) {
      const TypeKernels& k = kernels_for(t, isa);
      if (!k.dot4) continue;
      for (int64_t n : test_lengths(t)) {
        const size_t stride = row_bytes(t, n) + 8;  // rows need not be packed
        std::vector<uint8_t> w(4 * stride);
        for (int r = 0; r < 4; ++r) {
          const std::vector<uint8_t> row = random_row(t, n, rng);
          std::copy(row.begin(), row.end(), w.begin() + r * stride);
        }
        const std::vector<uint8_t> x = activation_row(t, n, rng);
        float out[4];
        k.dot4(w.data(), stride, x.data(), n, out);
        for (int r = 0; r < 4; ++r)
          ASSERT_EQ(out[r], k.dot(w.data() + r * stride, x.data(), n))
              << isa_name(isa) << " " << info(t).name << " n=" << n << " row " << r;
      }
    }
  }
}

TEST(QuantSimd, Q8WeightsIncludingMinus128) {
  // Q8_0 weights straight from a file may hold -128; activations never do.
  for (Isa isa : kSimdIsas) {
    if (!isa_supported(isa)) continue;
    std::mt19937 rng(4);
    for (int64_t n : {32, 96, 4096}) {
      std::vector<uint8_t> w = random_row(DType::Q8_0, n, rng);
      BlockQ8_0* wb = reinterpret_cast<BlockQ8_0*>(w.data());
      for (int64_t b = 0; b < n / 32; ++b) wb[b].qs[b % 32] = -128;
      const std::vector<uint8_t> x = activation_row(DType::Q8_0, n, rng);
      const float want = ref::kernels_for(DType::Q8_0).dot(w.data(), x.data(), n);
      const float got = kernels_for(DType::Q8_0, isa).dot(w.data(), x.data(), n);
      EXPECT_EQ(got, want) << isa_name(isa) << " n=" << n;
    }
  }
}

TEST(QuantSimd, QuantizersAreBitIdentical) {
  for (Isa isa : kSimdIsas) {
    if (!isa_supported(isa)) continue;
    std::mt19937 rng(5);
    for (DType t : kAllTypes) {
      if (ref::kernels_for(t).quantize == nullptr) continue;
      for (int64_t n : test_lengths(t)) {
        std::vector<float> x = random_floats(n, rng, 10.0f);
        if (n >= 64) {
          for (int j = 0; j < 32; ++j) x[j] = 0;                   // zero block
          for (int j = 32; j < 64; ++j) x[j] = 1e-30f * (j - 40);  // tiny block
        }
        if (t == DType::Q8_K && n >= 768) {
          for (int j = 0; j < 256; ++j) x[j] = 0;  // zero super-block
          x[256 + 3] = -100.0f;                    // a tie of magnitudes: the first one's sign
          x[256 + 10] = 100.0f;
          x[512 + 7] = 100.0f;
          x[512 + 200] = -100.0f;
        }
        std::vector<uint8_t> want(row_bytes(t, n)), got(row_bytes(t, n), 0xAA);
        ref::kernels_for(t).quantize(x.data(), want.data(), n);
        kernels_for(t, isa).quantize(x.data(), got.data(), n);
        ASSERT_EQ(want, got) << isa_name(isa) << " " << info(t).name << " n=" << n;
      }
    }
  }
}

TEST(QuantSimd, F16QuantizeMatchesHardwareOnAllBitPatterns) {
  // Every 251st float bit pattern: normals, subnormals, overflow, inf, NaN payloads.
  std::vector<float> x;
  for (uint64_t u = 0; u <= 0xffffffffull; u += 251)
    x.push_back(bits_f32(static_cast<uint32_t>(u)));
  const float specials[] = {65504.f,    65519.f,         65520.f,
                            -65520.f,   0x1p-24f,        0x1p-25f,
                            0x1.8p-24f, 0x1.000002p-25f, std::numeric_limits<float>::infinity(),
                            -0.0f};
  x.insert(x.end(), std::begin(specials), std::end(specials));
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> want(x.size());
  ref::kernels_for(DType::F16).quantize(x.data(), want.data(), n);
  for (Isa isa : kSimdIsas) {
    if (!isa_supported(isa)) continue;
    std::vector<uint16_t> got(x.size());
    kernels_for(DType::F16, isa).quantize(x.data(), got.data(), n);
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(want[i], got[i]) << isa_name(isa) << " bits=0x" << std::hex << f32_bits(x[i]);
    }
  }
}

// --- conversions ---

TEST(Conversions, F16EdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.f), 0x7c00);  // halfway to 2^16 rounds to even: inf
  EXPECT_EQ(f32_to_f16(1e9f), 0x7c00);
  EXPECT_EQ(f32_to_f16(inf), 0x7c00);
  EXPECT_EQ(f32_to_f16(-inf), 0xfc00);
  const uint16_t nan = f32_to_f16(std::nanf(""));
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  // rounding of normals: 1 + 2^-11 is halfway between 1 and 1 + 2^-10
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  EXPECT_EQ(f32_to_f16(2047.5f), 0x6800);  // 2047.5 -> 2048 (tie to even mantissa)
  // subnormals: units of 2^-24
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // tie -> even (0)
  EXPECT_EQ(f32_to_f16(0x1.000002p-25f), 0x0001);
  EXPECT_EQ(f32_to_f16(0x1.8p-24f), 0x0002);  // 1.5 units -> 2
  EXPECT_EQ(f32_to_f16(0x1.4p-24f), 0x0001);
  EXPECT_EQ(f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400);  // rounds up into the smallest normal
  EXPECT_EQ(f32_to_f16(-0x1p-20f), 0x8010);
  EXPECT_EQ(f32_to_f16(1e-30f), 0x0000);
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x03ff), 1023 * 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x8000), -0.0f);
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
  EXPECT_EQ(f16_to_f32(0x7c00), inf);
  EXPECT_EQ(f16_to_f32(0xfc00), -inf);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));
  // every finite f16 survives a round trip exactly
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(Conversions, Bf16EdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808000)), 0x3f80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f818000)), 0x3f82);  // tie -> even
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808001)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(inf), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-inf), 0xff80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(f32_to_bf16(bits_f32(0x00018000)), 0x0002);               // subnormal, tie -> even
  EXPECT_EQ(f32_to_bf16(bits_f32(0x00000001)), 0x0000);
  const uint16_t nan = f32_to_bf16(bits_f32(0x7f800001));  // signalling NaN stays NaN
  EXPECT_TRUE(std::isnan(bf16_to_f32(nan)));
  EXPECT_EQ(nan & 0x40, 0x40);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0x0001), bits_f32(0x00010000));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
  }
}

}  // namespace
}  // namespace shardserve::kernels
