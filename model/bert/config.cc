#include "model/bert/config.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace shardserve {
namespace {

using nlohmann::json;

Result<json> parse_object(std::string_view text, std::string_view where) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{std::string(where) + ": not valid JSON"};
  if (!j.is_object()) return Error{std::string(where) + ": not a JSON object"};
  return j;
}

Error bad(std::string_view where, std::string_view key, const std::string& what) {
  return Error{std::string(where) + ": " + std::string(key) + " " + what};
}

// A positive integer; `fallback` (if not 0) when the key is absent.
Result<int64_t> positive_int(const json& j, std::string_view where, const char* key,
                             int64_t fallback = 0) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (fallback > 0) return fallback;
    return bad(where, key, "is missing");
  }
  if (!it->is_number_integer() || it->get<int64_t>() <= 0 ||
      it->get<int64_t>() > (int64_t{1} << 31))
    return bad(where, key, "must be a positive integer, got " + it->dump());
  return it->get<int64_t>();
}

// A string setting that must have one value (`only`) if present.
Status only_value(const json& j, std::string_view where, const char* key, const char* only,
                  const char* meaning) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (!it->is_string() || it->get<std::string>() != only)
    return bad(where, key,
               it->dump() + " is not supported (only \"" + only + "\", " + meaning + ")");
  return {};
}

Result<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot read " + path.string()};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Result<BertConfig> parse_bert_config(std::string_view config_json, std::string_view where) {
  auto parsed = parse_object(config_json, where);
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  for (Status s : {only_value(j, where, "model_type", "bert", "a BERT encoder"),
                   only_value(j, where, "hidden_act", "gelu", "GELU in its erf form"),
                   only_value(j, where, "position_embedding_type", "absolute",
                              "learned absolute position embeddings")})
    if (!s) return s.error();
  if (auto it = j.find("is_decoder"); it != j.end() && *it != false)
    return bad(where, "is_decoder", it->dump() + " is not supported (only encoders)");

  BertConfig c;
  struct Field {
    const char* key;
    int64_t* out;
    int64_t fallback;
  };
  for (const Field& f :
       {Field{"num_hidden_layers", &c.n_layers, 0}, Field{"hidden_size", &c.dim, 0},
        Field{"intermediate_size", &c.hidden_dim, 0}, Field{"num_attention_heads", &c.n_heads, 0},
        Field{"vocab_size", &c.n_vocab, 0}, Field{"max_position_embeddings", &c.max_positions, 0},
        Field{"type_vocab_size", &c.n_token_types, 2}}) {
    auto v = positive_int(j, where, f.key, f.fallback);
    if (!v) return v.error();
    *f.out = *v;
  }
  if (c.dim % c.n_heads != 0)
    return bad(where, "hidden_size",
               std::to_string(c.dim) + " is not a multiple of num_attention_heads " +
                   std::to_string(c.n_heads));
  c.head_dim = c.dim / c.n_heads;
  if (auto it = j.find("layer_norm_eps"); it != j.end()) {
    if (!it->is_number() || !(it->get<double>() > 0) || it->get<double>() > 1)
      return bad(where, "layer_norm_eps", "must be a number in (0, 1], got " + it->dump());
    c.norm_eps = static_cast<float>(it->get<double>());
  }
  c.max_seq_len = c.max_positions;
  return c;
}

Status apply_sentence_bert_config(std::string_view text, std::string_view where,
                                  BertConfig& config) {
  auto parsed = parse_object(text, where);
  if (!parsed) return parsed.error();
  if (!parsed->contains("max_seq_length")) return {};
  auto v = positive_int(*parsed, where, "max_seq_length");
  if (!v) return v.error();
  if (*v > config.max_positions)
    return bad(where, "max_seq_length",
               std::to_string(*v) + " exceeds the model's max_position_embeddings " +
                   std::to_string(config.max_positions));
  config.max_seq_len = *v;
  return {};
}

Status check_pooling_config(std::string_view text, std::string_view where,
                            const BertConfig& config) {
  auto parsed = parse_object(text, where);
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  if (auto it = j.find("word_embedding_dimension"); it != j.end() && *it != config.dim)
    return bad(where, "word_embedding_dimension",
               it->dump() + " differs from hidden_size " + std::to_string(config.dim));
  if (j.value("pooling_mode_mean_tokens", false) != true)
    return bad(where, "pooling_mode_mean_tokens", "is not true: only mean pooling is supported");
  for (const auto& [key, value] : j.items())
    if (key.starts_with("pooling_mode_") && key != "pooling_mode_mean_tokens" && value == true)
      return bad(where, key, "is not supported (only mean pooling)");
  return {};
}

Result<BertConfig> read_bert_config(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  const auto config_path = dir / "config.json";
  auto text = read_text(config_path);
  if (!text) return text.error();
  auto config = parse_bert_config(*text, config_path.string());
  if (!config) return config;
  const auto st_path = dir / "sentence_bert_config.json";
  if (std::filesystem::exists(st_path)) {
    auto st = read_text(st_path);
    if (!st) return st.error();
    if (Status s = apply_sentence_bert_config(*st, st_path.string(), *config); !s) return s.error();
  }
  const auto pooling_path = dir / "1_Pooling" / "config.json";
  if (std::filesystem::exists(pooling_path)) {
    auto pooling = read_text(pooling_path);
    if (!pooling) return pooling.error();
    if (Status s = check_pooling_config(*pooling, pooling_path.string(), *config); !s)
      return s.error();
  }
  return config;
}

}  // namespace shardserve
