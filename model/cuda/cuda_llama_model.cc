#include "model/cuda/cuda_llama_model.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "base/check.h"
#include "model/cuda/attention.cuh"
#include "model/cuda/dequantize.cuh"
#include "model/cuda/device.h"
#include "model/cuda/elementwise.cuh"
#include "model/cuda/gemm.h"
#include "model/cuda/quant_gemv.cuh"
#include "model/cuda/reductions.cuh"
#include "model/cuda/rms_norm.cuh"
#include "model/cuda/rope.cuh"
#include "model/cuda/weight_plan.h"
#include "model/kernels/cpu/ops.h"  // rope_cache: the CPU's angles, for the device's table

namespace shardserve {

using gpu::DeviceBuffer;
using gpu::DeviceMemory;

namespace {

// One device matrix of a projection (weight_plan.h): GGUF blocks the quantized GEMV reads, or
// f16 for cuBLAS.
struct DeviceMatrix {
  gpu::PlannedMatrix plan;       // its type, output rows [row_begin, row_begin + rows), pitch
  DeviceBuffer<uint8_t> blocks;  // plan.quantized: [rows] rows of plan.row_stride bytes
  gpu::QuantMatrix q;            // plan.quantized: the GEMV's view of `blocks`
  DeviceBuffer<__half> f16;      // otherwise: [rows][cols]
};

// The weights of one product W x, W [rows][cols]: matrices writing disjoint row ranges of the
// output (several where a fused projection mixes types, e.g. Q6_K attn_v in a Q4_K_M file).
struct Projection {
  std::vector<DeviceMatrix> matrices;
  int64_t rows = 0, cols = 0;
};

}  // namespace

// One shard's weights on the device. Row counts use the shard's local sizes: q_dim = local q
// heads * head_dim, kv_dim = local kv heads * head_dim, ffn = local FFN columns.
struct CudaLlamaModel::Weights {
  struct Layer {
    DeviceBuffer<float> attn_norm;  // [dim]
    Projection wqkv;                // [q_dim + 2 kv_dim][dim]: Q rows, then K, then V
    DeviceBuffer<float> bqkv;       // [q_dim + 2 kv_dim], empty without biases
    Projection wo;                  // [dim][q_dim] (row-parallel)
    DeviceBuffer<float> ffn_norm;   // [dim]
    Projection wgu;                 // [2 ffn][dim]: gate rows, then up
    Projection wdown;               // [dim][ffn] (row-parallel)
  };
  DeviceBuffer<uint8_t> token_embd;  // raw rows [n_vocab] of embd_type, embd_stride bytes each
  DType embd_type = DType::F32;
  size_t embd_stride = 0;
  DeviceBuffer<float> output_norm;  // [dim]
  Projection output;                // [n_vocab][dim] LM head (token_embd when tied)
  DeviceBuffer<float> rope_table;   // [rope_positions][n_rot] (cos, sin) pairs
  // Positions the table covers: the context the group serves (CudaLlamaOptions).
  int64_t rope_positions = 0;
  std::vector<Layer> layers;
  // Rows x columns of the largest quantized matrix of the layers (prefill's dequantization
  // scratch; the LM head goes in pieces), and the widest input of a quantized matrix.
  int64_t max_quant_elems = 0, max_quant_cols = 0;
  bool quantized_head = false;
  int64_t bytes = 0;
  // Of `bytes`: tables a step reads a few rows of (token_embd, the RoPE table).
  int64_t gathered_bytes = 0;
};

// Activations of one step, one row per token, and the device KV cache. Every buffer is sized
// once (allocate_activations at load, the step's ids in reserve_kv): n <= max_tokens below.
struct CudaLlamaModel::RunState {
  gpu::Stream stream;
  gpu::CublasHandle cublas{stream.get(), gpu::kCublasWorkspaceBytes};
  int64_t max_tokens = 0;        // tokens per step
  int64_t max_chunks = 0;        // chunks per step
  int64_t logit_rows = 0;        // rows the LM head computes at once (more run in pieces)
  DeviceBuffer<float> x;         // [n][dim]        residual stream
  DeviceBuffer<__half> xn;       // [n][dim]        normalized input of a sub-layer (GEMM input)
  DeviceBuffer<float> qkv;       // [n][q_dim + 2 kv_dim]
  DeviceBuffer<__half> att;      // [n][q_dim]      attention output per head
  DeviceBuffer<float> proj;      // [n][dim]        row-parallel partial products (tp > 1)
  DeviceBuffer<float> gu;        // [n][2 ffn]      gate | up
  DeviceBuffer<__half> act;      // [n][ffn]        silu(gate) * up
  DeviceBuffer<float> xsel;      // [logit_rows][dim]      rows that need logits (a piece)
  DeviceBuffer<__half> xo;       // [logit_rows][dim]      their final norm
  DeviceBuffer<float> logits;    // [logit_rows][n_vocab]
  DeviceBuffer<int32_t> greedy;  // [max_tokens]           argmax of every output row
  // The quantized GEMV's 8-bit activations: activation_bytes(widest input, kGemvMaxCols);
  // empty when no weight is quantized.
  DeviceBuffer<uint8_t> gemv_ws;
  // Quantized weights dequantized for a GEMM of more than kGemvMaxCols tokens: the largest
  // layer matrix ([rows][cols] f16); empty when no step can need it.
  DeviceBuffer<__half> wscratch;
  gpu::PagedAttention attention;  // the step's attention plan, run by every layer
  // tokens | positions | table_begin | out rows | block tables: [ids_capacity], uploaded in
  // one copy from the page-locked host_ids.
  DeviceBuffer<int32_t> ids;
  gpu::PinnedBuffer<int32_t> host_ids;
  int64_t ids_capacity = 0;
  DeviceBuffer<__half> kv;  // K then V, each [layer][block][kv_head][position][head_dim]
  KvCacheShape kv_shape;

