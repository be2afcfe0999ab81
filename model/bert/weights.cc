#include "model/bert/weights.h"

#include <cstring>
#include <string>

namespace shardserve {
namespace {

using kernels::WeightMatrix;

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

class Loader {
 public:
  Loader(const safetensors::File& file, std::string prefix, BertWeights& weights)
      : file_(file), prefix_(std::move(prefix)), owned_(weights.owned) {}

  // An F32 tensor that must exist with exactly this shape (PyTorch order).
  Result<const safetensors::TensorInfo*> get(const std::string& name,
                                             const std::vector<int64_t>& shape) const {
    const std::string full = prefix_ + name;
    const safetensors::TensorInfo* t = file_.tensor(full);
    if (!t) return Error{"tensor '" + full + "' is missing from " + file_.path()};
    if (t->shape != shape)
      return Error{"tensor '" + full + "' has shape " + shape_str(t->shape) + ", expected " +
                   shape_str(shape)};
    if (t->type != DType::F32)
      return Error{"tensor '" + full + "' has dtype " + t->dtype + ", expected F32"};
    return t;
  }

  // Elements [begin, begin + n) of a 1-D tensor of `size` floats.
  Result<const float*> vector(const std::string& name, int64_t size, int64_t begin = 0,
                              int64_t n = -1) {
    auto t = get(name, {size});
    if (!t) return t.error();
    return aligned(*t, begin, n < 0 ? size : n);
  }

  // A whole [n_rows][n_cols] matrix as floats (embedding tables).
  Result<const float*> table(const std::string& name, int64_t n_rows, int64_t n_cols) {
    auto t = get(name, {n_rows, n_cols});
    if (!t) return t.error();
    return aligned(*t, 0, n_rows * n_cols);
  }

  // Rows [rows.begin, rows.end) of a [n_rows][n_cols] matrix (column-parallel slice), packed.
  Result<WeightMatrix> rows(const std::string& name, int64_t n_rows, int64_t n_cols, Range rows) {
    auto t = get(name, {n_rows, n_cols});
    if (!t) return t.error();
    return packed(*t, WeightMatrix{.type = DType::F32,
                                   .data = (*t)->data + rows.begin * n_cols * sizeof(float),
                                   .row_stride = static_cast<size_t>(n_cols) * sizeof(float),
                                   .n_rows = rows.size(),
                                   .n_cols = n_cols});
  }

  // Columns [cols.begin, cols.end) of every row (row-parallel slice), packed.
  Result<WeightMatrix> cols(const std::string& name, int64_t n_rows, int64_t n_cols, Range cols) {
    auto t = get(name, {n_rows, n_cols});
    if (!t) return t.error();
    return packed(*t, WeightMatrix{.type = DType::F32,
                                   .data = (*t)->data + cols.begin * sizeof(float),
                                   .row_stride = static_cast<size_t>(n_cols) * sizeof(float),
                                   .n_rows = n_rows,
                                   .n_cols = cols.size()});
  }

 private:
  // `w` (a view of t) with its panels; t's mapped pages are not needed any more.
  WeightMatrix packed(const safetensors::TensorInfo* t, WeightMatrix w) {
    owned_.push_back(kernels::pack_f32_panels(w.data, w.row_stride, w.n_rows, w.n_cols));
    w.panels = owned_.back().get();
    file_.drop_pages(t->data, t->n_bytes);
    return w;
  }

  // n floats from element `begin` of t: in place when the file aligns them, else a copy.
  Result<const float*> aligned(const safetensors::TensorInfo* t, int64_t begin, int64_t n) {
    const uint8_t* p = t->data + begin * sizeof(float);
    if (reinterpret_cast<uintptr_t>(p) % alignof(float) == 0)
      return reinterpret_cast<const float*>(p);
    kernels::AlignedFloats copy = kernels::aligned_floats(n);
    std::memcpy(copy.get(), p, static_cast<size_t>(n) * sizeof(float));
    owned_.push_back(std::move(copy));
    return owned_.back().get();
  }

  const safetensors::File& file_;
  const std::string prefix_;
  std::vector<kernels::AlignedFloats>& owned_;
};

}  // namespace

Result<BertWeights> load_bert_weights(const safetensors::File& file, const BertConfig& c,
                                      const TransformerShard& shard) {
  // Checkpoints saved from BertFor* heads prefix the encoder's tensors with "bert.".
  const std::string prefix = !file.tensor("embeddings.word_embeddings.weight") &&
                                     file.tensor("bert.embeddings.word_embeddings.weight")
                                 ? "bert."
                                 : "";
  BertWeights w;
  Loader load(file, prefix, w);
  Status status;
  auto take = [&](auto result, auto& out) {
    if (!status.ok()) return;
    if (!result) {
      status = result.error();
    } else {
      out = *result;
    }
  };
  const int64_t dim = c.dim, hd = c.head_dim;
  take(load.table("embeddings.word_embeddings.weight", c.n_vocab, dim), w.word_embd);
  take(load.table("embeddings.position_embeddings.weight", c.max_positions, dim), w.pos_embd);
  take(load.table("embeddings.token_type_embeddings.weight", c.n_token_types, dim), w.type_embd);
  take(load.vector("embeddings.LayerNorm.weight", dim), w.embd_norm_w);
  take(load.vector("embeddings.LayerNorm.bias", dim), w.embd_norm_b);
  if (!status.ok()) return status.error();

  const Range heads{shard.q_heads.begin * hd, shard.q_heads.end * hd};
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    BertLayerWeights L;
    take(load.rows(p + "attention.self.query.weight", dim, dim, heads), L.wq);
    take(load.rows(p + "attention.self.key.weight", dim, dim, heads), L.wk);
    take(load.rows(p + "attention.self.value.weight", dim, dim, heads), L.wv);
    take(load.vector(p + "attention.self.query.bias", dim, heads.begin, heads.size()), L.bq);
    take(load.vector(p + "attention.self.key.bias", dim, heads.begin, heads.size()), L.bk);
    take(load.vector(p + "attention.self.value.bias", dim, heads.begin, heads.size()), L.bv);
    take(load.cols(p + "attention.output.dense.weight", dim, dim, heads), L.wo);
    take(load.vector(p + "attention.output.dense.bias", dim), L.bo);
    take(load.vector(p + "attention.output.LayerNorm.weight", dim), L.attn_norm_w);
    take(load.vector(p + "attention.output.LayerNorm.bias", dim), L.attn_norm_b);
    take(load.rows(p + "intermediate.dense.weight", c.hidden_dim, dim, shard.ffn), L.w_up);
    take(
        load.vector(p + "intermediate.dense.bias", c.hidden_dim, shard.ffn.begin, shard.ffn.size()),
        L.b_up);
    take(load.cols(p + "output.dense.weight", dim, c.hidden_dim, shard.ffn), L.w_down);
    take(load.vector(p + "output.dense.bias", dim), L.b_down);
    take(load.vector(p + "output.LayerNorm.weight", dim), L.ffn_norm_w);
    take(load.vector(p + "output.LayerNorm.bias", dim), L.ffn_norm_b);
    if (!status.ok()) return status.error();
    w.layers.push_back(L);
  }
  return w;
}

}  // namespace shardserve
