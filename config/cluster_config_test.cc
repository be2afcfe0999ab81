#include "config/cluster_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/gguf/testing/gguf_builder.h"

namespace shardserve {
namespace {

namespace fs = std::filesystem;
using gguf::testing::GgufBuilder;

const char* kRealModel = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

void write_file(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A temporary directory with two synthetic GGUF models and a chat template:
//   tiny.gguf: llama, 2 layers, 8 heads, 4 KV heads, head_dim 32, context 4096
//              (1 KiB of KV per token at tp 1: 1 MiB holds 1024 tokens)
//   moe.gguf: tiny.gguf's shape with 2 experts (a mixture of experts)
//   encoder.gguf: bert, 12 heads, context 512
class ClusterConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "cluster_config_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = new fs::path(tmpl);
    write_bytes(*dir_ / "tiny.gguf", GgufBuilder()
                                         .kv_string("general.architecture", "llama")
                                         .kv_u32("llama.block_count", 2)
                                         .kv_u32("llama.embedding_length", 256)
                                         .kv_u32("llama.attention.head_count", 8)
                                         .kv_u32("llama.attention.head_count_kv", 4)
                                         .kv_u32("llama.context_length", 4096)
                                         .kv_string("tokenizer.chat_template", "{{ x }}")
                                         .build());
    write_bytes(*dir_ / "moe.gguf", GgufBuilder()
                                        .kv_string("general.architecture", "llama")
                                        .kv_u32("llama.block_count", 2)
                                        .kv_u32("llama.embedding_length", 256)
                                        .kv_u32("llama.attention.head_count", 8)
                                        .kv_u32("llama.attention.head_count_kv", 4)
                                        .kv_u32("llama.context_length", 4096)
                                        .kv_u32("llama.expert_count", 2)
                                        .kv_u32("llama.expert_used_count", 1)
                                        .build());
    write_bytes(*dir_ / "encoder.gguf", GgufBuilder()
                                            .kv_string("general.architecture", "bert")
                                            .kv_u32("bert.block_count", 6)
                                            .kv_u32("bert.embedding_length", 384)
                                            .kv_u32("bert.attention.head_count", 12)
                                            .kv_u32("bert.context_length", 512)
                                            .build());
    write_file(*dir_ / "not-a-model.gguf", "hello");
    write_file(*dir_ / "template.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
    fs::create_directory(*dir_ / "site");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
  }

  static std::string source() { return (*dir_ / "cluster.yaml").string(); }

  // Parses `yaml` as if it were cluster.yaml in the temporary directory.
  static Result<ClusterConfig> parse(std::string_view yaml) {
    return parse_cluster_config(yaml, source());
  }

  // Expects a failure with a line "SOURCE:LINE: KEY: ..." containing `text`.
  static void expect_error(std::string_view yaml, int line, const std::string& key,
                           const std::string& text) {
    auto r = parse(yaml);
    ASSERT_FALSE(r.ok()) << "expected an error at line " << line << " for " << key;
    const std::string prefix =
        source() + ":" + std::to_string(line) + ": " + (key.empty() ? "" : key + ": ");
    for (const std::string& l : lines_of(r.error().message)) {
      if (l.starts_with(prefix) && l.find(text) != std::string::npos) return;
    }
    ADD_FAILURE() << "no line starts with '" << prefix << "' and contains '" << text << "'; got:\n"
                  << r.error().message;
  }

  static inline fs::path* dir_ = nullptr;
};

// A valid base to break in tests: line 1 models, line 5 groups.
const char* kMinimal =
    "models:\n"              // 1
    "  - name: tiny\n"       // 2
    "    file: tiny.gguf\n"  // 3
    "groups:\n"              // 4
    "  - name: tiny-tp2\n"   // 5
    "    model: tiny\n"      // 6
    "    tp: 2\n";           // 7

// --- valid configurations -------------------------------------------------------------------

TEST_F(ClusterConfigTest, MinimalConfigTakesDefaults) {
  auto r = parse(kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const ClusterConfig& c = *r;
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.server.port, 8080);
  EXPECT_TRUE(c.server.api_keys.empty());
  EXPECT_EQ(c.server.cors_allow_origins, std::vector<std::string>{"*"});
  EXPECT_EQ(c.server.max_body_bytes, 1048576);
  EXPECT_EQ(c.server.max_queued_requests, 256);
  EXPECT_EQ(c.server.request_timeout_s, 600);
  EXPECT_EQ(c.server.idle_timeout_s, 30);
  EXPECT_EQ(c.server.max_connections, 4096);
  EXPECT_EQ(c.server.coordinator_endpoint, "tcp://127.0.0.1:5555");
  EXPECT_EQ(c.server.web_root_path, (fs::current_path() / "web").string());
  ASSERT_EQ(c.models.size(), 1u);
  const ModelConfig& m = c.models[0];
  EXPECT_EQ(m.name, "tiny");
  EXPECT_EQ(m.file, "tiny.gguf");
  EXPECT_EQ(m.path, (*dir_ / "tiny.gguf").string());  // against the YAML file's directory
  EXPECT_EQ(m.task, ModelTask::kChat);
  EXPECT_EQ(m.context_length, 0);
  EXPECT_EQ(m.effective_context_length(), 4096);
  EXPECT_EQ(m.facts.architecture, "llama");
  EXPECT_EQ(m.facts.n_layers, 2);
  EXPECT_EQ(m.facts.n_heads, 8);
  EXPECT_EQ(m.facts.n_kv_heads, 4);
  EXPECT_EQ(m.facts.head_dim, 32);
  EXPECT_TRUE(m.facts.has_chat_template);
  ASSERT_EQ(c.groups.size(), 1u);
  const GroupConfig& g = c.groups[0];
  EXPECT_EQ(g.name, "tiny-tp2");
  EXPECT_EQ(g.model_index, 0);
  EXPECT_EQ(g.tp, 2);
  EXPECT_EQ(g.backend, Backend::kCpu);
  EXPECT_EQ(g.threads_per_rank, 1);
  EXPECT_TRUE(g.devices.empty());
  EXPECT_EQ(g.kv_cache_mb, 256);
  EXPECT_EQ(g.max_batch, 32);
  EXPECT_EQ(g.max_batch_tokens, 512);
  EXPECT_EQ(c.where("groups[0].tp"), source() + ":7");
  EXPECT_EQ(c.where("groups[0].devices"), source() + ":5");  // absent: the group's line
  EXPECT_FALSE(c.is_set("groups[0].backend"));
}

TEST_F(ClusterConfigTest, EveryKeyIsRead) {
  auto r = parse(
      "# every key\n"
      "server:\n"
      "  host: 0.0.0.0\n"
      "  port: 9000\n"
      "  api_keys: [sk-one, \"sk-two\"]\n"
      "  cors_allow_origins:\n"
      "    - https://chat.example.com\n"
      "    - http://localhost:3000\n"
      "  max_body_bytes: 2048\n"
      "  max_queued_requests: 10\n"
      "  request_timeout_s: 30\n"
      "  idle_timeout_s: 5\n"
      "  max_connections: 100\n"
      "  coordinator_endpoint: ipc:///tmp/shardserve.sock\n"
      "  web_root: site\n"
      "models:\n"
      "  - name: tiny\n"
      "    file: tiny.gguf\n"
      "    task: chat\n"
      "    context_length: 2048\n"
      "    chat_template: template.jinja\n"
      "  - name: minilm\n"
      "    file: encoder.gguf\n"
      "    task: embed\n"
      "    chat_template: null\n"
      "    context_length:\n"
      "groups:\n"
      "  - name: tiny-cuda\n"
      "    model: tiny\n"
      "    tp: 4\n"
      "    backend: cuda\n"
      "    devices: [3, 2, 1, 0]\n"
      "    kv_cache_mb: 64\n"
      "    max_batch: 8\n"
      "    max_batch_tokens: 8\n"
      "  - name: minilm-cpu\n"
      "    model: minilm\n"
      "    backend: cpu\n"
      "    threads_per_rank: 2\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const ClusterConfig& c = *r;
  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 9000);
  EXPECT_EQ(c.server.api_keys, (std::vector<std::string>{"sk-one", "sk-two"}));
  EXPECT_EQ(c.server.cors_allow_origins,
            (std::vector<std::string>{"https://chat.example.com", "http://localhost:3000"}));
  EXPECT_EQ(c.server.max_body_bytes, 2048);
  EXPECT_EQ(c.server.max_queued_requests, 10);
  EXPECT_EQ(c.server.request_timeout_s, 30);
  EXPECT_EQ(c.server.idle_timeout_s, 5);
  EXPECT_EQ(c.server.max_connections, 100);
  EXPECT_EQ(c.server.coordinator_endpoint, "ipc:///tmp/shardserve.sock");
  EXPECT_EQ(c.server.web_root_path, (*dir_ / "site").string());
  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models[0].context_length, 2048);
  EXPECT_EQ(c.models[0].effective_context_length(), 2048);
  EXPECT_EQ(c.models[0].chat_template_path, (*dir_ / "template.jinja").string());
  EXPECT_EQ(c.models[1].task, ModelTask::kEmbed);
  EXPECT_EQ(c.models[1].effective_context_length(), 512);
  EXPECT_TRUE(c.models[1].chat_template.empty());
  ASSERT_EQ(c.groups.size(), 2u);
  EXPECT_EQ(c.groups[0].backend, Backend::kCuda);
  EXPECT_EQ(c.groups[0].devices, (std::vector<int>{3, 2, 1, 0}));
  EXPECT_EQ(c.groups[0].kv_cache_mb, 64);
  EXPECT_EQ(c.groups[0].max_batch, 8);
  EXPECT_EQ(c.groups[0].max_batch_tokens, 8);
  EXPECT_EQ(c.groups[1].model_index, 1);
  EXPECT_EQ(c.groups[1].tp, 1);
  EXPECT_EQ(c.groups[1].threads_per_rank, 2);
  EXPECT_EQ(c.find_group("minilm-cpu"), &c.groups[1]);
  EXPECT_EQ(c.find_model("tiny"), &c.models[0]);
  EXPECT_EQ(c.find_model("nope"), nullptr);
}

TEST_F(ClusterConfigTest, NullServerSectionAndWebRoot) {
  auto r = parse(std::string("server:\n") + kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().message;
  r = parse(std::string("server:\n  web_root: null\n") + kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->server.web_root_path.empty());
}

// The knowledge base: off by default; on with a data_dir, embedding with the first embed model.
const char* kWithEncoder =
    "models:\n"                 // 1
    "  - name: tiny\n"          // 2
    "    file: tiny.gguf\n"     // 3
    "  - name: enc\n"           // 4
    "    file: encoder.gguf\n"  // 5
    "    task: embed\n"         // 6
    "groups:\n"                 // 7
    "  - name: tiny-tp2\n"      // 8
    "    model: tiny\n"         // 9
    "    tp: 2\n";              // 10

TEST_F(ClusterConfigTest, KnowledgeIsOffUnlessADataDirIsGiven) {
  auto r = parse(kWithEncoder);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->knowledge.enabled());
  r = parse(std::string("knowledge:\n  data_dir: kb\n  max_files: 5\n") + kWithEncoder);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->knowledge.enabled());
  EXPECT_EQ(r->knowledge.data_dir_path, (*dir_ / "kb").string());
  EXPECT_EQ(r->knowledge.embedding_model, "enc");
  EXPECT_EQ(r->knowledge.max_files, 5);
  EXPECT_EQ(r->knowledge.chunk_chars, 1000);
  ASSERT_TRUE(apply_override(*r, "knowledge.data_dir=null").ok());
  EXPECT_FALSE(r->knowledge.enabled());
}