  gpu::PagedKvLayer kv_layer(int64_t layer) const {
    const int64_t per_layer =
        kv_shape.n_blocks * kv_shape.n_kv_heads * kv_shape.block_size * kv_shape.head_dim;
    return {kv.data() + layer * per_layer, kv.data() + (kv_shape.n_layers + layer) * per_layer,
            kv_shape.n_kv_heads, kv_shape.head_dim, kv_shape.block_size};
  }
};

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

template <typename T>
Result<DeviceBuffer<T>> alloc(size_t n, const std::string& what, int64_t* total) {
  auto mem = DeviceMemory::try_alloc(n * sizeof(T), what.c_str());
  if (!mem) return mem.error();
  *total += static_cast<int64_t>(n * sizeof(T));
  return DeviceBuffer<T>(std::move(*mem));
}

#define SS_TRY(expr)                                                        \
  do {                                                                      \
    if (Status ss_status_ = (expr); !ss_status_) return ss_status_.error(); \
  } while (0)

#define SS_ASSIGN(lhs, expr)                    \
  do {                                          \
    auto ss_result_ = (expr);                   \
    if (!ss_result_) return ss_result_.error(); \
    lhs = std::move(*ss_result_);               \
  } while (0)

// Reads tensors of the mapped file, checks them and copies (slices of) them to the device.
class Uploader {
 public:
  Uploader(const gguf::File& file, cudaStream_t stream, int64_t* total)
      : file_(file), stream_(stream), total_(total) {}

  // The tensor `name` of GGUF shape [cols, rows] (rows = 0: a vector of `cols`).
  Result<const gguf::TensorInfo*> find(const std::string& name, int64_t cols, int64_t rows) {
    const gguf::TensorInfo* t = file_.tensor(name);
    if (!t) return Error{"tensor '" + name + "' is missing from " + file_.path()};
    const std::vector<int64_t> want =
        rows ? std::vector<int64_t>{cols, rows} : std::vector<int64_t>{cols};
    if (t->shape != want)
      return Error{"tensor '" + name + "' has shape " + shape_str(t->shape) + ", expected " +
                   shape_str(want)};
    return t;
  }

  // The tensor `name` of GGUF shape [n_cols, n_rows], checked to be readable here and
  // sliceable at columns `cols` (whole blocks).
  Result<const gguf::TensorInfo*> sliceable(const std::string& name, int64_t n_cols, int64_t n_rows,
                                            Range cols) {
    auto t = find(name, n_cols, n_rows);
    if (!t) return t.error();
    const DType type = (*t)->type;
    if (!gpu::dequantize_supported(type))
      return Error{"tensor '" + name + "' has type " + std::string(info(type).name) +
                   ", which the CUDA backend does not load (F32, F16, BF16, Q4_0, Q4_1, Q5_0, "
                   "Q5_1, Q8_0, Q2_K .. Q6_K); use backend: cpu for this model"};
    const int64_t block = info(type).block_size;
    if (cols.begin % block != 0 || cols.size() % block != 0)
      return Error{"tensor '" + name + "' cannot be split at columns [" +
                   std::to_string(cols.begin) + ", " + std::to_string(cols.end) + "): its " +
                   std::string(info(type).name) + " blocks hold " + std::to_string(block) +
                   " columns"};
    return t;
  }

  // Rows `rows` x columns `cols` of a [n_cols, n_rows] tensor, dequantized to f16 into dst
  // (row i of the slice at dst + i * ld).
  Status slice(const std::string& name, int64_t n_cols, int64_t n_rows, Range rows, Range cols,
               __half* dst, int64_t ld) {
    auto t = sliceable(name, n_cols, n_rows, cols);
    if (!t) return t.error();
    const DType type = (*t)->type;
    const size_t full = row_bytes(type, n_cols), width = row_bytes(type, cols.size());
    staging_.ensure(width * rows.size());
    const uint8_t* src = (*t)->data + rows.begin * full + row_bytes(type, cols.begin);
    CUDA_CHECK(cudaMemcpy2DAsync(staging_.data(), width, src, full, width, rows.size(),
                                 cudaMemcpyHostToDevice, stream_));
    gpu::dequantize_rows(type, staging_.data(), width, rows.size(), cols.size(), dst, ld, stream_);
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // before staging_ is reused
    return {};
  }

