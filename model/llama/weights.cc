#include "model/llama/weights.h"

#include <cstring>
#include <string>

#include "model/kernels/cpu/packed_quant.h"

namespace shardserve {
namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

class Loader {
 public:
  Loader(const gguf::File& file, bool pack) : file_(file), pack_(pack) {}

  // A tensor that must exist with exactly this GGUF shape.
  Result<const gguf::TensorInfo*> get(const std::string& name, std::vector<int64_t> shape) const {
    const gguf::TensorInfo* t = file_.tensor(name);
    if (!t) return Error{"tensor '" + name + "' is missing from " + file_.path()};
    if (t->shape != shape)
      return Error{"tensor '" + name + "' has shape " + shape_str(t->shape) + ", expected " +
                   shape_str(shape)};
    return t;
  }

  Result<const float*> f32(const std::string& name, int64_t n, int64_t offset = 0) const {
    auto t = get(name, {n});
    if (!t) return t.error();
    if ((*t)->type != DType::F32)
      return Error{"tensor '" + name + "' has type " + std::string(info((*t)->type).name) +
                   ", expected F32"};
    return reinterpret_cast<const float*>((*t)->data) + offset;
  }

  // Rows [rows.begin, rows.end) of a [n_cols x n_rows] (GGUF order) matrix.
  Result<WeightMatrix> rows(const std::string& name, int64_t n_cols, int64_t n_rows,
                            Range rows) const {
    auto t = get(name, {n_cols, n_rows});
    if (!t) return t.error();
    WeightMatrix w;
    w.type = (*t)->type;
    w.row_stride = row_bytes(w.type, n_cols);
    w.data = (*t)->data + rows.begin * w.row_stride;
    w.n_rows = rows.size();
    w.n_cols = n_cols;
    return w;
  }

  // Rows [rows.begin, rows.end) of expert e of a stacked [n_cols, n_rows, n_expert] (GGUF
  // order) tensor.
  Result<WeightMatrix> expert_rows(const std::string& name, int64_t n_cols, int64_t n_rows,
                                   int64_t n_expert, int64_t e, Range rows) const {
    auto t = get(name, {n_cols, n_rows, n_expert});
    if (!t) return t.error();
    WeightMatrix w;
    w.type = (*t)->type;
    w.row_stride = row_bytes(w.type, n_cols);
    w.data = (*t)->data + static_cast<size_t>(e * n_rows + rows.begin) * w.row_stride;
    w.n_rows = rows.size();
    w.n_cols = n_cols;
    return w;
  }

  // Columns [cols.begin, cols.end) of expert e's rows (a row-parallel slice, as cols()).
  Result<WeightMatrix> expert_cols(const std::string& name, int64_t n_cols, int64_t n_rows,
                                   int64_t n_expert, int64_t e, Range cols,
                                   std::vector<std::unique_ptr<uint8_t[]>>& owned) const {
    auto w = expert_rows(name, n_cols, n_rows, n_expert, e, Range{0, n_rows});
    if (!w) return w;
    return slice_cols(*w, name, cols, owned);
  }

  // Columns [cols.begin, cols.end) of every row (row-parallel slice): packed into panels, or
  // else copied into `owned` unless they are the whole row.
  Result<WeightMatrix> cols(const std::string& name, int64_t n_cols, int64_t n_rows, Range cols,
                            std::vector<std::unique_ptr<uint8_t[]>>& owned) const {
    auto w = rows(name, n_cols, n_rows, Range{0, n_rows});
    if (!w) return w;
    return slice_cols(*w, name, cols, owned);
  }

  // Packs `w` into quant panels kept in `panels` where the CPU runs the packed kernel, and drops
  // the mapped pages it came from.
  void pack(WeightMatrix& w, std::vector<kernels::AlignedBytes>& panels) const {
    if (!packs(w.type) || w.quant_panels) return;
    panels.push_back(kernels::pack_quant_panels(w.type, w.data, w.row_stride, w.n_rows, w.n_cols));
    w.quant_panels = panels.back().get();
    file_.drop_pages(w.data, w.row_stride * static_cast<size_t>(w.n_rows));
  }

