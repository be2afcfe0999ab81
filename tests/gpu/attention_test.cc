// The paged KV cache write and attention on the device against double-precision references.
//  - PrefillAndDecodeOverThePagedCache: kv_write then attention for a step that mixes a prefill
//    chunk with a decode token of a sequence cached earlier, block tables in scattered order;
//    the cache layout is checked against the CPU KvCache's, the f32 and f16 outputs against
//    the reference.
//  - CudaPagedAttention/*: per shape (GQA ratios 1, 3, 4, 8 and 64; head_dim 64, 128, 256;
//    block sizes 16 and 32), one step mixing decode tokens at contexts 1, 17, 511, 2048 and 5000
//    with prefill chunks (after a prefix, from position 0, a short one after a long prefix), on
//    every path: the automatic plan, no split, small and odd partitions, the unplanned entry
//    point; f32 and f16 outputs checked, and the output's padding left alone. Cache positions
//    outside every context hold NaN, so a read past a context shows in the output.
//  - A plan serves every layer, and plans grow and shrink between steps.
#include "model/cuda/attention.cuh"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <ostream>
#include <random>
#include <string>

#include "model/cuda/testing/attention_reference.h"
#include "model/kernels/cpu/quant.h"
#include "model/kv_cache/kv_cache.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve::gpu {
namespace testing {
// Names a shape in test output (found by ADL).
void PrintTo(const Shape& s, std::ostream* os) {
  *os << s.n_q_heads << " query / " << s.n_kv_heads << " KV heads, head_dim " << s.head_dim
      << ", blocks of " << s.block_size;
}
}  // namespace testing

