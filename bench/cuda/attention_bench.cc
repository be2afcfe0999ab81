// Paged attention on the device (issue 18, item 2), a lab: validate, then time.
//
// Validates first: for each model shape, a step of decode tokens and a prefill chunk after a
// prefix against the scalar CPU reference (model/cuda/testing/attention_reference.h), planned and
// unplanned, f16 output; if any differs, nothing is timed.
// Then decode attention (one layer, f16 output) for SmolLM2-135M (9 query / 3 KV heads,
// head_dim 64), a Llama-3-8B layer (32 / 8, 128) and Gemma 3 270M (4 / 1, 256) at batch 1 and
// 64 and contexts 512, 2048, 8192: microseconds per call (mean over --iters after 3 warm-ups,
// CUDA events), and the effective bandwidth of the K/V bytes read (batch x context x KV heads x
// head_dim x 2 bytes x 2) beside a device-to-device copy's read + write rate measured in the
// same run; for the planned path (split contexts) and the unplanned per-token one. Then
// prefill: a chunk of 512 tokens after a prefix of 0 and 3584, tokens/s and TFLOP/s.
//
//   build/bench/cuda/attention_bench [--iters N]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "model/cuda/attention.cuh"
#include "model/cuda/device.h"
#include "model/cuda/testing/attention_reference.h"

