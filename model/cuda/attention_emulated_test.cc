// The attention kernels of model/cuda/attention_kernels.cuh, compiled as host code and run on
// the CPU: each thread block's 128 threads are fibers (ucontext) that switch at __syncthreads
// and at every warp shuffle, shared memory is a host buffer filled with NaN bytes, and every
// 16-byte load or store is checked for alignment and for lying inside shared memory or the
// cache. Against the scalar reference (model/cuda/testing/attention_reference.h), on the
// plan's every path. This checks the kernels' logic where no GPU exists (tiling, masks, online
// softmax, partitions and merges, uniform barriers: a thread that skips a barrier others wait
// at fails the test); not what only hardware shows (timing, memory model, launch limits).
// tests/gpu/attention_test.cc runs the same kernels on a device.
#include <cuda_fp16.h>
#include <gtest/gtest.h>
#include <ucontext.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "model/cuda/attention.cuh"
#include "model/cuda/attention_plan.h"
#include "model/cuda/testing/attention_reference.h"
#include "model/cuda/testing/emulated_block.h"

// Device code as host code.
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __launch_bounds__
#define __launch_bounds__(n)
#define SS_ATTENTION_EMULATED 1

namespace shardserve::gpu::attention_kernels {

// emu:: is model/cuda/testing/emulated_block.h.

// What attention_kernels.cuh expects from its includer.
#define threadIdx emu::thread_index
#define blockIdx emu::block_index

inline void __syncthreads() {
  emu::sync_block();
}

inline float shuffle_xor(float v, int offset) {
  return emu::shuffle_xor(v, offset);
}

template <typename T>
T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += shuffle_xor(v, offset);
  return v;
}

inline float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, shuffle_xor(v, offset));
  return v;
}

inline unsigned char* attention_smem() {
  return emu::shared;
}

inline uint4 load16(const void* p) {
  emu::check_access(p, "load");
  uint4 v;
  std::memcpy(&v, p, 16);
  return v;
}

inline void store16(void* p, const uint4& v) {
  emu::check_access(p, "store");
  std::memcpy(p, &v, 16);
}

}  // namespace shardserve::gpu::attention_kernels

#include "model/cuda/attention_kernels.cuh"  // its #pragma unroll: -Wno-unknown-pragmas

#undef threadIdx
#undef blockIdx