namespace {

using testing::random_floats;
using testing::to_device;
using testing::to_host;

constexpr int64_t kKvHeads = 3, kQHeads = 9, kHeadDim = 64, kBlock = 16, kBlocks = 32;
constexpr int64_t kKvWidth = kKvHeads * kHeadDim, kQWidth = kQHeads * kHeadDim;

float round_f16(float x) {
  return kernels::f16_to_f32(kernels::f32_to_f16(x));
}

std::vector<float> f16_to_floats(const std::vector<__half>& h) {
  std::vector<float> f(h.size());
  for (size_t i = 0; i < h.size(); ++i) f[i] = __half2float(h[i]);
  return f;
}

struct Sequence {
  std::vector<int32_t> table;
  std::vector<float> k, v;  // [positions][kKvWidth], every position ever written
};

// Token t of the step: sequence, position.
struct Token {
  int seq;
  int32_t pos;
};

// What the kernels should compute, in double: softmax((K . f16(q)) * scale) V over [0, pos].
std::vector<float> reference(const std::vector<Sequence>& seqs, const std::vector<Token>& tokens,
                             const std::vector<float>& q, float scale) {
  std::vector<float> out(tokens.size() * kQWidth);
  for (size_t t = 0; t < tokens.size(); ++t) {
    const Sequence& s = seqs[tokens[t].seq];
    for (int64_t h = 0; h < kQHeads; ++h) {
      const int64_t kvh = h / (kQHeads / kKvHeads), n_ctx = tokens[t].pos + 1;
      std::vector<double> w(n_ctx);
      double max = -INFINITY;
      for (int64_t p = 0; p < n_ctx; ++p) {
        double dot = 0;
        for (int64_t d = 0; d < kHeadDim; ++d)
          dot += static_cast<double>(round_f16(s.k[p * kKvWidth + kvh * kHeadDim + d])) *
                 round_f16(q[t * kQWidth + h * kHeadDim + d]);
        w[p] = dot * scale;
        max = std::max(max, w[p]);
      }
      double sum = 0;
      for (double& x : w) sum += (x = std::exp(x - max));
      for (int64_t d = 0; d < kHeadDim; ++d) {
        double acc = 0;
        for (int64_t p = 0; p < n_ctx; ++p)
          acc += w[p] * round_f16(s.v[p * kKvWidth + kvh * kHeadDim + d]);
        out[t * kQWidth + h * kHeadDim + d] = static_cast<float>(acc / sum);
      }
    }
  }
  return out;
}

// Device arrays describing a step's tokens.
struct DeviceSlots {
  DeviceBuffer<int32_t> positions, table_begin, tables;
  TokenSlots slots() const {
    return {positions.data(), table_begin.data(), tables.data(),
            static_cast<int64_t>(positions.size())};
  }
};

DeviceSlots make_slots(const std::vector<Sequence>& seqs, const std::vector<Token>& tokens) {
  std::vector<int32_t> positions, begin, tables, seq_begin;
  for (const Sequence& s : seqs) {
    seq_begin.push_back(static_cast<int32_t>(tables.size()));
    tables.insert(tables.end(), s.table.begin(), s.table.end());
  }
  for (const Token& t : tokens) {
    positions.push_back(t.pos);
    begin.push_back(seq_begin[t.seq]);
  }
  return {to_device(positions), to_device(begin), to_device(tables)};
}

// K and V rows of the given tokens, in a buffer of rows of width ld (like a fused QKV row).
void token_rows(const std::vector<Sequence>& seqs, const std::vector<Token>& tokens, int64_t ld,
                std::vector<float>* k, std::vector<float>* v) {
  k->assign(tokens.size() * ld, 0.0f);
  v->assign(tokens.size() * ld, 0.0f);
  for (size_t t = 0; t < tokens.size(); ++t)
    for (int64_t e = 0; e < kKvWidth; ++e) {
      (*k)[t * ld + e] = seqs[tokens[t].seq].k[tokens[t].pos * kKvWidth + e];
      (*v)[t * ld + e] = seqs[tokens[t].seq].v[tokens[t].pos * kKvWidth + e];
    }
}

TEST(CudaAttention, PrefillAndDecodeOverThePagedCache) {
  SS_SKIP_WITHOUT_GPU();
  const int64_t layers = 2, layer = 1;  // write layer 1: layer offsets must be right too
  const KvCacheShape shape{.n_layers = layers,
                           .n_kv_heads = kKvHeads,
                           .head_dim = kHeadDim,
                           .block_size = kBlock,
                           .n_blocks = kBlocks};
  const int64_t per_layer = kBlocks * kKvHeads * kBlock * kHeadDim;
  DeviceBuffer<__half> cache(2 * layers * per_layer);
  cache.zero();
  const PagedKvLayer kv{cache.data() + layer * per_layer,
                        cache.data() + (layers + layer) * per_layer, kKvHeads, kHeadDim, kBlock};

  // Sequence 0: a 20-token prefill chunk; sequence 1: 50 positions cached by an earlier step,
  // then one decode token at position 50.
  std::vector<Sequence> seqs(2);
  seqs[0].table = {5, 2};
  seqs[1].table = {7, 1, 30, 4};
  for (int i = 0; i < 2; ++i) {
    seqs[i].k = random_floats(64 * kKvWidth, 10 + i);
    seqs[i].v = random_floats(64 * kKvWidth, 20 + i);
  }
  Stream stream;
  const int64_t ld = kQWidth + 2 * kKvWidth + 5;
  std::vector<float> k, v;
  {
    std::vector<Token> earlier;
    for (int32_t p = 0; p < 50; ++p) earlier.push_back({1, p});
    token_rows(seqs, earlier, ld, &k, &v);
    DeviceSlots slots = make_slots(seqs, earlier);
    DeviceBuffer<float> dk = to_device(k), dv = to_device(v);
    kv_write(dk.data(), dv.data(), ld, kv, slots.slots(), stream.get());
    stream.synchronize();
  }
  std::vector<Token> step;
  for (int32_t p = 0; p < 20; ++p) step.push_back({0, p});
  step.push_back({1, 50});
  token_rows(seqs, step, ld, &k, &v);
  const std::vector<float> q = random_floats(step.size() * kQWidth, 30, -2.0f, 2.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  DeviceSlots slots = make_slots(seqs, step);
  DeviceBuffer<float> dk = to_device(k), dv = to_device(v), dq = to_device(q);
  DeviceBuffer<float> out(step.size() * kQWidth);
  DeviceBuffer<__half> out16(step.size() * kQWidth);
  kv_write(dk.data(), dv.data(), ld, kv, slots.slots(), stream.get());
  attention(dq.data(), kQWidth, kQHeads, kv, slots.slots(), scale, out.data(), kQWidth,
            stream.get());
  attention(dq.data(), kQWidth, kQHeads, kv, slots.slots(), scale, out16.data(), kQWidth,
            stream.get());
  stream.synchronize();
  const std::vector<float> want = reference(seqs, step, q, scale);
  EXPECT_TRUE(testing::all_near(to_host(out), want, 2e-5, 1e-4)) << "f32, unplanned";
  EXPECT_TRUE(testing::all_near(f16_to_floats(to_host(out16)), want, 2e-5, 1e-3))
      << "f16, unplanned";

  // The planned path over the same cache.
  std::vector<int32_t> positions, begins;
  for (const Token& t : step) positions.push_back(t.pos);
  begins.assign(20, 0);
  begins.push_back(static_cast<int32_t>(seqs[0].table.size()));
  PagedAttention attn;
  attn.plan(positions.data(), begins.data(), static_cast<int64_t>(step.size()), kQHeads, kKvHeads,
            kHeadDim, stream.get());
  attn.run(dq.data(), kQWidth, kv, slots.slots(), scale, out.data(), kQWidth, stream.get());
  attn.run(dq.data(), kQWidth, kv, slots.slots(), scale, out16.data(), kQWidth, stream.get());
  stream.synchronize();
  EXPECT_TRUE(testing::all_near(to_host(out), want, 2e-5, 1e-4)) << "f32, planned";
  EXPECT_TRUE(testing::all_near(f16_to_floats(to_host(out16)), want, 2e-5, 1e-3)) << "f16, planned";

  // The cache holds f16(K), f16(V) where the CPU KvCache would put them.
  KvCache cpu(shape);
  std::vector<uint16_t> bits(cache.size());
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(bits.data(), cache.data(), cache.bytes(), cudaMemcpyDeviceToHost));
  const uint16_t* base = cpu.keys(0, 0, 0);
  for (int s = 0; s < 2; ++s)
    for (int32_t p = 0; p < (s == 0 ? 20 : 51); ++p)
      for (int64_t h = 0; h < kKvHeads; ++h)
        for (int64_t d = 0; d < kHeadDim; ++d) {
          const int32_t block = seqs[s].table[p / kBlock];
          const int64_t at = p % kBlock * kHeadDim + d;
          const float want_k = seqs[s].k[p * kKvWidth + h * kHeadDim + d];
          const float want_v = seqs[s].v[p * kKvWidth + h * kHeadDim + d];
          ASSERT_EQ(bits[cpu.keys(layer, block, h) - base + at], kernels::f32_to_f16(want_k))
              << "seq " << s << " pos " << p << " head " << h << " dim " << d;
          ASSERT_EQ(bits[cpu.values(layer, block, h) - base + at], kernels::f32_to_f16(want_v))
              << "seq " << s << " pos " << p << " head " << h << " dim " << d;
        }
}

// ---- Paged attention over many shapes and paths ----

using testing::HostPagedLayer;
using testing::reference_attention;

using testing::Chunk;
using testing::make_step;
using testing::PagedStep;
using testing::Shape;
constexpr float kSentinel = 1000.0f;  // exact in f16

// The step on the device.
struct DeviceStep {
  DeviceBuffer<__half> cache;
  DeviceBuffer<int32_t> positions, table_begin, tables;
  Shape shape;
  int64_t per_layer;