TEST_F(ClusterConfigTest, KnowledgeErrorsNameTheirKey) {
  // No embedding model to embed with.
  expect_error(std::string("knowledge:\n  data_dir: kb\n") + kMinimal, 2, "knowledge.data_dir",
               "no model has task: embed");
  // A chat model named as the embedder.
  expect_error(std::string("knowledge:\n  data_dir: kb\n  embedding_model: tiny\n") + kWithEncoder,
               3, "knowledge.embedding_model", "is a chat model");
  expect_error(std::string("knowledge:\n  data_dir: kb\n  embedding_model: nope\n") + kWithEncoder,
               3, "knowledge.embedding_model", "no model named");
  expect_error(
      std::string("knowledge:\n  chunk_chars: 300\n  chunk_overlap_chars: 200\n") + kWithEncoder, 3,
      "knowledge.chunk_overlap_chars", "at most half");
  expect_error(std::string("knowledge:\n  max_file_bytes: 10\n") + kWithEncoder, 2,
               "knowledge.max_file_bytes", "");
  expect_error(std::string("knowledge:\n  data_dirs: kb\n") + kWithEncoder, 2,
               "knowledge.data_dirs", "");
}

TEST_F(ClusterConfigTest, LoadResolvesPathsAgainstTheYamlFile) {
  const fs::path sub = *dir_ / "sub";
  fs::create_directories(sub);
  write_file(sub / "c.yaml",
             "models:\n  - name: tiny\n    file: ../tiny.gguf\n"
             "groups:\n  - name: g\n    model: tiny\n");
  auto r = load_cluster_config((sub / "c.yaml").string());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->models[0].path, (*dir_ / "tiny.gguf").string());
  EXPECT_EQ(r->source, (sub / "c.yaml").string());
}