namespace shardserve::gpu {
namespace {

using namespace attention_kernels;  // NOLINT
using testing::Chunk;
using testing::make_step;
using testing::PagedStep;
using testing::Shape;

// Launches `kernel(args...)` on a grid of x * y blocks of kThreads threads.
template <typename Kernel, typename... Args>
void emulate(unsigned grid_x, unsigned grid_y, size_t smem_bytes, Kernel kernel, Args... args) {
  const std::string failure =
      emu::launch(grid_x, grid_y, kThreads, smem_bytes, [&] { kernel(args...); });
  ASSERT_EQ(failure, "");
}

enum class Path { kPlanned, kUnplanned };

float to_float(float x) {
  return x;
}
float to_float(__half x) {
  return __half2float(x);
}

// gpu::attention's launch logic (attention.cu) over emulated kernels; out rows of width
// n_q_heads * head_dim.
template <int HD, typename Out>
std::vector<float> run_emulated(const PagedStep& st, const std::vector<float>& q, int64_t ldq,
                                float scale, Path path, const AttentionPlanOptions& options,
                                AttentionPlan* plan_out) {
  using L = Layout<HD>;
  const Shape& s = st.shape;
  const int64_t group = s.n_q_heads / s.n_kv_heads, width = s.n_q_heads * HD;
  std::vector<__half> cache(st.cache.size());
  std::memcpy(static_cast<void*>(cache.data()), st.cache.data(), st.cache.size() * 2);
  emu::global_ranges = {{reinterpret_cast<const char*>(cache.data()),
                         reinterpret_cast<const char*>(cache.data() + cache.size())}};
  const PagedKvLayer layer{cache.data() + st.per_layer, cache.data() + 3 * st.per_layer,
                           s.n_kv_heads, s.head_dim, s.block_size};
  const TokenSlots slots{st.positions.data(), st.table_begin.data(), st.tables.data(),
                         st.n_tokens()};
  std::vector<Out> out(st.n_tokens() * width);
  AttentionPlan plan;
  if (path == Path::kPlanned) {
    AttentionPlanShape shape;
    shape.group = group;
    shape.tile_tokens = L::kRows / group;
    shape.n_kv_heads = s.n_kv_heads;
    shape.head_dim = HD;
    shape.target_blocks = 264;
    plan =
        plan_attention(st.positions.data(), st.table_begin.data(), st.n_tokens(), shape, options);
  }
  std::vector<float> workspace(plan.workspace_rows * (HD + 2), NAN);
  const AttentionArgs<Out> args{q.data(),
                                ldq,
                                static_cast<int>(group),
                                layer,
                                slots,
                                path == Path::kPlanned ? plan.items.data() : nullptr,
                                scale * kLog2e,
                                out.data(),
                                width,
                                workspace.data(),
                                workspace.data() + plan.workspace_rows * HD};
  const unsigned n_kv = static_cast<unsigned>(s.n_kv_heads);
  const unsigned n_blocks = static_cast<unsigned>(
      path == Path::kPlanned ? plan.items.size() : static_cast<size_t>(st.n_tokens()));
  emulate(n_blocks, n_kv, L::kSmemBytes, attention_kernel<HD, Out>, args);
  if (!plan.merges.empty())
    emulate(static_cast<unsigned>(plan.merges.size()), n_kv, 0, attention_merge_kernel<HD, Out>,
            static_cast<const MergeItem*>(plan.merges.data()), static_cast<int>(group),
            static_cast<int>(n_kv), static_cast<const float*>(args.ws_out),
            static_cast<const float*>(args.ws_ml), out.data(), width);
  if (plan_out) *plan_out = plan;
  std::vector<float> result(out.size());
  for (size_t i = 0; i < out.size(); ++i) result[i] = to_float(out[i]);
  return result;
}

::testing::AssertionResult all_near(const std::vector<float>& got, const std::vector<float>& want,
                                    double abs, double rel) {
  int bad = 0;
  std::string detail;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(d <= abs + rel * std::fabs(want[i]))) {
      if (bad++ < 5)
        detail += " [" + std::to_string(i) + "] " + std::to_string(got[i]) + " vs " +
                  std::to_string(want[i]) + ";";
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << want.size() << " differ:" << detail;
}

// Decode tokens at contexts 1, 17, 200, 700 (several partitions), a chunk of 10 after a prefix
// of 100, a first chunk of 21 (a whole tile at 3 heads per KV head), 3 tokens after 300.
const std::vector<Chunk> kStep = {{0, 1},    {16, 1}, {199, 1}, {699, 1},
                                  {100, 10}, {0, 21}, {300, 3}};

template <int HD>
void check_shape(const Shape& s) {
  ASSERT_EQ(s.head_dim, HD);
  const PagedStep st = make_step(s, kStep, 11);
  const int64_t ldq = s.n_q_heads * HD + 8;
  std::vector<float> q(st.n_tokens() * ldq);
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (float& x : q) x = u(rng);
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  const std::vector<float> want = testing::reference_attention(
      q.data(), ldq, s.n_q_heads, st.host_layer(1), st.positions.data(), st.table_begin.data(),
      st.n_tokens(), st.tables.data(), scale);
  using Split = AttentionPlanOptions::Split;
  struct Case {
    const char* name;
    Path path;
    AttentionPlanOptions options;
  };
  for (const Case& c : {Case{"automatic plan", Path::kPlanned, {}},
                        Case{"no split", Path::kPlanned, {0, Split::kNever}},
                        Case{"partitions of 96", Path::kPlanned, {96, Split::kAlways}},
                        Case{"unplanned", Path::kUnplanned, {}}}) {
    AttentionPlan plan;
    const std::vector<float> got32 =
        run_emulated<HD, float>(st, q, ldq, scale, c.path, c.options, &plan);
    EXPECT_TRUE(all_near(got32, want, 2e-5, 1e-4)) << c.name << ", f32";
    if (c.options.split == Split::kAlways) {
      EXPECT_FALSE(plan.merges.empty()) << c.name;
    }
  }
  const std::vector<float> got16 =
      run_emulated<HD, __half>(st, q, ldq, scale, Path::kPlanned, {96, Split::kAlways}, nullptr);
  EXPECT_TRUE(all_near(got16, want, 2e-5, 1e-3)) << "f16";
}

TEST(AttentionEmulated, HeadDim64Gqa3) {
  check_shape<64>({9, 3, 64, 16});
}
TEST(AttentionEmulated, HeadDim64NoGqaBlocksOf32) {
  check_shape<64>({4, 4, 64, 32});
}
TEST(AttentionEmulated, HeadDim128Gqa8) {
  check_shape<128>({16, 2, 128, 16});
}
TEST(AttentionEmulated, HeadDim256Gqa4) {
  check_shape<256>({4, 1, 256, 16});
}

}  // namespace
}  // namespace shardserve::gpu