namespace shardserve {
namespace {

using gpu::DeviceBuffer;
using gpu::PagedAttention;
using gpu::PagedKvLayer;
using gpu::TokenSlots;

struct ModelShape {
  const char* name;
  int64_t n_q_heads, n_kv_heads, head_dim;
};
constexpr ModelShape kShapes[] = {
    {"SmolLM2-135M", 9, 3, 64}, {"Llama-3-8B", 32, 8, 128}, {"Gemma-3-270M", 4, 1, 256}};
constexpr int64_t kBlockSize = 16;

// Device-to-device copy: bytes read + written per second (best of 10).
double copy_bandwidth() {
  const size_t bytes = size_t{1} << 30;
  gpu::DeviceMemory a(bytes), b(bytes);
  gpu::Stream stream;
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  float best_ms = 1e30f;
  for (int i = 0; i < 10; ++i) {
    CUDA_CHECK(cudaEventRecord(start, stream.get()));
    CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
    CUDA_CHECK(cudaEventRecord(stop, stream.get()));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    best_ms = std::min(best_ms, ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 2.0 * static_cast<double>(bytes) / (best_ms / 1e3);
}

template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& host) {
  DeviceBuffer<T> d(host.size());
  if (!host.empty()) d.upload(host.data(), host.size());
  return d;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// ---- Validation ----

bool validate(const ModelShape& m) {
  using gpu::testing::Chunk;
  const gpu::testing::Shape shape{m.n_q_heads, m.n_kv_heads, m.head_dim, kBlockSize};
  const gpu::testing::PagedStep st =
      gpu::testing::make_step(shape, {{0, 1}, {700, 1}, {2999, 1}, {100, 40}}, 1);
  const int64_t n = st.n_tokens(), width = m.n_q_heads * m.head_dim;
  const std::vector<float> q = random_floats(n * width, 2, -2.0f, 2.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(m.head_dim));
  const std::vector<float> want = gpu::testing::reference_attention(
      q.data(), width, m.n_q_heads, st.host_layer(1), st.positions.data(), st.table_begin.data(), n,
      st.tables.data(), scale);
  DeviceBuffer<__half> cache(st.cache.size());
  cache.upload(reinterpret_cast<const __half*>(st.cache.data()), st.cache.size());
  DeviceBuffer<int32_t> pos = to_device(st.positions), begin = to_device(st.table_begin),
                        tables = to_device(st.tables);
  DeviceBuffer<float> dq = to_device(q);
  DeviceBuffer<__half> out(n * width);
  const PagedKvLayer layer{cache.data() + st.per_layer, cache.data() + 3 * st.per_layer,
                           m.n_kv_heads, m.head_dim, kBlockSize};
  const TokenSlots slots{pos.data(), begin.data(), tables.data(), n};
  gpu::Stream stream;
  bool ok = true;
  for (int planned = 0; planned < 2; ++planned) {
    PagedAttention attn;
    if (planned) {
      attn.plan(st.positions.data(), st.table_begin.data(), n, m.n_q_heads, m.n_kv_heads,
                m.head_dim, stream.get());
      attn.run(dq.data(), width, layer, slots, scale, out.data(), width, stream.get());
    } else {
      gpu::attention(dq.data(), width, m.n_q_heads, layer, slots, scale, out.data(), width,
                     stream.get());
    }
    stream.synchronize();
    std::vector<__half> got(out.size());
    out.download(got.data(), got.size());
    double worst = 0;
    int64_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double d = std::fabs(static_cast<double>(__half2float(got[i])) - want[i]);
      worst = std::max(worst, d);
      bad += !(d <= 2e-5 + 1e-3 * std::fabs(want[i]));
    }
    std::printf("validate %-13s %-9s max |diff| %.2e, %lld of %zu outside tolerance\n", m.name,
                planned ? "planned" : "unplanned", worst, static_cast<long long>(bad), want.size());
    ok = ok && bad == 0;
  }
  return ok;
}

// ---- Timing ----

// A cache of `n_seqs` sequences of `ctx` positions (f16 random values), the step's tokens, q.
struct Setup {
  DeviceBuffer<__half> kv;
  DeviceBuffer<int32_t> positions, table_begin, tables;
  DeviceBuffer<float> q;
  DeviceBuffer<__half> out;
  std::vector<int32_t> host_positions, host_table_begin;
  PagedKvLayer layer;
  TokenSlots slots;
};

// n_seqs sequences with `prefix` cached positions and `chunk` new tokens each.
Setup make_setup(const ModelShape& m, int64_t n_seqs, int64_t prefix, int64_t chunk) {
  Setup s;
  const int64_t ctx = prefix + chunk, blocks_per_seq = (ctx + kBlockSize - 1) / kBlockSize;
  const int64_t n_blocks = n_seqs * blocks_per_seq;
  const int64_t per_layer = n_blocks * m.n_kv_heads * kBlockSize * m.head_dim;
  s.kv = DeviceBuffer<__half>(2 * per_layer);
  // Random halves in [-1, 1], uploaded once and copied across the cache.
  const size_t piece = std::min<size_t>(s.kv.size(), size_t{8} << 20);
  std::vector<__half> host(piece);
  {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (__half& h : host) h = __float2half(u(rng));
  }
  CUDA_CHECK(cudaMemcpy(s.kv.data(), host.data(), piece * 2, cudaMemcpyHostToDevice));
  for (size_t at = piece; at < s.kv.size(); at += piece)
    CUDA_CHECK(cudaMemcpy(s.kv.data() + at, s.kv.data(), std::min(piece, s.kv.size() - at) * 2,
                          cudaMemcpyDeviceToDevice));
  std::vector<int32_t> ids(n_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(4));  // scattered blocks
  for (int64_t i = 0; i < n_seqs; ++i)
    for (int64_t c = 0; c < chunk; ++c) {
      s.host_positions.push_back(static_cast<int32_t>(prefix + c));
      s.host_table_begin.push_back(static_cast<int32_t>(i * blocks_per_seq));
    }
  const int64_t n = static_cast<int64_t>(s.host_positions.size());
  s.positions = to_device(s.host_positions);
  s.table_begin = to_device(s.host_table_begin);
  s.tables = to_device(ids);
  s.q = to_device(random_floats(n * m.n_q_heads * m.head_dim, 5, -2.0f, 2.0f));
  s.out = DeviceBuffer<__half>(n * m.n_q_heads * m.head_dim);
  s.layer = {s.kv.data(), s.kv.data() + per_layer, m.n_kv_heads, m.head_dim, kBlockSize};
  s.slots = {s.positions.data(), s.table_begin.data(), s.tables.data(), n};
  return s;
}

// Mean microseconds per call of `f` over `iters` (after 3 warm-ups).
template <typename F>
double time_us(const gpu::Stream& stream, int iters, const F& f) {
  for (int i = 0; i < 3; ++i) f();
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  CUDA_CHECK(cudaEventRecord(start, stream.get()));
  for (int i = 0; i < iters; ++i) f();
  CUDA_CHECK(cudaEventRecord(stop, stream.get()));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 1e3 * ms / iters;
}

void time_decode(const ModelShape& m, int64_t batch, int64_t ctx, int iters, double copy_bw) {
  Setup s = make_setup(m, batch, ctx - 1, 1);
  gpu::Stream stream;
  const int64_t width = m.n_q_heads * m.head_dim, n = s.slots.n_tokens;
  const float scale = 1.0f / std::sqrt(static_cast<float>(m.head_dim));
  PagedAttention attn;
  const auto plan_start = std::chrono::steady_clock::now();
  attn.plan(s.host_positions.data(), s.host_table_begin.data(), n, m.n_q_heads, m.n_kv_heads,
            m.head_dim, stream.get());
  const double plan_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - plan_start)
          .count();
  const double planned = time_us(stream, iters, [&] {
    attn.run(s.q.data(), width, s.layer, s.slots, scale, s.out.data(), width, stream.get());
  });
  const double unplanned = time_us(stream, iters, [&] {
    gpu::attention(s.q.data(), width, m.n_q_heads, s.layer, s.slots, scale, s.out.data(), width,
                   stream.get());
  });
  const double bytes = static_cast<double>(batch * ctx * m.n_kv_heads * m.head_dim * 2 * 2);
  const gpu::AttentionPlan& p = attn.last_plan();
  std::printf(
      "decode %-13s batch %3lld ctx %5lld  K/V %8.2f MB | planned %8.1f us %7.1f GB/s "
      "(%4.1f%% of copy) %5zu blocks, partition %4lld, plan %5.1f us host | unplanned %9.1f us "
      "%7.1f GB/s\n",
      m.name, static_cast<long long>(batch), static_cast<long long>(ctx), bytes / 1e6, planned,
      bytes / planned / 1e3, 100.0 * bytes / (planned * 1e-6) / copy_bw,
      p.items.size() * static_cast<size_t>(m.n_kv_heads), static_cast<long long>(p.partition),
      plan_us, unplanned, bytes / unplanned / 1e3);
}

void time_prefill(const ModelShape& m, int64_t prefix, int64_t chunk, int iters) {
  Setup s = make_setup(m, 1, prefix, chunk);
  gpu::Stream stream;
  const int64_t width = m.n_q_heads * m.head_dim, n = s.slots.n_tokens;
  const float scale = 1.0f / std::sqrt(static_cast<float>(m.head_dim));
  PagedAttention attn;
  attn.plan(s.host_positions.data(), s.host_table_begin.data(), n, m.n_q_heads, m.n_kv_heads,
            m.head_dim, stream.get());
  const double us = time_us(stream, iters, [&] {
    attn.run(s.q.data(), width, s.layer, s.slots, scale, s.out.data(), width, stream.get());
  });
  // Multiply-adds of QK and PV over each token's visible context, 2 flops each.
  double visible = 0;
  for (int64_t i = 0; i < chunk; ++i) visible += static_cast<double>(prefix + i + 1);
  const double flops = 4.0 * visible * static_cast<double>(m.n_q_heads * m.head_dim);
  std::printf(
      "prefill %-13s chunk %4lld after %5lld: %9.1f us, %9.0f tokens/s, %6.2f TFLOP/s, "
      "%zu blocks, %zu merges\n",
      m.name, static_cast<long long>(chunk), static_cast<long long>(prefix), us,
      static_cast<double>(chunk) / (us * 1e-6), flops / (us * 1e-6) / 1e12,
      attn.last_plan().items.size() * static_cast<size_t>(m.n_kv_heads),
      attn.last_plan().merges.size());
}

}  // namespace
}  // namespace shardserve

int main(int argc, char** argv) {
  using namespace shardserve;
  int iters = 20;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
      iters = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--iters N]\n", argv[0]);
      return 2;
    }
  }
  if (const auto reason = gpu::cuda_unavailable_reason()) {
    std::printf("attention_bench: %s\n", reason->c_str());
    return 0;
  }
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  bool ok = true;
  for (const ModelShape& m : kShapes) ok = validate(m) && ok;
  if (!ok) {
    std::printf("validation failed: nothing timed\n");
    return 1;
  }
  const double copy_bw = copy_bandwidth();
  std::printf("device-to-device copy: %.1f GB/s (read + write)\n", copy_bw / 1e9);
  for (const ModelShape& m : kShapes)
    for (int64_t batch : {1, 64})
      for (int64_t ctx : {512, 2048, 8192}) time_decode(m, batch, ctx, iters, copy_bw);
  for (const ModelShape& m : kShapes)
    for (int64_t prefix : {0, 3584}) time_prefill(m, prefix, 512, iters);
  return 0;
}