  explicit DeviceStep(const PagedStep& st)
      : cache(st.cache.size()),
        positions(to_device(st.positions)),
        table_begin(to_device(st.table_begin)),
        tables(to_device(st.tables)),
        shape(st.shape),
        per_layer(st.per_layer) {
    cache.upload(reinterpret_cast<const __half*>(st.cache.data()), st.cache.size());
  }
  PagedKvLayer layer(int64_t l) const {
    return {cache.data() + l * per_layer, cache.data() + (2 + l) * per_layer, shape.n_kv_heads,
            shape.head_dim, shape.block_size};
  }
  TokenSlots slots() const {
    return {positions.data(), table_begin.data(), tables.data(),
            static_cast<int64_t>(positions.size())};
  }
};

// Query rows of width n_q_heads * head_dim + 40 in [-2, 2]; the padding is NaN (never read).
struct Queries {
  int64_t ldq = 0;
  std::vector<float> host;
  DeviceBuffer<float> device;
};
Queries make_queries(const PagedStep& st, uint32_t seed) {
  Queries q;
  const int64_t width = st.shape.n_q_heads * st.shape.head_dim;
  q.ldq = width + 40;
  q.host = random_floats(st.n_tokens() * q.ldq, seed, -2.0f, 2.0f);
  for (int64_t t = 0; t < st.n_tokens(); ++t)
    std::fill(q.host.begin() + t * q.ldq + width, q.host.begin() + (t + 1) * q.ldq, NAN);
  q.device = to_device(q.host);
  return q;
}

std::vector<float> reference_for(const PagedStep& st, const Queries& q, int64_t layer,
                                 float scale) {
  return reference_attention(q.host.data(), q.ldq, st.shape.n_q_heads, st.host_layer(layer),
                             st.positions.data(), st.table_begin.data(), st.n_tokens(),
                             st.tables.data(), scale);
}

// Runs `attend(out_f32, out_f16, ld_out)` into outputs of rows wider than needed (filled with a
// sentinel), then checks both against `want` and that the padding still holds the sentinel.
template <typename Attend>
void check_outputs(const std::string& what, int64_t n_tokens, int64_t width,
                   const std::vector<float>& want, const Attend& attend) {
  const int64_t ld_out = width + 16;
  DeviceBuffer<float> out32 = to_device(std::vector<float>(n_tokens * ld_out, kSentinel));
  DeviceBuffer<__half> out16 =
      to_device(std::vector<__half>(n_tokens * ld_out, __float2half(kSentinel)));
  attend(out32.data(), out16.data(), ld_out);
  const std::vector<float> got32 = to_host(out32), got16 = f16_to_floats(to_host(out16));
  std::vector<float> rows32, rows16;
  int64_t padding_changed = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    rows32.insert(rows32.end(), got32.begin() + t * ld_out, got32.begin() + t * ld_out + width);
    rows16.insert(rows16.end(), got16.begin() + t * ld_out, got16.begin() + t * ld_out + width);
    for (int64_t e = width; e < ld_out; ++e)
      padding_changed +=
          (got32[t * ld_out + e] != kSentinel) + (got16[t * ld_out + e] != kSentinel);
  }
  EXPECT_TRUE(testing::all_near(rows32, want, 2e-5, 1e-4)) << what << ", f32 output";
  EXPECT_TRUE(testing::all_near(rows16, want, 2e-5, 1e-3)) << what << ", f16 output";
  EXPECT_EQ(padding_changed, 0) << what << ": writes past the heads";
}