 private:
  // Columns `cols` of every row of the view w (see cols()).
  Result<WeightMatrix> slice_cols(WeightMatrix w, const std::string& name, Range cols,
                                  std::vector<std::unique_ptr<uint8_t[]>>& owned) const {
    const int64_t n_cols = w.n_cols, n_rows = w.n_rows;
    const int64_t block = info(w.type).block_size;
    if (cols.begin % block != 0 || cols.end % block != 0)
      return Error{"tensor '" + name + "' cannot be split at column " + std::to_string(cols.begin) +
                   ": its " + std::string(info(w.type).name) + " blocks hold " +
                   std::to_string(block) + " columns"};
    if (cols.size() == n_cols) return w;
    if (packs(w.type)) {  // a view of the slice; pack() reads it once
      w.data += row_bytes(w.type, cols.begin);
      w.n_cols = cols.size();
      return w;
    }
    const size_t offset = row_bytes(w.type, cols.begin), slice = row_bytes(w.type, cols.size());
    auto copy = std::make_unique<uint8_t[]>(slice * n_rows);
    for (int64_t r = 0; r < n_rows; ++r)
      std::memcpy(copy.get() + r * slice, w.data + r * w.row_stride + offset, slice);
    file_.drop_pages(w.data, w.row_stride * n_rows);
    w.data = copy.get();
    w.row_stride = slice;
    w.n_cols = cols.size();
    owned.push_back(std::move(copy));
    return w;
  }

  bool packs(DType type) const { return pack_ && kernels::use_quant_panels(type); }

  const gguf::File& file_;
  bool pack_;
};

Range shifted(Range r, int64_t by) {
  return {r.begin + by, r.end + by};
}

}  // namespace

