#include <gtest/gtest.h>

#include "model/bert/config.h"

namespace shardserve {
namespace {

constexpr const char* kMiniLm = R"({
  "architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 384,
  "intermediate_size": 1536, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
  "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6,
  "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": 30522})";

std::string with(const std::string& key, const std::string& value) {
  std::string s = kMiniLm;
  const auto at = s.find("\"" + key + "\"");
  if (at == std::string::npos)
    return s.substr(0, s.size() - 1) + ", \"" + key + "\": " + value + "}";
  const auto colon = s.find(':', at), end = s.find_first_of(",}", colon);
  return s.substr(0, colon + 1) + " " + value + s.substr(end);
}

std::string error_of(const std::string& json) {
  auto c = parse_bert_config(json, "config.json");
  EXPECT_FALSE(c.ok()) << json;
  return c.ok() ? "" : c.error().message;
}

TEST(BertConfig, ReadsMiniLm) {
  auto c = parse_bert_config(kMiniLm, "config.json");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->n_layers, 6);
  EXPECT_EQ(c->dim, 384);
  EXPECT_EQ(c->hidden_dim, 1536);
  EXPECT_EQ(c->n_heads, 12);
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_EQ(c->n_vocab, 30522);
  EXPECT_EQ(c->max_positions, 512);
  EXPECT_EQ(c->n_token_types, 2);
  EXPECT_EQ(c->norm_eps, 1e-12f);
  EXPECT_EQ(c->max_seq_len, 512);
}

TEST(BertConfig, UnsupportedSettingsSayWhatIsSupported) {
  EXPECT_EQ(error_of(with("hidden_act", "\"gelu_new\"")),
            "config.json: hidden_act \"gelu_new\" is not supported (only \"gelu\", GELU in its "
            "erf form)");
  EXPECT_EQ(error_of(with("position_embedding_type", "\"relative_key\"")),
            "config.json: position_embedding_type \"relative_key\" is not supported (only "
            "\"absolute\", learned absolute position embeddings)");
  EXPECT_NE(error_of(with("model_type", "\"roberta\"")).find("model_type \"roberta\""),
            std::string::npos);
  EXPECT_NE(error_of(with("is_decoder", "true")).find("is_decoder true is not supported"),
            std::string::npos);
}

TEST(BertConfig, SizesMustBePositiveAndConsistent) {
  EXPECT_EQ(error_of(with("hidden_size", "-1")),
            "config.json: hidden_size must be a positive integer, got -1");
  EXPECT_EQ(error_of(with("num_hidden_layers", "\"6\"")),
            "config.json: num_hidden_layers must be a positive integer, got \"6\"");
  EXPECT_EQ(error_of(with("num_attention_heads", "7")),
            "config.json: hidden_size 384 is not a multiple of num_attention_heads 7");
  EXPECT_NE(error_of(with("layer_norm_eps", "0")).find("layer_norm_eps must be a number"),
            std::string::npos);
  EXPECT_EQ(error_of("{}"), "config.json: num_hidden_layers is missing");
  EXPECT_EQ(error_of("[1]"), "config.json: not a JSON object");
  EXPECT_EQ(error_of("{"), "config.json: not valid JSON");
}

TEST(BertConfig, SentenceTransformersFiles) {
  auto c = parse_bert_config(kMiniLm, "config.json");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(apply_sentence_bert_config(R"({"max_seq_length": 256, "do_lower_case": false})",
                                         "sentence_bert_config.json", *c));
  EXPECT_EQ(c->max_seq_len, 256);
  Status too_long = apply_sentence_bert_config(R"({"max_seq_length": 513})", "st.json", *c);
  EXPECT_EQ(too_long.message(),
            "st.json: max_seq_length 513 exceeds the model's max_position_embeddings 512");

  const char* mean = R"({"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
    "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
    "pooling_mode_mean_sqrt_len_tokens": false})";
  EXPECT_TRUE(check_pooling_config(mean, "pooling.json", *c));
  EXPECT_EQ(
      check_pooling_config(R"({"pooling_mode_cls_token": true})", "pooling.json", *c).message(),
      "pooling.json: pooling_mode_mean_tokens is not true: only mean pooling is supported");
  EXPECT_EQ(
      check_pooling_config(R"({"pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": true})",
                           "pooling.json", *c)
          .message(),
      "pooling.json: pooling_mode_max_tokens is not supported (only mean pooling)");
  EXPECT_EQ(
      check_pooling_config(R"({"word_embedding_dimension": 768, "pooling_mode_mean_tokens": true})",
                           "pooling.json", *c)
          .message(),
      "pooling.json: word_embedding_dimension 768 differs from hidden_size 384");
}

TEST(BertConfig, ReadFromADirectoryNamesTheFile) {
  auto c = read_bert_config("/nonexistent-model-dir");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "cannot read /nonexistent-model-dir/config.json");
}

}  // namespace
}  // namespace shardserve