class CudaPagedAttention : public ::testing::TestWithParam<Shape> {};

// Decode tokens at contexts 1, 17, 511, 2048, 5000 (several partitions), a chunk of 100 after a
// prefix of 300, a first chunk of 37, 5 tokens after 4500, 64 after 64, and one more decode.
const std::vector<Chunk> kMixedStep = {{0, 1},     {16, 1}, {510, 1},  {2047, 1}, {4999, 1},
                                       {300, 100}, {0, 37}, {4500, 5}, {64, 64},  {2, 1}};

TEST_P(CudaPagedAttention, MatchesTheReferenceOnEveryPath) {
  SS_SKIP_WITHOUT_GPU();
  const Shape s = GetParam();
  const PagedStep st = make_step(s, kMixedStep, 1);
  const Queries q = make_queries(st, 2);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const std::vector<float> want = reference_for(st, q, 1, scale);
  const DeviceStep d(st);
  const PagedKvLayer layer = d.layer(1);
  const TokenSlots slots = d.slots();
  const int64_t n = st.n_tokens(), width = s.n_q_heads * s.head_dim;
  Stream stream;

  using Split = PagedAttention::Options::Split;
  struct Path {
    const char* name;
    PagedAttention::Options options;
  };
  for (const Path& path : {Path{"automatic plan", {}}, Path{"no split", {0, Split::kNever}},
                           Path{"partitions of 96", {96, Split::kAlways}},
                           Path{"partitions of 1000", {1000, Split::kAlways}},
                           Path{"partitions of 128 where few tiles", {128, Split::kAuto}}}) {
    PagedAttention attn(path.options);
    check_outputs(path.name, n, width, want, [&](float* o32, __half* o16, int64_t ld_out) {
      attn.plan(st.positions.data(), st.table_begin.data(), n, s.n_q_heads, s.n_kv_heads,
                s.head_dim, stream.get());
      attn.run(q.device.data(), q.ldq, layer, slots, scale, o32, ld_out, stream.get());
      attn.run(q.device.data(), q.ldq, layer, slots, scale, o16, ld_out, stream.get());
      stream.synchronize();
    });
    const AttentionPlan& plan = attn.last_plan();
    if (path.options.split == Split::kNever) {
      EXPECT_TRUE(plan.merges.empty()) << path.name;
    }
    if (path.options.split == Split::kAlways) {
      EXPECT_FALSE(plan.merges.empty()) << path.name;
    }
  }
  check_outputs("unplanned entry point", n, width, want,
                [&](float* o32, __half* o16, int64_t ld_out) {
                  attention(q.device.data(), q.ldq, s.n_q_heads, layer, slots, scale, o32, ld_out,
                            stream.get());
                  attention(q.device.data(), q.ldq, s.n_q_heads, layer, slots, scale, o16, ld_out,
                            stream.get());
                  stream.synchronize();
                });
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaPagedAttention,
    ::testing::Values(Shape{9, 3, 64, 16},    // SmolLM2-135M: 3 query heads per KV head
                      Shape{8, 8, 64, 16},    // no GQA
                      Shape{24, 3, 64, 32},   // 8 per KV head, blocks of 32
                      Shape{64, 1, 64, 16},   // 64 per KV head: one token per tile
                      Shape{32, 8, 128, 16},  // Llama-3 8B: 4 per KV head
                      Shape{16, 2, 128, 16},  // 8 per KV head
                      Shape{4, 4, 128, 16},   // no GQA
                      Shape{4, 1, 256, 16},   // Gemma 3 270M: 4 per KV head, head_dim 256
                      Shape{8, 8, 256, 16}),  // no GQA at head_dim 256
    [](const ::testing::TestParamInfo<Shape>& shape) {
      const Shape& s = shape.param;
      return "q" + std::to_string(s.n_q_heads) + "_kv" + std::to_string(s.n_kv_heads) + "_hd" +
             std::to_string(s.head_dim) + "_bs" + std::to_string(s.block_size);
    });

