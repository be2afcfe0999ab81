// Kernel lab for the batched product: one thread, a Llama projection (1536 x 576, as SmolLM2's
// gate / up, in Q4_1, Q4_0, Q5_0, Q5_1, Q3_K, Q4_K, Q5_K and Q6_K, 1536 x 512 for the K-quants,
// whose rows hold 256-column super-blocks) and an LM-head slice (Q8_0, 4096 x 576) against 1 to 512
// tokens, with the packed quant panels (packed_quant.h) and with the row-at-a-time dots in
// llama.cpp's order. Both are validated first (same result within float rounding). Reports
// multiply-adds per second.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "base/thread_pool.h"
#include "model/kernels/cpu/matmul.h"
#include "model/kernels/cpu/packed_quant.h"

namespace shardserve::kernels {
namespace {

// A K-quant row of random bytes whose f16 scales are small and finite.
void fill_random_kquant_row(DType type, uint8_t* row, int64_t n_cols, std::mt19937& rng) {
  const size_t block = info(type).block_bytes, n_blocks = n_cols / 256;
  for (size_t i = 0; i < block * n_blocks; ++i) row[i] = static_cast<uint8_t>(rng());
  const uint16_t scale = 0x2000;  // 2^-7 as f16
  for (size_t b = 0; b < n_blocks; ++b) {
    uint8_t* blk = row + b * block;
    if (type == DType::Q6_K) {
      std::memcpy(blk + 208, &scale, 2);
    } else if (type == DType::Q3_K) {
      std::memcpy(blk + 108, &scale, 2);
    } else {
      std::memcpy(blk, &scale, 2);
      std::memcpy(blk + 2, &scale, 2);
    }
  }
}

struct Problem {
  DType type;
  int64_t n_rows, n_cols;
  std::vector<uint8_t> rows;
  AlignedBytes panels;
  std::vector<float> x;  // 512 tokens

  Problem(DType t, int64_t r, int64_t c) : type(t), n_rows(r), n_cols(c) {
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    const size_t stride = row_bytes(type, n_cols);
    rows.resize(stride * n_rows);
    std::vector<float> f(n_cols);
    for (int64_t i = 0; i < n_rows; ++i) {
      if (!ref::kernels_for(type).quantize) {  // K-quants: random blocks with sane scales
        fill_random_kquant_row(type, &rows[i * stride], n_cols, rng);
        continue;
      }
      for (float& v : f) v = dist(rng);
      ref::kernels_for(type).quantize(f.data(), &rows[i * stride], n_cols);
    }
    if (has_quant_panels(type))
      panels = pack_quant_panels(type, rows.data(), stride, n_rows, n_cols);
    x.resize(512 * n_cols);
    for (float& v : x) v = dist(rng);
  }
  WeightMatrix matrix(bool packed) const {
    return {.type = type,
            .data = rows.data(),
            .row_stride = row_bytes(type, n_cols),
            .n_rows = n_rows,
            .n_cols = n_cols,
            .quant_panels = packed ? panels.get() : nullptr};
  }
};

constexpr int kProblems = 9;

const Problem& problem(int which) {
  static const Problem q4_1(DType::Q4_1, 1536, 576), q8(DType::Q8_0, 4096, 576),
      q4_0(DType::Q4_0, 1536, 576), q5_0(DType::Q5_0, 1536, 576), q4_k(DType::Q4_K, 1536, 512),
      q5_k(DType::Q5_K, 1536, 512), q6_k(DType::Q6_K, 1536, 512), q5_1(DType::Q5_1, 1536, 576),
      q3_k(DType::Q3_K, 1536, 512);
  const Problem* all[kProblems] = {&q4_1, &q8, &q4_0, &q5_0, &q4_k, &q5_k, &q6_k, &q5_1, &q3_k};
  return *all[which];
}

void validate(const Problem& p) {
  ThreadPool pool(1);
  ActivationRows xq;
  xq.quantize(info(p.type).dot_type, p.x.data(), 16, p.n_cols, p.n_cols, pool);
  std::vector<float> a(16 * p.n_rows), b(16 * p.n_rows);
  matmul(p.matrix(true), xq, a.data(), p.n_rows, pool);
  matmul(p.matrix(false), xq, b.data(), p.n_rows, pool);
  for (size_t i = 0; i < a.size(); ++i)
    if (std::fabs(a[i] - b[i]) > 1e-4f * (1.0f + std::fabs(b[i]))) {
      std::fprintf(stderr, "packed and row products differ at %zu: %g vs %g\n", i, a[i], b[i]);
      std::exit(1);
    }
}

// Args: problem (0: Q4_1 gate, 1: Q8_0 LM head, 2: Q4_0, 3: Q5_0, 4: Q4_K, 5: Q5_K, 6: Q6_K,
// 7: Q5_1, 8: Q3_K gate), tokens, packed.
void BM_Matmul(benchmark::State& state) {
  const Problem& p = problem(static_cast<int>(state.range(0)));
  const int64_t n_tokens = state.range(1);
  const bool packed = state.range(2) != 0;
  if (packed && !use_quant_panels(p.type)) {
    state.SkipWithError("no AVX2 or AVX-512 VNNI: packed panels unused");
    return;
  }
  ThreadPool pool(1);
  ActivationRows xq;
  xq.quantize(info(p.type).dot_type, p.x.data(), n_tokens, p.n_cols, p.n_cols, pool);
  std::vector<float> y(n_tokens * p.n_rows);
  const WeightMatrix w = p.matrix(packed);
  for (auto _ : state) {
    matmul(w, xq, y.data(), p.n_rows, pool);
    benchmark::DoNotOptimize(y.data());
  }
  const double macs = static_cast<double>(p.n_rows) * p.n_cols * n_tokens;
  state.counters["GMAC/s"] =
      benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(info(p.type).name) + (packed ? " packed" : " rows"));
}

BENCHMARK(BM_Matmul)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 4, 16, 32, 128, 512}, {0, 1}})
    ->ArgNames({"problem", "tokens", "packed"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace shardserve::kernels

int main(int argc, char** argv) {
  if (shardserve::kernels::use_quant_panels(shardserve::DType::Q4_1)) {
    for (int i = 0; i < shardserve::kernels::kProblems; ++i)
      shardserve::kernels::validate(shardserve::kernels::problem(i));
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
