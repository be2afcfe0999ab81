// K-quant panels (Q3_K, Q4_K, Q5_K, Q6_K): packing and the scalar reference product. The layout and
// the arithmetic are those of packed_quant.h; this file is their definition in plain C++.
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "model/kernels/cpu/packed_quant.h"
#include "model/kernels/cpu/packed_quant_layout.h"
#include "model/kernels/cpu/quant_internal.h"

namespace shardserve::kernels {
namespace {

using internal::QuantBits;

constexpr size_t kScalesEnd = 320;   // header and scales
constexpr size_t kMinsOffset = 192;  // Q4_K / Q5_K: mins after 8 x 16 scales
constexpr int kSubBlocks = kQKK / kQK;

QuantBits quant_bits(DType type) {
  return type == DType::Q6_K ? QuantBits::k6 : type == DType::Q5_K ? QuantBits::k5 : QuantBits::k4;
}
// Q3_K / Q6_K: signed scales per 16 columns, quants stored + this offset.
bool signed_groups(DType type) {
  return type == DType::Q6_K || type == DType::Q3_K;
}
int quant_offset(DType type) {
  return type == DType::Q6_K ? 32 : 4;
}
// Sub-block `sub`'s quant tile in a record.
size_t tile_offset(DType type, int sub) {
  return kScalesEnd + sub * internal::quant_tile_bytes(quant_bits(type));
}

// One super-block of a row, decoded: unsigned quants and integer scales.
struct KBlock {
  uint16_t d = 0, dmin = 0;
  int sc[16] = {};  // per sub-block (Q4_K / Q5_K: 8) or 16-column group (Q3_K / Q6_K: 16)
  int m[8] = {};    // Q4_K / Q5_K
  uint8_t q[kQKK] = {};
};

KBlock decode(DType type, const uint8_t* src) {
  KBlock k;
  if (type == DType::Q6_K) {
    BlockQ6_K b;
    std::memcpy(&b, src, sizeof b);
    k.d = b.d;
    for (int g = 0; g < 16; ++g) k.sc[g] = b.scales[g];
    for (int i = 0; i < kQKK; ++i) k.q[i] = static_cast<uint8_t>(q6k_quant(b, i));
    return k;
  }
  if (type == DType::Q3_K) {
    BlockQ3_K b;
    std::memcpy(&b, src, sizeof b);
    k.d = b.d;
    for (int g = 0; g < 16; ++g) k.sc[g] = q3k_scale(b.scales, g);
    for (int i = 0; i < kQKK; ++i) k.q[i] = static_cast<uint8_t>(q3k_quant(b, i) + 4);
    return k;
  }
  BlockQ5_K b{};  // Q4_K is its prefix up to qh; read the fields of the type
  const bool q5 = type == DType::Q5_K;
  std::memcpy(&b, src, q5 ? sizeof(BlockQ5_K) : offsetof(BlockQ5_K, qh));
  const uint8_t* qs = q5 ? b.qs : src + offsetof(BlockQ4_K, qs);
  k.d = b.d;
  k.dmin = b.dmin;
  for (int j = 0; j < kSubBlocks; ++j) {
    uint8_t sc, mn;
    k_scale_min(j, b.scales, &sc, &mn);
    k.sc[j] = sc;
    k.m[j] = mn;
    for (int l = 0; l < kQK; ++l)
      k.q[kQK * j + l] = static_cast<uint8_t>(q5 ? q5k_quant(qs, b.qh, j, l) : q4k_quant(qs, j, l));
  }
  return k;
}

void write_record(DType type, const KBlock& k, int64_t lane, uint8_t* rec) {
  std::memcpy(rec + 2 * lane, &k.d, 2);
  std::memcpy(rec + 32 + 2 * lane, &k.dmin, 2);
  if (signed_groups(type)) {
    for (int g = 0; g < 16; ++g) rec[64 + 16 * g + lane] = static_cast<uint8_t>(k.sc[g]);
  } else {
    for (int j = 0; j < kSubBlocks; ++j) {
      rec[64 + 16 * j + lane] = static_cast<uint8_t>(k.sc[j]);
      rec[kMinsOffset + 32 * (j / 2) + 2 * lane + j % 2] = static_cast<uint8_t>(k.m[j]);
    }
  }
  for (int sub = 0; sub < kSubBlocks; ++sub)
    for (int col = 0; col < kQK; ++col)
      internal::put_tile_quant(quant_bits(type), rec + tile_offset(type, sub), lane, col,
                               k.q[kQK * sub + col]);
}

// Token t's Q8_K super-block b.
const BlockQ8_K& act_block(const QuantActivations& x, int64_t t, int64_t b) {
  return reinterpret_cast<const BlockQ8_K*>(x.rows + static_cast<size_t>(t) * x.row_stride)[b];
}

}  // namespace

size_t internal::kquant_record_bytes(DType type) {
  return tile_offset(type, kSubBlocks);
}

void internal::pack_kquant_row(DType type, const uint8_t* row, int64_t n_blocks, int64_t lane,
                               uint8_t* panel) {
  const size_t record = kquant_record_bytes(type), src_bytes = info(type).block_bytes;
  for (int64_t b = 0; b < n_blocks; ++b)
    write_record(type, decode(type, row + b * src_bytes), lane, panel + b * record);
}

void internal::packed_kquant_matmul_scalar(DType type, const uint8_t* panels, int64_t n_cols,
                                           int64_t row_begin, int64_t row_end, int64_t b_begin,
                                           int64_t b_end, const QuantActivations& x, float* out,
                                           int64_t ldo) {
  SS_CHECK(x.type == DType::Q8_K, "K-quant panels take Q8_K activations");
  const int64_t n_blocks = n_cols / kQKK;
  const size_t record = kquant_record_bytes(type);
  const bool q6 = signed_groups(type);
  const int offset = quant_offset(type);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t p = r / kQuantPanelRows, lane = r % kQuantPanelRows;
    for (int64_t t = 0; t < x.n_tokens; ++t) {
      float acc = 0.0f;
      for (int64_t b = b_begin; b < b_end; ++b) {
        const uint8_t* rec = panels + static_cast<size_t>(p * n_blocks + b) * record;
        const BlockQ8_K& xb = act_block(x, t, b);
        float dx;
        std::memcpy(&dx, &xb.d, 4);
        uint16_t d16, dmin16;
        std::memcpy(&d16, rec + 2 * lane, 2);
        std::memcpy(&dmin16, rec + 32 + 2 * lane, 2);
        int32_t isum = 0, msum = 0;
        for (int sub = 0; sub < kSubBlocks; ++sub) {
          int32_t dot[2] = {0, 0};  // per 16-column half
          for (int k = 0; k < kQK; ++k)
            dot[k / 16] +=
                internal::get_tile_quant(quant_bits(type), rec + tile_offset(type, sub), lane, k) *
                xb.qs[kQK * sub + k];
          if (q6) {
            for (int h = 0; h < 2; ++h) {
              const int g = 2 * sub + h;
              const int sc = static_cast<int8_t>(rec[64 + 16 * g + lane]);
              isum += sc * (dot[h] - offset * xb.bsums[g]);
            }
          } else {
            const int sc = rec[64 + 16 * sub + lane];
            const int m = rec[kMinsOffset + 32 * (sub / 2) + 2 * lane + sub % 2];
            isum += sc * (dot[0] + dot[1]);
            msum += m * x.sub_sums[t * x.sub_sums_stride + b * kSubBlocks + sub];
          }
        }
        acc = std::fma(static_cast<float>(isum), fp16_to_fp32(d16) * dx, acc);
        if (!q6) acc = std::fma(static_cast<float>(msum), -(fp16_to_fp32(dmin16) * dx), acc);
      }
      out[t * ldo + r] = acc;
    }
  }
}

void activation_sub_sums(const void* row, int64_t n_cols, int16_t* sums) {
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(row);
  for (int64_t i = 0; i < n_cols / kQKK; ++i)
    for (int j = 0; j < kSubBlocks; ++j)
      sums[i * kSubBlocks + j] = static_cast<int16_t>(b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
}

}  // namespace shardserve::kernels