  // Rows `rows` x columns `cols` of a [n_cols, n_rows] tensor as its GGUF blocks, no
  // dequantization: row i of the slice at dst + i * pitch bytes (pitch >= the slice's
  // row_bytes; gpu::quant_row_stride for the GEMV).
  Status quant_slice(const std::string& name, int64_t n_cols, int64_t n_rows, Range rows,
                     Range cols, uint8_t* dst, size_t pitch) {
    auto t = sliceable(name, n_cols, n_rows, cols);
    if (!t) return t.error();
    const DType type = (*t)->type;
    const size_t full = row_bytes(type, n_cols), width = row_bytes(type, cols.size());
    SS_CHECK(pitch >= width, "quant_slice: pitch below the row's bytes");
    const uint8_t* src = (*t)->data + rows.begin * full + row_bytes(type, cols.begin);
    CUDA_CHECK(cudaMemcpy2DAsync(dst, pitch, src, full, width, rows.size(), cudaMemcpyHostToDevice,
                                 stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // a pageable copy: its source read before return
    return {};
  }

  // One part of a projection: rows `rows` x columns `cols` of the [n_cols, n_rows] tensor.
  struct Part {
    std::string name;
    int64_t n_cols = 0, n_rows = 0;
    Range rows, cols;
  };

  // The parts stacked by rows into one projection, quantized where weight_plan.h says so
  // (`quantize` false: all f16).
  Result<Projection> projection(const std::vector<Part>& parts, bool quantize,
                                const std::string& what) {
    std::vector<gpu::WeightPart> shapes;
    for (const Part& p : parts) {
      auto t = sliceable(p.name, p.n_cols, p.n_rows, p.cols);
      if (!t) return t.error();
      shapes.push_back({(*t)->type, p.rows.size(), p.cols.size()});
    }
    Projection out;
    out.cols = shapes.front().cols;
    for (const gpu::PlannedMatrix& plan : gpu::plan_projection(shapes, quantize)) {
      DeviceMatrix m;
      m.plan = plan;
      if (plan.quantized) {
        auto blocks = alloc<uint8_t>(plan.bytes(), what, total_);
        if (!blocks) return blocks.error();
        m.blocks = std::move(*blocks);
        m.blocks.zero();  // the rows' padding: read by the GEMV, never used
        m.q = {.data = m.blocks.data(),
               .type = plan.type,
               .rows = plan.rows,
               .cols = plan.cols,
               .row_stride = plan.row_stride};
      } else {
        auto f16 = alloc<__half>(plan.rows * plan.cols, what, total_);
        if (!f16) return f16.error();
        m.f16 = std::move(*f16);
      }
      int64_t row = 0;  // within this matrix
      for (int i = plan.first_part; i < plan.first_part + plan.n_parts; ++i) {
        const Part& p = parts[i];
        if (plan.quantized)
          SS_TRY(quant_slice(p.name, p.n_cols, p.n_rows, p.rows, p.cols,
                             m.blocks.data() + row * plan.row_stride, plan.row_stride));
        else
          SS_TRY(slice(p.name, p.n_cols, p.n_rows, p.rows, p.cols, m.f16.data() + row * plan.cols,
                       plan.cols));
        row += p.rows.size();
      }
      out.rows += plan.rows;
      out.matrices.push_back(std::move(m));
    }
    return out;
  }

  // Elements [part.begin, part.end) of an F32 vector of n elements.
  Result<DeviceBuffer<float>> f32(const std::string& name, int64_t n, Range part) {
    auto t = find(name, n, 0);
    if (!t) return t.error();
    if ((*t)->type != DType::F32)
      return Error{"tensor '" + name + "' has type " + std::string(info((*t)->type).name) +
                   ", expected F32"};
    auto buf = alloc<float>(part.size(), name, total_);
    if (!buf) return buf.error();
    buf->upload(reinterpret_cast<const float*>((*t)->data) + part.begin, part.size());
    return buf;
  }

 private:
  const gguf::File& file_;
  cudaStream_t stream_;
  int64_t* total_;
  DeviceBuffer<uint8_t> staging_;
};

}  // namespace

CudaLlamaModel::CudaLlamaModel(LlamaConfig config, TransformerShard shard, int device,
                               Collectives* group)
    : config_(std::move(config)), shard_(std::move(shard)), device_(device), group_(group) {}

CudaLlamaModel::~CudaLlamaModel() {
  if (state_) cudaSetDevice(device_);  // free on the model's device
}

int64_t CudaLlamaModel::weight_bytes() const {
  return weights_->bytes;
}

int64_t CudaLlamaModel::bytes_read_per_step() const {
  return weights_->bytes - weights_->gathered_bytes;
}

Result<std::unique_ptr<CudaLlamaModel>> CudaLlamaModel::load(const gguf::File& file, int tp,
                                                             int rank, int device,
                                                             Collectives* group,
                                                             const CudaLlamaOptions& options) {
  if (options.context_length < 0 || options.max_step_tokens <= 0 || options.max_step_chunks < 0)
    return Error{
        "CUDA model options: context_length >= 0, max_step_tokens > 0 and "
        "max_step_chunks >= 0 are required"};
  if (auto reason = gpu::cuda_unavailable_reason())
    return Error{*reason + "; set backend: cpu for this group"};
  const int n_devices = gpu::cuda_device_count();
  if (device < 0 || device >= n_devices)
    return Error{"CUDA device " + std::to_string(device) + " does not exist (this host has " +
                 std::to_string(n_devices) + "); check the group's devices list"};
  if (tp > 1 && (!group || group->size() != tp || group->rank() != rank))
    return Error{"a CUDA group of tp " + std::to_string(tp) +
                 " needs an NCCL group of that size with this rank"};
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
    return Error{gpu::cuda_error_message("cudaSetDevice", e)};

  auto config = read_llama_config(file);
  if (!config) return config.error();
  const LlamaConfig& c = *config;
  if (!c.is_plain_llama() || c.q_dim() != c.dim)
    return Error{"the CUDA path runs the llama, mistral, smollm and qwen2 layouts only; '" +
                 c.arch + "' needs the CPU backend (backend: cpu)"};
  const gguf::TensorInfo* down = file.tensor("blk.0.ffn_down.weight");
  if (!down) return Error{"tensor 'blk.0.ffn_down.weight' is missing from " + file.path()};
  auto shard = plan_transformer_shard({.n_heads = c.n_heads,
                                       .n_kv_heads = c.n_kv_heads,
                                       .hidden_dim = c.hidden_dim,
                                       .ffn_unit = info(down->type).block_size,
                                       .head_dim = c.head_dim},
                                      tp, rank);
  if (!shard) return shard.error();
  // gpu::attention maps query head h to KV head h / (n_q / n_kv) of the rank's own heads: the
  // CUDA path splits whole KV heads, without the plan's KV replication (parallel/shard_plan.h).
  if (tp > c.n_kv_heads)
    return Error{"tp " + std::to_string(tp) + " exceeds the model's " +
                 std::to_string(c.n_kv_heads) + " KV heads; the CUDA path does not replicate " +
                 "KV heads: use tp <= " + std::to_string(c.n_kv_heads) + " or backend: cpu"};
  if (!gpu::attention_supports_head_dim(c.head_dim))
    return Error{"head_dim " + std::to_string(c.head_dim) +
                 ": the CUDA attention kernels take 64, 128 or 256; use backend: cpu"};
  if (c.n_heads / c.n_kv_heads > gpu::attention_max_group(c.head_dim))
    return Error{std::to_string(c.n_heads / c.n_kv_heads) +
                 " query heads per KV head: the CUDA attention kernels take at most " +
                 std::to_string(gpu::attention_max_group(c.head_dim)) + " at head_dim " +
                 std::to_string(c.head_dim) + "; use backend: cpu"};

  std::unique_ptr<CudaLlamaModel> m(new CudaLlamaModel(c, *shard, device, group));
  m->state_ = std::make_unique<RunState>();
  m->weights_ = std::make_unique<Weights>();
  Weights& w = *m->weights_;
  const TransformerShard& s = m->shard_;
  const int64_t dim = c.dim, hd = c.head_dim;
  const int64_t q_dim = s.q_heads.size() * hd, kv_dim = s.kv_heads.size() * hd;
  const int64_t qkv_w = q_dim + 2 * kv_dim;
  const Range all_dim{0, dim}, all_vocab{0, c.n_vocab};
  const Range q_rows{s.q_heads.begin * hd, s.q_heads.end * hd};
  const Range kv_rows{s.kv_heads.begin * hd, s.kv_heads.end * hd};
  Uploader up(file, m->state_->stream.get(), &w.bytes);

  // Embeddings: the raw rows, gathered exactly at each step.
  {
    auto t = up.find("token_embd.weight", dim, c.n_vocab);
    if (!t) return t.error();
    if (!gpu::dequantize_supported((*t)->type))
      return Error{"tensor 'token_embd.weight' has type " + std::string(info((*t)->type).name) +
                   ", which the CUDA backend cannot read"};
    w.embd_type = (*t)->type;
    w.embd_stride = row_bytes(w.embd_type, dim);
    SS_ASSIGN(w.token_embd, alloc<uint8_t>(w.embd_stride * c.n_vocab, "token_embd", &w.bytes));
    w.token_embd.upload((*t)->data, w.embd_stride * c.n_vocab);
    w.gathered_bytes += static_cast<int64_t>(w.embd_stride * c.n_vocab);
  }
  SS_ASSIGN(w.output_norm, up.f32("output_norm.weight", dim, all_dim));
  const std::string head = file.tensor("output.weight") ? "output.weight" : "token_embd.weight";
  const bool quantize = options.quantized_weights;
  SS_ASSIGN(w.output,
            up.projection({{head, dim, c.n_vocab, all_vocab, all_dim}}, quantize, "the LM head"));

  // RoPE angles of every position of the context the group serves (which may differ from the
  // trained one), by the CPU's own function.
  {
    std::vector<float> factors;
    if (file.tensor("rope_freqs.weight")) {
      auto f = up.find("rope_freqs.weight", c.n_rot / 2, 0);
      if (!f) return f.error();
      if ((*f)->type != DType::F32) return Error{"tensor 'rope_freqs.weight' must be F32"};
      const float* p = reinterpret_cast<const float*>((*f)->data);
      factors.assign(p, p + c.n_rot / 2);
    }
    const kernels::RopeParams rope{.n_rot = c.n_rot,
                                   .freq_base = c.rope_freq_base,
                                   .freq_scale = c.rope_freq_scale,
                                   .neox = c.traits.rope_neox,
                                   .freq_factors = factors.empty() ? nullptr : factors.data()};
    w.rope_positions = std::max<int64_t>(
        options.context_length > 0 ? options.context_length : c.context_length, 1);
    std::vector<float> table(w.rope_positions * c.n_rot);
    for (int64_t p = 0; p < w.rope_positions; ++p)
      kernels::rope_cache(rope, p, &table[p * c.n_rot]);
    SS_ASSIGN(w.rope_table, alloc<float>(table.size(), "the RoPE table", &w.bytes));
    w.rope_table.upload(table.data(), table.size());
    w.gathered_bytes += static_cast<int64_t>(table.size() * sizeof(float));
  }

  w.layers.resize(c.n_layers);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    Weights::Layer& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    SS_ASSIGN(L.attn_norm, up.f32(p + "attn_norm.weight", dim, all_dim));
    SS_ASSIGN(L.wqkv,
              up.projection({{p + "attn_q.weight", dim, c.n_heads * hd, q_rows, all_dim},
                             {p + "attn_k.weight", dim, c.n_kv_heads * hd, kv_rows, all_dim},
                             {p + "attn_v.weight", dim, c.n_kv_heads * hd, kv_rows, all_dim}},
                            quantize, p + "attn_qkv"));
    if (file.tensor(p + "attn_q.bias")) {
      std::vector<float> bias(qkv_w);
      const std::pair<const char*, Range> parts[] = {
          {"attn_q.bias", q_rows}, {"attn_k.bias", kv_rows}, {"attn_v.bias", kv_rows}};
      int64_t at = 0;
      for (const auto& [name, range] : parts) {
        auto t = up.find(p + name, name[5] == 'q' ? c.n_heads * hd : c.n_kv_heads * hd, 0);
        if (!t) return t.error();
        if ((*t)->type != DType::F32) return Error{"tensor '" + p + name + "' must be F32"};
        const float* b = reinterpret_cast<const float*>((*t)->data) + range.begin;
        std::copy(b, b + range.size(), bias.begin() + at);
        at += range.size();
      }
      SS_ASSIGN(L.bqkv, alloc<float>(qkv_w, p + "attn_qkv.bias", &w.bytes));
      L.bqkv.upload(bias.data(), bias.size());
    }
    SS_ASSIGN(L.wo,
              up.projection({{p + "attn_output.weight", c.n_heads * hd, dim, all_dim, q_rows}},
                            quantize, p + "attn_output"));
    SS_ASSIGN(L.ffn_norm, up.f32(p + "ffn_norm.weight", dim, all_dim));
    SS_ASSIGN(L.wgu, up.projection({{p + "ffn_gate.weight", dim, c.hidden_dim, s.ffn, all_dim},
                                    {p + "ffn_up.weight", dim, c.hidden_dim, s.ffn, all_dim}},
                                   quantize, p + "ffn_gate_up"));
    SS_ASSIGN(L.wdown, up.projection({{p + "ffn_down.weight", c.hidden_dim, dim, all_dim, s.ffn}},
                                     quantize, p + "ffn_down"));
    for (const Projection* pr : {&L.wqkv, &L.wo, &L.wgu, &L.wdown})
      for (const DeviceMatrix& dm : pr->matrices)
        if (dm.plan.quantized) {
          w.max_quant_elems = std::max(w.max_quant_elems, dm.plan.rows * dm.plan.cols);
          w.max_quant_cols = std::max(w.max_quant_cols, dm.plan.cols);
        }
  }
  for (const DeviceMatrix& dm : w.output.matrices)
    if (dm.plan.quantized) {
      w.quantized_head = true;
      w.max_quant_cols = std::max(w.max_quant_cols, dm.plan.cols);
    }
  SS_TRY(m->allocate_activations(options));
  CUDA_CHECK(cudaDeviceSynchronize());
  return m;
}

Status CudaLlamaModel::allocate_activations(const CudaLlamaOptions& options) {
  RunState& s = *state_;
  const LlamaConfig& c = config_;
  const int64_t n = options.max_step_tokens;
  s.max_tokens = n;
  s.max_chunks = options.max_step_chunks > 0 ? std::min(options.max_step_chunks, n) : n;
  // Decode steps give one logit row per chunk; prompt scoring and speculation more, in pieces.
  s.logit_rows = std::min<int64_t>(n, std::max<int64_t>(s.max_chunks, 64));
  const int64_t dim = c.dim, hd = c.head_dim;
  const int64_t q_dim = shard_.q_heads.size() * hd, kv_dim = shard_.kv_heads.size() * hd;
  const int64_t ffn = shard_.ffn.size();
  int64_t unused = 0;
  SS_ASSIGN(s.x, alloc<float>(n * dim, "the residual stream", &unused));
  SS_ASSIGN(s.xn, alloc<__half>(n * dim, "normalized activations", &unused));
  SS_ASSIGN(s.qkv, alloc<float>(n * (q_dim + 2 * kv_dim), "Q, K and V", &unused));
  SS_ASSIGN(s.att, alloc<__half>(n * q_dim, "attention outputs", &unused));
  if (group_ && group_->size() > 1)
    SS_ASSIGN(s.proj, alloc<float>(n * dim, "row-parallel partial products", &unused));
  SS_ASSIGN(s.gu, alloc<float>(n * 2 * ffn, "gate and up", &unused));
  SS_ASSIGN(s.act, alloc<__half>(n * ffn, "the FFN activation", &unused));
  SS_ASSIGN(s.xsel, alloc<float>(s.logit_rows * dim, "the LM head's rows", &unused));
  SS_ASSIGN(s.xo, alloc<__half>(s.logit_rows * dim, "the LM head's input", &unused));
  SS_ASSIGN(s.logits, alloc<float>(s.logit_rows * c.n_vocab, "logits", &unused));
  SS_ASSIGN(s.greedy, alloc<int32_t>(n, "greedy tokens", &unused));
  const Weights& w = *weights_;
  if (w.max_quant_cols > 0)
    SS_ASSIGN(s.gemv_ws, alloc<uint8_t>(gpu::activation_bytes(w.max_quant_cols, gpu::kGemvMaxCols),
                                        "the quantized GEMV's activations", &unused));
  // Prefill dequantizes a quantized matrix at a time: the largest layer matrix, and at least
  // kHeadPieceRows rows of a quantized LM head (which runs in pieces of the scratch's rows).
  constexpr int64_t kHeadPieceRows = 4096;
  int64_t scratch = w.max_quant_elems;
  if (w.quantized_head) scratch = std::max(scratch, std::min(c.n_vocab, kHeadPieceRows) * dim);
  if (n > gpu::kGemvMaxCols && scratch > 0)
    SS_ASSIGN(s.wscratch, alloc<__half>(scratch, "dequantized weights for prefill", &unused));
  return {};
}

std::optional<KvCacheShape> CudaLlamaModel::kv_shape(int64_t n_blocks, int64_t block_size) const {
  return KvCacheShape{.n_layers = config_.n_layers,
                      .n_kv_heads = shard_.kv_heads.size(),
                      .head_dim = config_.head_dim,
                      .block_size = block_size,
                      .n_blocks = n_blocks};
}

Status CudaLlamaModel::reserve_kv(const KvCacheShape& shape) {
  if (shape.n_layers != config_.n_layers || shape.n_kv_heads != shard_.kv_heads.size() ||
      shape.head_dim != config_.head_dim || shape.block_size <= 0 || shape.n_blocks <= 0)
    return Error{"KV cache shape does not fit this shard: use kv_shape()"};
  CUDA_CHECK(cudaSetDevice(device_));
  RunState& s = *state_;
  s.kv = DeviceBuffer<__half>();
  const int64_t halves = shape.block_bytes() / 2 * shape.n_blocks;
  int64_t unused = 0;
  auto kv = alloc<__half>(halves, "the KV cache", &unused);
  if (!kv) return kv.error();
  s.kv = std::move(*kv);
  s.kv_shape = shape;
  // A step's ids: 3 per token, at most one output row per token, and for each chunk the part
  // of its block table that reaches its last position (never past the RoPE table's context).
  const int64_t table_entries = std::min(
      shape.n_blocks, (weights_->rope_positions + shape.block_size - 1) / shape.block_size);
  s.ids_capacity = 4 * s.max_tokens + s.max_chunks * table_entries;
  s.ids = DeviceBuffer<int32_t>();
  s.host_ids = gpu::PinnedBuffer<int32_t>();
  SS_ASSIGN(s.ids, alloc<int32_t>(s.ids_capacity, "a step's token ids", &unused));
  auto host = gpu::PinnedBuffer<int32_t>::try_alloc(s.ids_capacity, "a step's token ids");
  if (!host) return host.error();
  s.host_ids = std::move(*host);
  return {};
}

namespace {

// y[t * ldy + r] (+)= sum_c W[r][c] x[t * ldx + c] for the projection's rows r, tokens t < n:
// `accumulate` adds to y. Per matrix: f16 -> cuBLAS; quantized -> the GEMV for n <=
// kGemvMaxCols, else dequantized into s.wscratch (in row pieces where it is smaller) and cuBLAS.
void project(CudaLlamaModel::RunState& s, const Projection& w, const __half* x, int64_t ldx,
             int64_t n, float* y, int64_t ldy, bool accumulate) {
  const cudaStream_t st = s.stream.get();
  const float beta = accumulate ? 1.0f : 0.0f;
  for (const DeviceMatrix& m : w.matrices) {
    const gpu::PlannedMatrix& p = m.plan;
    float* ym = y + p.row_begin;
    if (!p.quantized) {
      gpu::gemm_f16(s.cublas.get(), m.f16.data(), p.cols, x, ldx, ym, ldy, p.rows, p.cols, n, beta);
    } else if (n <= gpu::kGemvMaxCols) {
      gpu::gemv(m.q, x, ldx, static_cast<int>(n), ym, ldy, accumulate, s.gemv_ws.data(), st);
    } else {
      const int64_t piece =
          gpu::scratch_rows(p.rows, p.cols, static_cast<int64_t>(s.wscratch.size()));
      for (int64_t r = 0; r < p.rows; r += piece) {
        gpu::QuantMatrix part = m.q;
        part.data = m.blocks.data() + r * p.row_stride;
        part.rows = std::min(piece, p.rows - r);
        gpu::dequantize_to_f16(part, s.wscratch.data(), p.cols, st);
        gpu::gemm_f16(s.cublas.get(), s.wscratch.data(), p.cols, x, ldx, ym + r, ldy, part.rows,
                      p.cols, n, beta);
      }
    }
  }
}

// residual += w x for a row-parallel weight [dim][n_in]: accumulated straight into the residual
// when the group has one rank; else the partial products are all-reduced across the group first.
void row_parallel(CudaLlamaModel::RunState& s, Collectives* group, const Projection& w,
                  const __half* x, int64_t n, int64_t dim, float* residual) {
  if (!group || group->size() == 1) {
    project(s, w, x, w.cols, n, residual, dim, true);
    return;
  }
  project(s, w, x, w.cols, n, s.proj.data(), dim, false);
  s.stream.synchronize();  // the group's collectives run on their own stream
  group->all_reduce_sum(s.proj.data(), n * dim);
  gpu::add_inplace(residual, s.proj.data(), n * dim, s.stream.get());
}

bool same_shape(const KvCacheShape& a, const KvCacheShape& b) {
  return a.n_layers == b.n_layers && a.n_kv_heads == b.n_kv_heads && a.head_dim == b.head_dim &&
         a.block_size == b.block_size && a.n_blocks == b.n_blocks;
}

}  // namespace

Status CudaLlamaModel::forward(std::span<const SeqChunk> chunks, KvCache* kv,
                               const StepResources& /*resources*/, std::vector<float>* logits) {
  SS_CHECK(kv, "a decoder's step needs a KV cache");
  forward_greedy(chunks, *kv, logits, nullptr);
  return {};
}

void CudaLlamaModel::forward_greedy(std::span<const SeqChunk> chunks, KvCache& kv,
                                    std::vector<float>* logits, std::vector<TokenId>* greedy) {
  const LlamaConfig& c = config_;
  RunState& s = *state_;
  const Weights& w = *weights_;
  CUDA_CHECK(cudaSetDevice(device_));
  SS_CHECK(s.kv.data() && same_shape(kv.shape(), s.kv_shape),
           "call reserve_kv(kv.shape()) before forward()");
  int64_t n = 0, n_out = 0;
  for (const SeqChunk& ch : chunks) {
    n += static_cast<int64_t>(ch.tokens.size());
    if (!ch.tokens.empty()) n_out += output_rows(ch);
  }
  if (logits) logits->clear();
  if (greedy) greedy->clear();
  if (n == 0) return;
  SS_CHECK(n <= s.max_tokens && static_cast<int64_t>(chunks.size()) <= s.max_chunks,
           "a step beyond the CUDA model's limits (CudaLlamaOptions::max_step_tokens, "
           "max_step_chunks)");

  // Token ids, positions, where each token's block table starts, the rows that need logits,
  // then the block tables (each cut after the block of its chunk's last position): written
  // into page-locked memory, one asynchronous upload.
  int32_t* h = s.host_ids.data();
  const int64_t tables_at = 3 * n + n_out;
  int64_t t = 0, o = 0, at = tables_at;
  for (const SeqChunk& ch : chunks) {
    const int64_t len = static_cast<int64_t>(ch.tokens.size());
    const int64_t end = ch.start_pos + len;
    SS_CHECK(kv.capacity(ch.seq) >= end, "KV blocks not reserved for a chunk");
    SS_CHECK(end <= w.rope_positions,
             "a position beyond the context the CUDA model was loaded for "
             "(CudaLlamaOptions::context_length)");
    const std::vector<int32_t>& table = kv.block_table(ch.seq);
    const int64_t used =
        std::min<int64_t>(static_cast<int64_t>(table.size()),
                          (end + s.kv_shape.block_size - 1) / s.kv_shape.block_size);
    SS_CHECK(at + used <= s.ids_capacity, "a step's block tables beyond the CUDA model's limits");
    const int32_t begin = static_cast<int32_t>(at - tables_at);
    std::copy(table.begin(), table.begin() + used, h + at);
    at += used;
    for (int64_t i = 0; i < len; ++i, ++t) {
      SS_CHECK(ch.tokens[i] >= 0 && ch.tokens[i] < c.n_vocab, "token id out of range");
      h[t] = ch.tokens[i];
      h[n + t] = static_cast<int32_t>(ch.start_pos + i);
      h[2 * n + t] = begin;
    }
    if (len > 0)
      for (int64_t r = t - output_rows(ch); r < t; ++r) h[3 * n + o++] = static_cast<int32_t>(r);
  }
  const cudaStream_t st = s.stream.get();
  CUDA_CHECK(cudaMemcpyAsync(s.ids.data(), h, at * sizeof(int32_t), cudaMemcpyHostToDevice, st));
  const int32_t* d_tokens = s.ids.data();
  const int32_t* d_out_rows = s.ids.data() + 3 * n;
  const gpu::TokenSlots slots{s.ids.data() + n, s.ids.data() + 2 * n, s.ids.data() + tables_at, n};

  const int64_t dim = c.dim, hd = c.head_dim;
  const int64_t nq = shard_.q_heads.size(), nkv = shard_.kv_heads.size();
  const int64_t q_dim = nq * hd, kv_dim = nkv * hd, ffn = shard_.ffn.size();
  const int64_t qkv_w = q_dim + 2 * kv_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const gpu::RopeShape rope_q{nq, hd, c.n_rot, c.traits.rope_neox},
      rope_k{nkv, hd, c.n_rot, c.traits.rope_neox};

  // One attention plan for every layer: tiles of query tokens, contexts split where long.
  s.attention.plan(h + n, h + 2 * n, n, nq, nkv, hd, st);

  // Embed the tokens.
  gpu::gather_rows(w.embd_type, w.token_embd.data(), w.embd_stride, d_tokens, n, dim, s.x.data(),
                   dim, st);

  for (int64_t l = 0; l < c.n_layers; ++l) {
    const Weights::Layer& L = w.layers[l];
    const gpu::PagedKvLayer cache = s.kv_layer(l);
    float* q = s.qkv.data();
    float* k = q + q_dim;
    float* v = k + kv_dim;

    // Attention block: norm -> Q, K, V -> RoPE -> cache write -> attention -> out-projection.
    gpu::rms_norm(s.x.data(), dim, L.attn_norm.data(), c.rms_eps, n, dim, s.xn.data(), dim, st);
    project(s, L.wqkv, s.xn.data(), dim, n, q, qkv_w, false);
    if (L.bqkv.size()) gpu::add_bias(q, qkv_w, L.bqkv.data(), n, qkv_w, st);
    gpu::rope(q, qkv_w, n, rope_q, slots.positions, w.rope_table.data(), st);
    gpu::rope(k, qkv_w, n, rope_k, slots.positions, w.rope_table.data(), st);
    gpu::kv_write(k, v, qkv_w, cache, slots, st);
    s.attention.run(q, qkv_w, cache, slots, scale, s.att.data(), q_dim, st);
    row_parallel(s, group_, L.wo, s.att.data(), n, dim, s.x.data());

    // Feed-forward block: norm -> gate, up -> SiLU(gate) * up -> down-projection.
    gpu::rms_norm(s.x.data(), dim, L.ffn_norm.data(), c.rms_eps, n, dim, s.xn.data(), dim, st);
    project(s, L.wgu, s.xn.data(), dim, n, s.gu.data(), 2 * ffn, false);
    gpu::silu_mul(s.gu.data(), s.gu.data() + ffn, 2 * ffn, n, ffn, s.act.data(), ffn, st);
    row_parallel(s, group_, L.wdown, s.act.data(), n, dim, s.x.data());
  }

  if ((!logits && !greedy) || n_out == 0) {
    s.stream.synchronize();  // host_ids is reused by the next step
    return;
  }
  // Final norm and LM head for the rows that asked for logits, logit_rows at a time.
  if (logits) logits->resize(n_out * c.n_vocab);
  for (int64_t first = 0; first < n_out; first += s.logit_rows) {
    const int64_t rows = std::min(s.logit_rows, n_out - first);
    gpu::gather_rows(DType::F32, s.x.data(), dim * sizeof(float), d_out_rows + first, rows, dim,
                     s.xsel.data(), dim, st);
    gpu::rms_norm(s.xsel.data(), dim, w.output_norm.data(), c.rms_eps, rows, dim, s.xo.data(), dim,
                  st);
    project(s, w.output, s.xo.data(), dim, rows, s.logits.data(), c.n_vocab, false);
    if (greedy)
      gpu::argmax_rows(s.logits.data(), c.n_vocab, rows, c.n_vocab, s.greedy.data() + first, st);
    // Queued behind the LM head; the next piece's LM head is queued behind this copy.
    if (logits)
      CUDA_CHECK(cudaMemcpyAsync(logits->data() + first * c.n_vocab, s.logits.data(),
                                 rows * c.n_vocab * sizeof(float), cudaMemcpyDeviceToHost, st));
  }
  if (greedy) {
    greedy->resize(n_out);
    CUDA_CHECK(cudaMemcpyAsync(greedy->data(), s.greedy.data(), n_out * sizeof(int32_t),
                               cudaMemcpyDeviceToHost, st));
  }
  s.stream.synchronize();
}

}  // namespace shardserve