TEST_F(ClusterConfigTest, LoadReportsUnreadableFiles) {
  auto r = load_cluster_config((*dir_ / "absent.yaml").string());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().message.starts_with((*dir_ / "absent.yaml").string() + ":1: cannot open"))
      << r.error().message;
  r = load_cluster_config(dir_->string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is a directory"), std::string::npos);
}

// --- one test per class of bad configuration ------------------------------------------------

TEST_F(ClusterConfigTest, SyntaxErrorNamesTheLine) {
  auto r = parse("models:\n  - name: tiny\n    file: [tiny.gguf\ngroups: []\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().message.starts_with(source() + ":4: YAML syntax error"))
      << r.error().message;
  r = parse("models:\n  - name: tiny\n   file: x\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().message.starts_with(source() + ":3: YAML syntax error"))
      << r.error().message;
}

TEST_F(ClusterConfigTest, EmptyFile) {
  for (const char* text : {"", "\n\n", "# only a comment\n", "---\n"}) {
    auto r = parse(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(
        r.error().message,
        source() + ":1: the file is empty; expected a mapping with \"models\" and \"groups\"");
  }
}

TEST_F(ClusterConfigTest, TopLevelMustBeOneMapping) {
  expect_error("- models\n- groups\n", 1, "", "");
  auto r = parse("- models\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("expected a mapping"), std::string::npos);
  r = parse(std::string(kMinimal) + "---\nmodels: []\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().message.starts_with(source() + ":9: the file holds 2 YAML documents"))
      << r.error().message;
}

TEST_F(ClusterConfigTest, UnknownKeysListTheAllowedOnes) {
  expect_error(
      std::string("modles: []\n") + kMinimal, 1, "modles",
      "unknown key (did you mean \"models\"?); allowed keys: server, knowledge, models, groups");
  expect_error(std::string("server:\n  prot: 1\n") + kMinimal, 2, "server.prot",
               "did you mean \"port\"?");
  expect_error(std::string(kMinimal) + "    gpus: [0, 1]\n", 8, "groups[0].gpus",
               "allowed keys: name, model, tp, backend, threads_per_rank, devices, kv_cache_mb, "
               "max_batch, max_batch_tokens, max_prefill_tokens_while_decoding, prefix_caching, "
               "speculative_tokens, speculative_max_batch, moe_split");
  expect_error(
      "models:\n  - name: tiny\n    file: tiny.gguf\n    quantization: q4\n"
      "groups:\n  - {name: g, model: tiny}\n",
      4, "models[0].quantization", "allowed keys: name, file, task, context_length, chat_template");
}

TEST_F(ClusterConfigTest, WrongTypes) {
  expect_error(
      "models:\n  - name: tiny\n    file: tiny.gguf\n"
      "groups:\n  - name: g\n    model: tiny\n    tp: two\n",
      7, "groups[0].tp", "expected a positive integer, got \"two\"");
  // The exact text operators see.
  auto r = parse(
      "models:\n  - name: tiny\n    file: tiny.gguf\n"
      "groups:\n  - name: g\n    model: tiny\n    tp: two\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            source() + ":7: groups[0].tp: expected a positive integer, got \"two\"");

  expect_error(std::string("server:\n  port: \"8080\"\n") + kMinimal, 2, "server.port",
               "got the quoted string \"8080\" (remove the quotes)");
  expect_error(std::string("server:\n  port: 80.5\n") + kMinimal, 2, "server.port",
               "expected a positive integer, got \"80.5\"");
  expect_error(std::string("server:\n  api_keys: sk-1\n") + kMinimal, 2, "server.api_keys",
               "expected a list, got \"sk-1\"");
  expect_error(std::string("server:\n  api_keys: [a, [b]]\n") + kMinimal, 2, "server.api_keys[1]",
               "expected a string, got a list");
  expect_error(std::string("server: [1]\n") + kMinimal, 1, "server",
               "expected a mapping (key: value lines), got a list");
  expect_error(std::string("server:\n  host: {a: 1}\n") + kMinimal, 2, "server.host",
               "expected a string, got a mapping");
  expect_error("models: tiny\ngroups:\n  - {name: g, model: tiny}\n", 1, "models",
               "expected a list of models");
  expect_error("models:\n  - tiny.gguf\ngroups:\n  - {name: g, model: tiny}\n", 2, "models[0]",
               "expected a mapping");
  expect_error(std::string(kMinimal) + "    devices: 0\n", 8, "groups[0].devices",
               "expected a list, got \"0\"");
  expect_error(std::string(kMinimal) + "    kv_cache_mb: 99999999999999999999999\n", 8,
               "groups[0].kv_cache_mb", "(too large)");
}

TEST_F(ClusterConfigTest, MissingRequiredKeys) {
  expect_error("groups:\n  - {name: g, model: tiny}\n", 1, "", "missing required key \"models\"");
  expect_error("models:\n  - {name: tiny, file: tiny.gguf}\n", 1, "",
               "missing required key \"groups\"");
  expect_error("models:\n  - name: tiny\ngroups:\n  - {name: g, model: tiny}\n", 2, "models[0]",
               "missing required key \"file\"");
  expect_error("models:\n  - {name: tiny, file: tiny.gguf}\ngroups:\n  - name: g\n    tp: 1\n", 4,
               "groups[0]", "missing required key \"model\"");
  expect_error("models: []\ngroups:\n  - {name: g, model: tiny}\n", 1, "models",
               "at least one entry is required");
  expect_error("models:\n  - {name: tiny, file: tiny.gguf}\ngroups:\n", 3, "groups",
               "expected a list of groups");
}

TEST_F(ClusterConfigTest, DuplicateNamesAndKeys) {
  expect_error(
      "models:\n  - {name: tiny, file: tiny.gguf}\n  - {name: tiny, file: tiny.gguf}\n"
      "groups:\n  - {name: g, model: tiny}\n",
      3, "models[1].name", "duplicate name \"tiny\" (also models[0] at " + source() + ":2)");
  expect_error(std::string(kMinimal) + "  - name: tiny-tp2\n    model: tiny\n", 8, "groups[1].name",
               "duplicate name \"tiny-tp2\"");
  expect_error(std::string(kMinimal) + "    tp: 1\n", 8, "groups[0].tp",
               "duplicate key (first given on line 7)");
}

TEST_F(ClusterConfigTest, GroupNamingAnUnknownModel) {
  expect_error(
      "models:\n  - {name: tiny, file: tiny.gguf}\n  - {name: enc, file: encoder.gguf, task: "
      "embed}\ngroups:\n  - name: g\n    model: llama3\n",
      6, "groups[0].model", "no model named \"llama3\" (models: tiny, enc)");
}

TEST_F(ClusterConfigTest, ModelFileProblems) {
  expect_error("models:\n  - name: m\n    file: missing.gguf\ngroups:\n  - {name: g, model: m}\n",
               3, "models[0].file",
               "model file \"missing.gguf\" does not exist (looked for " +
                   (*dir_ / "missing.gguf").string());
  expect_error(
      "models:\n  - name: m\n    file: not-a-model.gguf\ngroups:\n  - {name: g, model: m}\n", 3,
      "models[0].file", "is not a GGUF file");
  expect_error("models:\n  - name: m\n    file: site\ngroups:\n  - {name: g, model: m}\n", 3,
               "models[0].file", "is a directory");
  expect_error("models:\n  - name: m\n    file: encoder.gguf\ngroups:\n  - {name: g, model: m}\n",
               2, "models[0]",
               "architecture \"bert\" is an encoder and cannot chat; set task: embed");
  expect_error(
      "models:\n  - name: m\n    file: tiny.gguf\n    chat_template: nope.jinja\n"
      "groups:\n  - {name: g, model: m}\n",
      4, "models[0].chat_template", "template file \"nope.jinja\" does not exist");
  expect_error(
      "models:\n  - name: m\n    file: encoder.gguf\n    task: embed\n"
      "    chat_template: template.jinja\ngroups:\n  - {name: g, model: m}\n",
      5, "models[0].chat_template", "only chat models take a chat template");
}

// A sentence-transformers directory: facts from config.json, context from max_seq_length,
// tp limited to what the encoder is split for, no KV-cache budget involved.
TEST_F(ClusterConfigTest, EmbeddingModelDirectories) {
  const fs::path bert = *dir_ / "minilm";
  fs::create_directories(bert);
  write_file(bert / "model.safetensors", "");
  write_file(bert / "config.json",
             R"({"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6,
                 "num_attention_heads": 12, "intermediate_size": 1536, "vocab_size": 30522,
                 "max_position_embeddings": 512, "type_vocab_size": 2, "hidden_act": "gelu",
                 "layer_norm_eps": 1e-12, "position_embedding_type": "absolute"})");
  write_file(bert / "sentence_bert_config.json", R"({"max_seq_length": 256})");
  const std::string models = "models:\n  - name: e\n    file: minilm\n    task: embed\n";
  auto r = parse(models + "groups:\n  - {name: g, model: e, tp: 4, kv_cache_mb: 1}\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->models[0].facts.architecture, "bert");
  EXPECT_EQ(r->models[0].effective_context_length(), 256);
  expect_error(models + "groups:\n  - {name: g, model: e, tp: 5}\n", 6, "groups[0].tp",
               "tp 5 exceeds 4, the largest tensor-parallel group model \"e\" is split for");
  expect_error(models + "    context_length: 300\ngroups:\n  - {name: g, model: e}\n", 5,
               "models[0].context_length", "300 exceeds the model's trained context of 256");
  write_file(bert / "config.json", R"({"model_type": "bert", "hidden_act": "relu"})");
  expect_error(models + "groups:\n  - {name: g, model: e}\n", 3, "models[0].file",
               "cannot read the embedding model in \"minilm\"");
  fs::remove_all(bert);
}

TEST_F(ClusterConfigTest, DevicesMustMatchTheBackend) {
  expect_error(std::string(kMinimal) + "    devices: [0, 1]\n", 8, "groups[0].devices",
               "only cuda groups take devices (this group has backend: cpu)");
  expect_error(std::string(kMinimal) + "    backend: cuda\n", 5, "groups[0].devices",
               "required for a cuda group: one CUDA device per rank, 2 in all");
  expect_error(std::string(kMinimal) + "    backend: cuda\n    devices: [0]\n", 9,
               "groups[0].devices", "lists 1 devices but tp is 2");
  expect_error(std::string(kMinimal) + "    backend: cuda\n    devices: [0, -1]\n", 9,
               "groups[0].devices[1]", "must be at least 0, got -1");
  expect_error(
      std::string(kMinimal) + "    backend: cuda\n    devices: [0, 1]\n    threads_per_rank: 4\n",
      10, "groups[0].threads_per_rank", "only cpu groups take threads_per_rank");
  expect_error(std::string(kMinimal) + "    backend: rocm\n", 8, "groups[0].backend",
               "expected one of cpu | cuda, got \"rocm\"");
}

// NCCL cannot put two ranks of one communicator on one GPU: the config says so, not a hang.
TEST_F(ClusterConfigTest, DevicesMustBeDistinct) {
  expect_error(std::string(kMinimal) + "    backend: cuda\n    devices: [1, 1]\n", 9,
               "groups[0].devices[1]",
               "device 1 is already rank 0's; each rank of a group needs its own GPU");
  expect_error(
      "models:\n  - {name: tiny, file: tiny.gguf}\ngroups:\n"
      "  - {name: g, model: tiny, tp: 1, backend: cuda, devices: [0]}\n"
      "  - name: h\n    model: tiny\n    tp: 3\n    backend: cuda\n"
      "    devices:\n      - 2\n      - 0\n      - 2\n",
      9, "groups[1].devices[2]", "device 2 is already rank 0's");
  // Two groups may share a device (each has its own communicator).
  auto r = parse(
      "models:\n  - {name: tiny, file: tiny.gguf}\ngroups:\n"
      "  - {name: a, model: tiny, tp: 1, backend: cuda, devices: [0]}\n"
      "  - {name: b, model: tiny, tp: 1, backend: cuda, devices: [0]}\n");
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST_F(ClusterConfigTest, DeviceOfRankIsTheListEntry) {
  auto r = parse(std::string(kMinimal) + "    backend: cuda\n    devices: [3, 1]\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const GroupConfig& g = r->groups[0];
  EXPECT_EQ(g.device_of_rank(0), 3);
  EXPECT_EQ(g.device_of_rank(1), 1);
  EXPECT_EQ(g.device_of_rank(2), -1);
  EXPECT_EQ(g.device_of_rank(-1), -1);
  auto cpu = parse(kMinimal);
  ASSERT_TRUE(cpu.ok()) << cpu.error().message;
  EXPECT_EQ(cpu->groups[0].device_of_rank(0), -1);
}

TEST_F(ClusterConfigTest, TpBelowOne) {
  for (const char* tp : {"0", "-2"}) {
    expect_error(std::string("models:\n  - {name: tiny, file: tiny.gguf}\ngroups:\n  - name: g\n"
                             "    model: tiny\n    tp: ") +
                     tp + "\n",
                 6, "groups[0].tp", std::string("expected a positive integer, got ") + tp);
  }
}

TEST_F(ClusterConfigTest, ValuesOutOfRange) {
  expect_error(std::string("server:\n  port: 70000\n") + kMinimal, 2, "server.port",
               "must be at most 65535, got 70000");
  expect_error(std::string("server:\n  max_body_bytes: 10\n") + kMinimal, 2,
               "server.max_body_bytes", "must be at least 1024, got 10");
  expect_error(std::string("server:\n  max_queued_requests: 0\n") + kMinimal, 2,
               "server.max_queued_requests", "expected a positive integer, got 0");
  expect_error(std::string("server:\n  request_timeout_s: 99999999\n") + kMinimal, 2,
               "server.request_timeout_s", "must be at most 604800");
  expect_error(std::string("server:\n  idle_timeout_s: 0\n") + kMinimal, 2, "server.idle_timeout_s",
               "expected a positive integer, got 0");
  expect_error(std::string("server:\n  idle_timeout_s: 7200\n") + kMinimal, 2,
               "server.idle_timeout_s", "must be at most 3600");
  expect_error(std::string("server:\n  max_connections: many\n") + kMinimal, 2,
               "server.max_connections", "expected a positive integer");
  expect_error(std::string("server:\n  cors_allow_origins: [\"https://a.com/path\"]\n") + kMinimal,
               2, "server.cors_allow_origins[0]", "expected \"*\" or an origin");
  expect_error(std::string("server:\n  coordinator_endpoint: tcp://*:5555\n") + kMinimal, 2,
               "server.coordinator_endpoint", "not *");
  expect_error(std::string("server:\n  coordinator_endpoint: localhost:5555\n") + kMinimal, 2,
               "server.coordinator_endpoint", "expected tcp://HOST:PORT or ipc://PATH");
  expect_error(std::string("server:\n  coordinator_endpoint: tcp://h:0\n") + kMinimal, 2,
               "server.coordinator_endpoint", "port must be 1..65535");
  expect_error(std::string("server:\n  coordinator_endpoint: tcp://127.0.0.1:8080\n") + kMinimal, 2,
               "server.coordinator_endpoint", "which server.port takes for HTTP");
  expect_error(std::string("server:\n  web_root: nowhere\n") + kMinimal, 2, "server.web_root",
               "directory \"nowhere\" does not exist");
  expect_error(std::string("server:\n  host: \"\"\n") + kMinimal, 2, "server.host",
               "must not be empty");
  expect_error("models:\n  - {name: my model, file: tiny.gguf}\ngroups:\n  - {name: g, model: x}\n",
               2, "models[0].name", "must not contain spaces");
  expect_error(
      "models:\n  - {name: m, file: tiny.gguf, task: generate}\n"
      "groups:\n  - {name: g, model: m}\n",
      2, "models[0].task", "expected one of chat | embed, got \"generate\"");
  expect_error(std::string(kMinimal) + "    max_batch: 64\n    max_batch_tokens: 32\n", 9,
               "groups[0].max_batch_tokens", "32 is below max_batch 64");
  expect_error(std::string(kMinimal) + "    max_prefill_tokens_while_decoding: 1024\n", 8,
               "groups[0].max_prefill_tokens_while_decoding", "1024 is above max_batch_tokens 512");
  expect_error(std::string(kMinimal) + "    threads_per_rank: 0\n", 8, "groups[0].threads_per_rank",
               "expected a positive integer, got 0");
}

// moe_split: only for models with experts; whole experts need tp <= the expert count.
TEST_F(ClusterConfigTest, MoeSplitIsCheckedAgainstTheModel) {
  expect_error(std::string(kMinimal) + "    moe_split: slices\n", 8, "groups[0].moe_split",
               "model \"tiny\" has no experts (a dense model); leave moe_split out");
  const std::string moe =
      "models:\n  - {name: m, file: moe.gguf}\n"
      "groups:\n  - name: g\n    model: m\n    tp: 3\n";
  expect_error(moe + "    moe_split: halves\n", 7, "groups[0].moe_split",
               "expected one of experts | slices, got \"halves\"");
  expect_error(moe, 6, "groups[0].tp",
               "tp 3 exceeds the 2 experts of model \"m\", and each rank holds whole experts; "
               "use tp <= 2 or moe_split: slices");
  auto c = parse(moe + "    moe_split: slices\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->groups[0].moe_split, MoeSplit::kSlices);
  EXPECT_EQ(c->models[0].facts.n_expert, 2);
}

TEST_F(ClusterConfigTest, PrefixCachingIsABoolean) {
  auto on = parse(kMinimal);
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_TRUE(on->groups[0].prefix_caching);
  auto off = parse(std::string(kMinimal) + "    prefix_caching: false\n");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->groups[0].prefix_caching);
  expect_error(std::string(kMinimal) + "    prefix_caching: sometimes\n", 8,
               "groups[0].prefix_caching", "expected one of true | false, got \"sometimes\"");
}

TEST_F(ClusterConfigTest, TopologyNeedsTheModel) {
  // tiny has 4 KV heads.
  expect_error(
      "models:\n  - {name: tiny, file: tiny.gguf}\ngroups:\n  - name: g\n    model: tiny\n"
      "    tp: 5\n",
      6, "groups[0].tp",
      "tp 5 exceeds 4, the largest tensor-parallel group model \"tiny\" is split for (8 query "
      "heads and 4 KV heads: ranks split the KV heads; see parallel/shard_plan.h); use tp <= 4");
  expect_error(
      "models:\n  - {name: tiny, file: tiny.gguf, context_length: 8192}\n"
      "groups:\n  - {name: g, model: tiny}\n",
      2, "models[0].context_length", "8192 exceeds the model's trained context of 4096 tokens");
  // 1 KiB of KV per token at tp 1: 1 MiB holds 1024 tokens, 4096 need 4 MiB; at tp 2 half.
  expect_error(
      "models:\n  - {name: tiny, file: tiny.gguf}\ngroups:\n  - name: g\n    model: tiny\n"
      "    kv_cache_mb: 1\n",
      6, "groups[0].kv_cache_mb",
      "1 MiB per rank holds 1024 tokens of model \"tiny\" at tp 1, less than one sequence of "
      "context_length 4096; raise kv_cache_mb to at least 4 or lower models[0].context_length");
  auto r = parse(
      "models:\n  - {name: tiny, file: tiny.gguf}\ngroups:\n  - {name: g, model: tiny, tp: 2, "
      "kv_cache_mb: 2}\n");
  EXPECT_TRUE(r.ok()) << r.error().message;
  r = parse(
      "models:\n  - {name: tiny, file: tiny.gguf, context_length: 1024}\n"
      "groups:\n  - {name: g, model: tiny, kv_cache_mb: 1}\n");
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST_F(ClusterConfigTest, TpAboveTheRealModelsKvHeads) {
  if (!fs::exists(kRealModel)) GTEST_SKIP() << kRealModel << " is absent (scripts/fetch-models)";
  const std::string yaml = std::string("models:\n  - name: smollm2\n    file: ") +
                           fs::absolute(kRealModel).string() +
                           "\ngroups:\n  - name: g\n    model: smollm2\n    tp: 4\n";
  expect_error(
      yaml, 7, "groups[0].tp",
      "tp 4 exceeds 3, the largest tensor-parallel group model \"smollm2\" is split for (9 "
      "query heads and 3 KV heads: ranks split the KV heads; see parallel/shard_plan.h); "
      "use tp <= 3");
  std::string ok = yaml;
  ok.replace(ok.find("tp: 4"), 5, "tp: 3");
  auto r = parse(ok);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->models[0].facts.n_kv_heads, 3);
  EXPECT_EQ(r->models[0].facts.n_heads, 9);
}

// Fewer KV heads than 3: the shard plan splits the query heads up to 3 ways and replicates the
// KV heads they use (parallel/shard_plan.h), and sizes the KV cache by the rank holding most.
TEST_F(ClusterConfigTest, TpBeyondTheKvHeadsReplicatesThem) {
  auto gqa = [](uint32_t heads, uint32_t kv_heads) {
    return GgufBuilder()
        .kv_string("general.architecture", "llama")
        .kv_u32("llama.block_count", 2)
        .kv_u32("llama.embedding_length", 32 * heads)  // head_dim 32
        .kv_u32("llama.attention.head_count", heads)
        .kv_u32("llama.attention.head_count_kv", kv_heads)
        .kv_u32("llama.context_length", 4096)
        .kv_string("tokenizer.chat_template", "{{ x }}")
        .build();
  };
  write_bytes(*dir_ / "one_kv.gguf", gqa(4, 1));
  write_bytes(*dir_ / "two_kv.gguf", gqa(8, 2));
  write_bytes(*dir_ / "two_heads.gguf", gqa(2, 1));
  auto yaml = [](const std::string& file, int tp, int kv_cache_mb) {
    return "models:\n  - {name: m, file: " + file +
           "}\ngroups:\n  - {name: g, model: m, tp: " + std::to_string(tp) +
           ", kv_cache_mb: " + std::to_string(kv_cache_mb) + "}\n";
  };
  for (int tp = 1; tp <= 3; ++tp) {
    auto r = parse(yaml("one_kv.gguf", tp, 1));
    EXPECT_TRUE(r.ok()) << "tp " << tp << ": " << r.error().message;
  }
  expect_error(
      yaml("one_kv.gguf", 4, 1), 4, "groups[0].tp",
      "tp 4 exceeds 3, the largest tensor-parallel group model \"m\" is split for (4 query "
      "heads and 1 KV head: ranks split the query heads at most 3 ways, replicating the KV "
      "heads they use; see parallel/shard_plan.h); use tp <= 3");
  expect_error(
      yaml("two_heads.gguf", 3, 1), 4, "groups[0].tp",
      "tp 3 exceeds 2, the largest tensor-parallel group model \"m\" is split for (2 query "
      "heads and 1 KV head: ranks split the query heads at most 2 ways");
  // 8 query heads, 2 KV heads at tp 3: query heads [0, 3) [3, 6) [6, 8), so rank 1 holds both
  // KV heads: 512 bytes per token (2 layers x K and V x 2 heads x 32 x f16), 2048 tokens in
  // 1 MiB, where one KV head per rank would have held 4096. At tp 2 each rank holds one.
  EXPECT_TRUE(parse(yaml("two_kv.gguf", 2, 1)).ok());
  expect_error(yaml("two_kv.gguf", 3, 1), 4, "groups[0].kv_cache_mb",
               "1 MiB per rank holds 2048 tokens of model \"m\" at tp 3, less than one sequence of "
               "context_length 4096; raise kv_cache_mb to at least 2");
  EXPECT_TRUE(parse(yaml("two_kv.gguf", 3, 2)).ok());
  // The CUDA decoder does not replicate KV heads.
  expect_error(
      "models:\n  - {name: m, file: one_kv.gguf}\ngroups:\n  - {name: g, model: m, tp: 2, "
      "kv_cache_mb: 1, backend: cuda, devices: [0, 1]}\n",
      4, "groups[0].tp",
      "tp 2 exceeds the 1 KV head of model \"m\", and the cuda backend does not replicate KV "
      "heads; use tp <= 1 or backend: cpu");
  EXPECT_TRUE(parse("models:\n  - {name: m, file: two_kv.gguf}\ngroups:\n  - {name: g, model: m, "
                    "tp: 2, kv_cache_mb: 1, backend: cuda, devices: [0, 1]}\n")
                  .ok());
}

TEST_F(ClusterConfigTest, GemmaRunsAtTpThree) {
  const char* gemma = "models/gemma-3-270m-q4_k_m.gguf";
  if (!fs::exists(gemma)) GTEST_SKIP() << gemma << " is absent (scripts/fetch-models)";
  const std::string yaml = std::string("models:\n  - name: gemma\n    file: ") +
                           fs::absolute(gemma).string() +
                           "\ngroups:\n  - name: g\n    model: gemma\n    tp: 4\n"
                           "    kv_cache_mb: 1024\n";
  expect_error(yaml, 7, "groups[0].tp",
               "tp 4 exceeds 3, the largest tensor-parallel group model \"gemma\" is split for (4 "
               "query heads and 1 KV head: ranks split the query heads at most 3 ways");
  std::string ok = yaml;
  ok.replace(ok.find("tp: 4"), 5, "tp: 3");
  auto r = parse(ok);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->models[0].facts.n_heads, 4);
  EXPECT_EQ(r->models[0].facts.n_kv_heads, 1);
  EXPECT_EQ(r->models[0].facts.head_dim, 256);
}

TEST_F(ClusterConfigTest, ReportsEveryProblemAtOnce) {
  auto r = parse(
      "server:\n"
      "  port: x\n"       // 2
      "  colour: blue\n"  // 3
      "models:\n"
      "  - name: m\n"
      "    file: tiny.gguf\n"
      "    task: 3\n"  // 7
      "groups:\n"
      "  - name: g\n"
      "    model: m\n"
      "    tp: 0\n");  // 11
  ASSERT_FALSE(r.ok());
  auto lines = lines_of(r.error().message);
  ASSERT_EQ(lines.size(), 4u) << r.error().message;
  EXPECT_TRUE(lines[0].starts_with(source() + ":2: server.port: "));
  EXPECT_TRUE(lines[1].starts_with(source() + ":3: server.colour: unknown key"));
  EXPECT_TRUE(lines[2].starts_with(source() + ":7: models[0].task: "));
  EXPECT_TRUE(lines[3].starts_with(source() + ":11: groups[0].tp: "));
}

// --- rank placement -----------------------------------------------------------------------

ClusterConfig three_groups() {
  ClusterConfig c;
  c.source = "cluster.yaml";
  for (auto [name, tp] : {std::pair{"a", 2}, {"b", 4}, {"c", 1}}) {
    GroupConfig g;
    g.name = name;
    g.tp = tp;
    c.groups.push_back(g);
  }
  return c;
}

TEST(PlaceGroups, AllGroupsInFileOrder) {
  auto r = place_groups(three_groups(), 7, {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (std::vector<GroupPlacement>{{0, 0, 2}, {1, 2, 4}, {2, 6, 1}}));
  EXPECT_EQ(placement_of_rank(*r, 0)->group_index, 0);
  EXPECT_EQ(placement_of_rank(*r, 1)->group_index, 0);
  EXPECT_EQ(placement_of_rank(*r, 2)->group_index, 1);
  EXPECT_EQ(placement_of_rank(*r, 5)->group_index, 1);
  EXPECT_EQ(placement_of_rank(*r, 6)->group_index, 2);
  EXPECT_EQ(placement_of_rank(*r, 7), nullptr);
  EXPECT_EQ(placement_of_rank(*r, -1), nullptr);
}

TEST(PlaceGroups, SelectedGroupsKeepFileOrder) {
  auto r = place_groups(three_groups(), 3, {"c", "a"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (std::vector<GroupPlacement>{{0, 0, 2}, {2, 2, 1}}));
}

TEST(PlaceGroups, WrongWorldSizeSaysTheRightNp) {
  auto r = place_groups(three_groups(), 4, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "cluster.yaml: the mpirun job has 4 ranks but the groups it runs need 7: a (tp 2) + "
            "b (tp 4) + c (tp 1); start it with mpirun -np 7");
  r = place_groups(three_groups(), 8, {"b"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("mpirun -np 4"), std::string::npos);
}

TEST(PlaceGroups, UnknownOrRepeatedGroups) {
  auto r = place_groups(three_groups(), 2, {"z"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "cluster.yaml: no group named \"z\" (groups: a, b, c)");
  r = place_groups(three_groups(), 4, {"a", "a"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("selected twice"), std::string::npos);
}

// --- command-line overrides -----------------------------------------------------------------

TEST_F(ClusterConfigTest, OverridesSetScalars) {
  auto r = parse(kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ClusterConfig c = *r;
  EXPECT_TRUE(apply_override(c, "server.port=9000").ok());
  EXPECT_EQ(c.server.port, 9000);
  EXPECT_EQ(c.where("server.port"), "override \"server.port=9000\"");
  EXPECT_TRUE(apply_override(c, "groups[0].tp=4").ok());
  EXPECT_EQ(c.groups[0].tp, 4);
  EXPECT_TRUE(apply_override(c, "groups[tiny-tp2].kv_cache_mb=512").ok());
  EXPECT_EQ(c.groups[0].kv_cache_mb, 512);
  EXPECT_TRUE(apply_override(c, "models[tiny].context_length=1024").ok());
  EXPECT_EQ(c.models[0].effective_context_length(), 1024);
  EXPECT_TRUE(apply_override(c, "server.api_keys=[k1, k2]").ok());
  EXPECT_EQ(c.server.api_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_TRUE(apply_override(c, "server.host=10.0.0.1").ok());
  EXPECT_EQ(c.server.host, "10.0.0.1");
}

TEST_F(ClusterConfigTest, OverrideErrorsNameTheOverrideAndChangeNothing) {
  auto r = parse(kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ClusterConfig c = *r;
  auto expect_fail = [&](const std::string& o, const std::string& text) {
    Status s = apply_override(c, o);
    ASSERT_FALSE(s.ok()) << o;
    for (const std::string& line : lines_of(s.message()))
      EXPECT_TRUE(line.starts_with("override \"" + o + "\": ")) << line;
    EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
  };
  expect_fail("groups[0].tp=two", "groups[0].tp: expected a positive integer, got \"two\"");
  expect_fail("groups[0].tp=9", "groups[0].tp: tp 9 exceeds 4, the largest tensor-parallel group");
  expect_fail("server.port=0", "server.port: expected a positive integer, got 0");
  expect_fail("server.prot=1", "server.prot: unknown key (did you mean \"port\"?)");
  expect_fail("groups[7].tp=1", "no entry 7: the file has 1 groups");
  expect_fail("groups[nope].tp=1", "no groups entry named \"nope\" (known: tiny-tp2)");
  expect_fail("groups.tp=1", "say which entry");
  expect_fail("server=1", "cannot be overridden");
  expect_fail("workers[0].tp=1", "unknown section");
  expect_fail("server.port", "expected KEY=VALUE");
  expect_fail("server.port=[1", "value is not valid YAML");
  // An error the override causes elsewhere still names it, then where the file says.
  expect_fail("groups[0].backend=cuda",
              source() + ":5: groups[0].devices: required for a cuda group");
  expect_fail("models[0].file=nope.gguf",
              "models[0].file: model file \"nope.gguf\" does not exist");
  EXPECT_EQ(c.groups[0].tp, 2);
  EXPECT_EQ(c.groups[0].backend, Backend::kCpu);
  EXPECT_EQ(c.server.port, 8080);
  EXPECT_EQ(c.models[0].file, "tiny.gguf");
}

TEST_F(ClusterConfigTest, LoadWithOverridesRepairsTheFile) {
  write_file(*dir_ / "cuda.yaml",
             "models:\n  - {name: tiny, file: tiny.gguf}\n"
             "groups:\n  - {name: g, model: tiny, tp: 2, backend: cuda, devices: [0]}\n");
  auto r = load_cluster_config((*dir_ / "cuda.yaml").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("lists 1 devices but tp is 2"), std::string::npos);
  r = load_cluster_config((*dir_ / "cuda.yaml").string(), {"groups[0].devices=[0, 1]"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->groups[0].devices, (std::vector<int>{0, 1}));
}

// --- the shipped configs (tests run from the repository root) -------------------------------

TEST(ShippedConfigs, LocalYamlValidates) {
  if (!fs::exists(kRealModel)) GTEST_SKIP() << kRealModel << " is absent (scripts/fetch-models)";
  auto r = load_cluster_config("configs/local.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const ClusterConfig& c = *r;
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.server.port, 8080);
  EXPECT_EQ(c.server.web_root_path, fs::absolute("web").lexically_normal().string());
  // The chat group (tp 2) and the embedding group (tp 1): one mpirun job of 3 ranks.
  ASSERT_EQ(c.groups.size(), 2u);
  EXPECT_EQ(c.groups[0].backend, Backend::kCpu);
  EXPECT_EQ(c.groups[0].tp, 2);
  EXPECT_EQ(c.groups[0].threads_per_rank, 1);
  EXPECT_EQ(c.models[c.groups[0].model_index].path,
            fs::absolute(kRealModel).lexically_normal().string());
  EXPECT_EQ(c.models[c.groups[1].model_index].task, ModelTask::kEmbed);
  EXPECT_EQ(c.models[c.groups[1].model_index].effective_context_length(), 256);
  EXPECT_EQ(c.groups[1].tp, 1);
  auto placement = place_groups(c, 3, {});
  ASSERT_TRUE(placement.ok()) << placement.error().message;
}

// The examples name model files this machine lacks: they must parse, and every error must be
// a missing model file.
TEST(ShippedConfigs, ExamplesOnlyLackTheirModelFiles) {
  for (const char* path : {"configs/multi-gpu-8.yaml", "configs/multi-node-2x8.yaml"}) {
    SCOPED_TRACE(path);
    ASSERT_TRUE(fs::exists(path));
    auto r = load_cluster_config(path);
    if (r.ok()) continue;  // someone has the models
    for (const std::string& line : lines_of(r.error().message)) {
      EXPECT_TRUE(line.starts_with(std::string(path) + ":")) << line;
      EXPECT_NE(line.find(".file: model file \""), std::string::npos) << line;
      EXPECT_NE(line.find("\" does not exist"), std::string::npos) << line;
    }
  }
}

// With stand-in GGUF files that carry the real models' metadata (Llama-3.1-8B: 32 layers,
// 32 heads, 8 KV heads, head_dim 128; 70B: 80 layers, 64 heads, 8 KV heads), the examples
// validate completely, and their placement matches the mpirun lines in their comments.
TEST_F(ClusterConfigTest, ExamplesValidateWithTheirModels) {
  auto llama = [](uint32_t layers, uint32_t dim, uint32_t heads) {
    return GgufBuilder()
        .kv_string("general.architecture", "llama")
        .kv_u32("llama.block_count", layers)
        .kv_u32("llama.embedding_length", dim)
        .kv_u32("llama.attention.head_count", heads)
        .kv_u32("llama.attention.head_count_kv", 8)
        .kv_u32("llama.context_length", 131072)
        .build();
  };
  write_bytes(*dir_ / "llama8b.gguf", llama(32, 4096, 32));
  write_bytes(*dir_ / "llama70b.gguf", llama(80, 8192, 64));

  auto r = load_cluster_config("configs/multi-gpu-8.yaml",
                               {"models[0].file=" + (*dir_ / "llama8b.gguf").string()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto placement = place_groups(*r, 8, {});
  ASSERT_TRUE(placement.ok()) << placement.error().message;
  EXPECT_EQ(*placement, (std::vector<GroupPlacement>{{0, 0, 4}, {1, 4, 4}}));
  // The tp 8 alternative in the comment fits too (tp and devices change together); tp 16
  // does not.
  ClusterConfig tp8 = *r;
  Status s = apply_override(tp8, "groups[0].tp=8");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("lists 4 devices but tp is 8"), std::string::npos) << s.message();
  s = apply_overrides(tp8, {"groups[0].tp=8", "groups[0].devices=[0,1,2,3,4,5,6,7]"});
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(tp8.groups[0].tp, 8);
  EXPECT_EQ(tp8.groups[0].devices.size(), 8u);
  s = apply_override(*r, "groups[0].tp=16");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("tp 16 exceeds 8, the largest tensor-parallel group"),
            std::string::npos)
      << s.message();

  r = load_cluster_config("configs/multi-node-2x8.yaml",
                          {"models[0].file=" + (*dir_ / "llama70b.gguf").string()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  placement = place_groups(*r, 16, {});
  ASSERT_TRUE(placement.ok()) << placement.error().message;
  EXPECT_EQ(*placement, (std::vector<GroupPlacement>{{0, 0, 8}, {1, 8, 8}}));
  placement = place_groups(*r, 8, {"llama70b-node2"});
  ASSERT_TRUE(placement.ok()) << placement.error().message;
  EXPECT_EQ(*placement, (std::vector<GroupPlacement>{{1, 0, 8}}));

  std::ifstream in("configs/multi-node-2x8.yaml");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("mpirun -np 16 --hostfile deploy/hostfile.example"), std::string::npos);
  EXPECT_TRUE(fs::exists("deploy/hostfile.example"));
}

}  // namespace
}  // namespace shardserve