TEST(CudaPagedAttention, OnePlanServesEveryLayerAndPlansGrowAndShrink) {
  SS_SKIP_WITHOUT_GPU();
  const Shape s{9, 3, 64, 16};
  const float scale = 0.125f;
  const PagedStep small = make_step(s, {{5, 1}, {40, 3}}, 3);
  const PagedStep big = make_step(s, kMixedStep, 4);
  PagedAttention attn;
  Stream stream;
  for (const PagedStep* st : {&small, &big, &small}) {
    const Queries q = make_queries(*st, 5);
    const DeviceStep d(*st);
    const int64_t n = st->n_tokens(), width = s.n_q_heads * s.head_dim;
    attn.plan(st->positions.data(), st->table_begin.data(), n, s.n_q_heads, s.n_kv_heads,
              s.head_dim, stream.get());
    for (int64_t layer : {0, 1})
      check_outputs("layer " + std::to_string(layer) + " of a step of " + std::to_string(n), n,
                    width, reference_for(*st, q, layer, scale),
                    [&](float* o32, __half* o16, int64_t ld_out) {
                      attn.run(q.device.data(), q.ldq, d.layer(layer), d.slots(), scale, o32,
                               ld_out, stream.get());
                      attn.run(q.device.data(), q.ldq, d.layer(layer), d.slots(), scale, o16,
                               ld_out, stream.get());
                      stream.synchronize();
                    });
  }
}

TEST(CudaPagedAttention, SupportedHeadDims) {
  for (int64_t hd : {64, 128, 256}) EXPECT_TRUE(attention_supports_head_dim(hd)) << hd;
  for (int64_t hd : {0, 32, 80, 96, 160, 512}) EXPECT_FALSE(attention_supports_head_dim(hd)) << hd;
  EXPECT_EQ(attention_max_group(64), 64);
  EXPECT_EQ(attention_max_group(256), 32);
}

}  // namespace
}  // namespace shardserve::gpu
