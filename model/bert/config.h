// The blueprint of a BERT encoder used for sentence embeddings (all-MiniLM-L6-v2 and other
// HuggingFace BertModel checkpoints), read from the JSON files of a sentence-transformers model
// directory:
//   config.json                (required) the HuggingFace model config
//   sentence_bert_config.json  (optional) max_seq_length, the truncation length
//   1_Pooling/config.json      (optional) the pooling; only mean pooling is implemented
// Settings this engine does not implement are errors that name the file, the key and what is
// supported (a relative position embedding must not load and compute something else).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace shardserve {

// The largest tp a BERT group may have (model/bert/bert_model.h says why).
inline constexpr int kBertMaxTp = 4;

struct BertConfig {
  int64_t n_layers = 0;       // num_hidden_layers
  int64_t dim = 0;            // hidden_size
  int64_t hidden_dim = 0;     // intermediate_size (feed-forward width)
  int64_t n_heads = 0;        // num_attention_heads
  int64_t head_dim = 0;       // dim / n_heads
  int64_t n_vocab = 0;        // vocab_size
  int64_t max_positions = 0;  // max_position_embeddings: the longest sequence the model takes
  int64_t n_token_types = 0;  // type_vocab_size
  float norm_eps = 1e-12f;    // layer_norm_eps
  // sentence-transformers' max_seq_length: inputs are truncated to this many tokens (CLS and
  // SEP included) before encoding; max_positions when the file is absent.
  int64_t max_seq_len = 0;
};

// Parses config.json text; `where` names it in errors. max_seq_len is set to max_positions.
Result<BertConfig> parse_bert_config(std::string_view config_json, std::string_view where);

// Applies sentence_bert_config.json text (max_seq_length) to `config`.
Status apply_sentence_bert_config(std::string_view json, std::string_view where,
                                  BertConfig& config);

// Checks 1_Pooling/config.json text: mean pooling over hidden_size-wide token embeddings.
Status check_pooling_config(std::string_view json, std::string_view where,
                            const BertConfig& config);

// Reads all three from a model directory (the optional ones if present).
Result<BertConfig> read_bert_config(const std::string& model_dir);

}  // namespace shardserve
