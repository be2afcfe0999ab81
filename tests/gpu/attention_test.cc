// The paged KV cache write and attention on the device against a double-precision reference,
// for a step that mixes a prefill chunk with a decode token of a sequence cached earlier, with
// block tables in scattered order; the cache layout is checked against the CPU KvCache's.
#include "model/cuda/attention.cuh"

#include <cmath>

#include "model/kernels/cpu/quant.h"
#include "model/kv_cache/kv_cache.h"
#include "tests/gpu/gpu_test_util.h"

namespace shardserve::gpu {
namespace {

using testing::random_floats;
using testing::to_device;
using testing::to_host;

constexpr int64_t kKvHeads = 3, kQHeads = 9, kHeadDim = 64, kBlock = 16, kBlocks = 32;
constexpr int64_t kKvWidth = kKvHeads * kHeadDim, kQWidth = kQHeads * kHeadDim;

float round_f16(float x) {
  return kernels::f16_to_f32(kernels::f32_to_f16(x));
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
  EXPECT_TRUE(testing::all_near(to_host(out), reference(seqs, step, q, scale), 1e-5, 1e-4));

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

}  // namespace
}  // namespace shardserve::gpu