Result<LlamaWeights> load_llama_weights(const gguf::File& file, const LlamaConfig& c,
                                        const TransformerShard& shard, bool pack,
                                        ExpertShard experts) {
  Loader load(file, pack);
  LlamaWeights w;
  const Range all_vocab{0, c.n_vocab};
  auto embd = load.rows("token_embd.weight", c.dim, c.n_vocab, all_vocab);
  if (!embd) return embd.error();
  w.token_embd = *embd;
  auto norm = load.f32("output_norm.weight", c.dim);
  if (!norm) return norm.error();
  w.output_norm = *norm;
  // This rank's rows of the LM head (all of them for a shard planned without n_vocab); a tied
  // one is a view of token_embd's rows.
  auto head = load.rows(file.tensor("output.weight") ? "output.weight" : "token_embd.weight", c.dim,
                        c.n_vocab, shard.vocab.size() > 0 ? shard.vocab : all_vocab);
  if (!head) return head.error();
  w.output = *head;
  if (file.tensor("rope_freqs.weight")) {
    auto f = load.f32("rope_freqs.weight", c.n_rot / 2);
    if (!f) return f.error();
    w.rope_freqs = *f;
  }

  // The LM head is read whole every step: packed. A tied one shares token_embd's rows, which
  // lookups go on reading from the mapping (faulting in only the rows they touch).
  load.pack(w.output, w.panels);

  const int64_t hd = c.head_dim;
  const Range q_rows{shard.q_heads.begin * hd, shard.q_heads.end * hd};
  const Range kv_rows{shard.kv_heads.begin * hd, shard.kv_heads.end * hd};
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LlamaLayerWeights L;
    Status status;
    auto take = [&](auto result, auto& out) {
      if (!status.ok()) return;
      if (!result) {
        status = result.error();
      } else {
        out = *result;
      }
    };
    take(load.f32(p + "attn_norm.weight", c.dim), L.attn_norm);
    const int64_t q_dim = c.n_heads * hd, kv_dim = c.n_kv_heads * hd;
    if (file.tensor(p + "attn_qkv.weight")) {  // fused: q rows, then k rows, then v rows
      const std::string qkv = p + "attn_qkv.weight";
      const int64_t all = q_dim + 2 * kv_dim;
      take(load.rows(qkv, c.dim, all, q_rows), L.wq);
      take(load.rows(qkv, c.dim, all, shifted(kv_rows, q_dim)), L.wk);
      take(load.rows(qkv, c.dim, all, shifted(kv_rows, q_dim + kv_dim)), L.wv);
      if (file.tensor(p + "attn_qkv.bias")) {
        const std::string bias = p + "attn_qkv.bias";
        take(load.f32(bias, all, q_rows.begin), L.bq);
        take(load.f32(bias, all, q_dim + kv_rows.begin), L.bk);
        take(load.f32(bias, all, q_dim + kv_dim + kv_rows.begin), L.bv);
      }
    } else {
      take(load.rows(p + "attn_q.weight", c.dim, q_dim, q_rows), L.wq);
      take(load.rows(p + "attn_k.weight", c.dim, kv_dim, kv_rows), L.wk);
      take(load.rows(p + "attn_v.weight", c.dim, kv_dim, kv_rows), L.wv);
    }
    if (file.tensor(p + "attn_q.bias")) {
      take(load.f32(p + "attn_q.bias", q_dim, q_rows.begin), L.bq);
      take(load.f32(p + "attn_k.bias", kv_dim, kv_rows.begin), L.bk);
      take(load.f32(p + "attn_v.bias", kv_dim, kv_rows.begin), L.bv);
    }
    if (c.traits.qk_norm) {
      take(load.f32(p + "attn_q_norm.weight", hd), L.q_norm);
      take(load.f32(p + "attn_k_norm.weight", hd), L.k_norm);
    }
    take(load.cols(p + "attn_output.weight", q_dim, c.dim, q_rows, w.owned), L.wo);
    take(load.f32(p + "ffn_norm.weight", c.dim), L.ffn_norm);
    if (c.moe.enabled()) {
      const int64_t n_expert = c.moe.n_expert, ff = c.moe.expert_ffn;
      take(load.rows(p + "ffn_gate_inp.weight", c.dim, n_expert, Range{0, n_expert}), L.router);
      const Range cols = experts.columns.size() > 0 ? experts.columns : Range{0, ff};
      L.first_expert = experts.experts.begin;
      for (int64_t e = experts.experts.begin; e < experts.experts.end && status.ok(); ++e) {
        LlamaLayerWeights::Expert x;
        take(load.expert_rows(p + "ffn_gate_exps.weight", c.dim, ff, n_expert, e, cols), x.gate);
        take(load.expert_rows(p + "ffn_up_exps.weight", c.dim, ff, n_expert, e, cols), x.up);
        take(load.expert_cols(p + "ffn_down_exps.weight", ff, c.dim, n_expert, e, cols, w.owned),
             x.down);
        L.experts.push_back(x);
      }
    } else if (file.tensor(p + "ffn_gate.weight")) {
      take(load.rows(p + "ffn_gate.weight", c.dim, c.hidden_dim, shard.ffn), L.w_gate);
      take(load.rows(p + "ffn_up.weight", c.dim, c.hidden_dim, shard.ffn), L.w_up);
      take(load.cols(p + "ffn_down.weight", c.hidden_dim, c.dim, shard.ffn, w.owned), L.w_down);
    } else {  // fused (Phi-3): gate rows [0, ff), then up rows [ff, 2 ff)
      const std::string up = p + "ffn_up.weight";
      take(load.rows(up, c.dim, 2 * c.hidden_dim, shard.ffn), L.w_gate);
      take(load.rows(up, c.dim, 2 * c.hidden_dim, shifted(shard.ffn, c.hidden_dim)), L.w_up);
      take(load.cols(p + "ffn_down.weight", c.hidden_dim, c.dim, shard.ffn, w.owned), L.w_down);
    }
    if (c.traits.post_norms) {
      take(load.f32(p + "post_attention_norm.weight", c.dim), L.post_attn_norm);
      take(load.f32(p + "post_ffw_norm.weight", c.dim), L.post_ffn_norm);
    }
    if (!status.ok()) return status.error();
    for (WeightMatrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.router})
      if (m->data) load.pack(*m, w.panels);
    for (LlamaLayerWeights::Expert& x : L.experts)
      for (WeightMatrix* m : {&x.gate, &x.up, &x.down}) load.pack(*m, w.panels);
    w.layers.push_back(L);
  }
  return w;
}

}  // namespace shardserve
