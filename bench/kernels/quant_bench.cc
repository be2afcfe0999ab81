// Kernel lab for the decode hot loop: the dot of one weight row with a quantized activation.
// For Q4_1 (x Q8_1) and Q8_0 (x Q8_0) at n = 576 and 1536 (SmolLM2-135M's dim and hidden_dim),
// every ISA this CPU supports is first validated against the scalar reference, then timed over
// a block of rows (as in a mat-vec that stays in L2). Reports GB/s of weight bytes read and the
// time per row.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "model/kernels/cpu/quant.h"
#include "model/tensor_type.h"

namespace shardserve::kernels {
namespace {

constexpr int kRows = 256;
constexpr DType kTypes[] = {DType::Q4_1, DType::Q8_0};
constexpr int64_t kLengths[] = {576, 1536};
constexpr Isa kIsas[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512};

struct Problem {
  DType type;
  int64_t n;
  size_t w_row_bytes;
  std::vector<uint8_t> w;  // kRows rows
  std::vector<uint8_t> x;  // one activation row in dot_type
};

Problem make_problem(DType type, int64_t n) {
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Problem p{type, n, row_bytes(type, n), {}, {}};
  std::vector<float> f(static_cast<size_t>(n));
  p.w.resize(p.w_row_bytes * kRows);
  for (int r = 0; r < kRows; ++r) {
    for (float& v : f) v = dist(rng);
    ref::kernels_for(type).quantize(f.data(), p.w.data() + r * p.w_row_bytes, n);
  }
  for (float& v : f) v = dist(rng);
  const DType dt = info(type).dot_type;
  p.x.resize(row_bytes(dt, n));
  ref::kernels_for(dt).quantize(f.data(), p.x.data(), n);
  return p;
}

// Validate before timing: every row's SIMD dot must match the reference.
bool validate(const Problem& p, Isa isa) {
  const VecDotFn want = ref::kernels_for(p.type).dot, got = kernels_for(p.type, isa).dot;
  for (int r = 0; r < kRows; ++r) {
    const void* w = p.w.data() + r * p.w_row_bytes;
    const float a = want(w, p.x.data(), p.n), b = got(w, p.x.data(), p.n);
    if (std::fabs(a - b) > 1e-4f * (std::fabs(a) + 1.0f)) {
      std::fprintf(stderr, "MISMATCH %s %s n=%lld row %d: ref %g, got %g\n",
                   info(p.type).name.data(), isa_name(isa), static_cast<long long>(p.n), r, a, b);
      return false;
    }
  }
  return true;
}

void bm_dot(benchmark::State& state, const Problem* p, Isa isa) {
  const VecDotFn dot = kernels_for(p->type, isa).dot;
  for (auto _ : state) {
    float sum = 0;
    for (int r = 0; r < kRows; ++r) sum += dot(p->w.data() + r * p->w_row_bytes, p->x.data(), p->n);
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kRows *
                          static_cast<int64_t>(p->w_row_bytes));
  // seconds per row, shown with an SI prefix (e.g. "35n" = 35 ns)
  state.counters["time_per_row"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kRows,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace
}  // namespace shardserve::kernels

int main(int argc, char** argv) {
  using namespace shardserve;
  using namespace shardserve::kernels;
  static std::vector<Problem> problems;  // outlive the registered benchmarks
  problems.reserve(std::size(kTypes) * std::size(kLengths));
  bool ok = true;
  for (DType t : kTypes) {
    for (int64_t n : kLengths) {
      problems.push_back(make_problem(t, n));
      const Problem* p = &problems.back();
      for (Isa isa : kIsas) {
        if (!isa_supported(isa)) continue;
        ok = validate(*p, isa) && ok;
        const std::string name = std::string("dot/") + std::string(info(t).name) + "/" +
                                 isa_name(isa) + "/n:" + std::to_string(n);
        benchmark::RegisterBenchmark(name.c_str(), bm_dot, p, isa);
      }
    }
  }
  if (!ok) return 1;
  std::printf("validated every ISA against the scalar reference\n");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
