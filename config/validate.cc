// Checks across keys, the file system and the model files (the per-value checks are in
// parse.cc). Every problem is collected; nothing stops at the first.

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "config/cluster_config.h"
#include "config/diagnostics.h"
#include "model/bert/config.h"
#include "model/gguf/gguf.h"
#include "parallel/shard_plan.h"

namespace shardserve {
namespace {

namespace fs = std::filesystem;
using config_internal::Diagnostics;
using config_internal::in_quotes;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kKvBlockSize = 16;  // positions per KV block (model/kv_cache default)

struct Check {
  const ClusterConfig& config;
  Diagnostics& diag;
  void fail(const std::string& key_path, std::string_view message) const {
    diag.add(config.where(key_path), key_path, message);
  }
};

std::string item_path(std::string_view list, size_t i, std::string_view key = {}) {
  std::string p(list);
  p.append("[").append(std::to_string(i)).append("]");
  if (!key.empty()) p.append(".").append(key);
  return p;
}

bool is_encoder_architecture(std::string_view arch) {
  for (std::string_view a : {"bert", "nomic-bert", "jina-bert-v2", "t5encoder"})
    if (a == arch) return true;
  return false;
}

bool starts_with_gguf_magic(const std::string& path) {
  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// Reads the facts validation needs; absent keys stay 0 (the loader reports them later).
Result<ModelFacts> read_gguf_facts(const std::string& path) {
  auto file = gguf::File::open(path);
  if (!file) return file.error();
  const gguf::File& f = **file;
  ModelFacts facts;
  auto arch = f.get_string("general.architecture");
  if (!arch) return arch.error();
  facts.architecture = std::string(*arch);
  const std::string p = facts.architecture + ".";
  auto get = [&](const std::string& key) -> int64_t {
    auto v = f.get_int(p + key);
    return v && *v > 0 ? *v : 0;
  };
  facts.n_layers = get("block_count");
  facts.n_heads = get("attention.head_count");
  facts.n_kv_heads =
      f.find(p + "attention.head_count_kv") ? get("attention.head_count_kv") : facts.n_heads;
  facts.head_dim = get("attention.key_length");
  if (facts.head_dim == 0 && facts.n_heads > 0)
    facts.head_dim = get("embedding_length") / facts.n_heads;
  facts.trained_context = get("context_length");
  facts.has_chat_template = f.find("tokenizer.chat_template") != nullptr;
  facts.n_expert = get("expert_count");
  return facts;
}

void check_context_length(const Check& c, size_t i, const ModelConfig& m) {
  if (m.context_length > 0 && m.facts.trained_context > 0 &&
      m.context_length > m.facts.trained_context) {
    c.fail(item_path("models", i, "context_length"),
           std::to_string(m.context_length) + " exceeds the model's trained context of " +
               std::to_string(m.facts.trained_context) + " tokens; use at most " +
               std::to_string(m.facts.trained_context) + " (or leave it out)");
  }
}

// The facts of a sentence-transformers BERT directory (config.json and friends). Its
// "trained context" is max_seq_length, the longest input the model was trained to embed.
Result<ModelFacts> read_bert_facts(const std::string& dir) {
  auto config = read_bert_config(dir);
  if (!config) return config.error();
  ModelFacts facts;
  facts.architecture = "bert";
  facts.n_layers = config->n_layers;
  facts.n_heads = config->n_heads;
  facts.n_kv_heads = config->n_heads;
  facts.head_dim = config->head_dim;
  facts.trained_context = config->max_seq_len;
  facts.max_tp = kBertMaxTp;
  return facts;
}

void check_model(const Check& c, size_t i, ModelConfig& m) {
  m.facts = ModelFacts{};
  const std::string file_key = item_path("models", i, "file");
  std::error_code ec;
  const fs::file_status st = fs::status(m.path, ec);
  if (!fs::exists(st)) {
    c.fail(file_key, "model file " + in_quotes(m.file) + " does not exist (looked for " + m.path +
                         "; relative paths resolve against the YAML file's directory)");
    return;
  }
  if (fs::is_directory(st)) {
    if (m.task != ModelTask::kEmbed) {
      c.fail(file_key, in_quotes(m.file) + " is a directory; chat models are single GGUF files");
    } else if (!fs::is_regular_file(fs::path(m.path) / "model.safetensors", ec)) {
      c.fail(file_key, "directory " + in_quotes(m.file) + " holds no model.safetensors");
    } else if (auto facts = read_bert_facts(m.path); !facts) {
      c.fail(file_key, "cannot read the embedding model in " + in_quotes(m.file) + ": " +
                           facts.error().message);
    } else {
      m.facts = std::move(*facts);
      check_context_length(c, i, m);
    }
    return;
  }
  if (!fs::is_regular_file(st)) {
    c.fail(file_key, in_quotes(m.file) + " is not a regular file");
    return;
  }
  if (!starts_with_gguf_magic(m.path)) {
    if (m.task == ModelTask::kEmbed && fs::path(m.path).extension() == ".safetensors") {
      if (auto facts = read_bert_facts(fs::path(m.path).parent_path().string()); !facts) {
        c.fail(file_key, "cannot read the embedding model beside " + in_quotes(m.file) + ": " +
                             facts.error().message);
      } else {
        m.facts = std::move(*facts);
        check_context_length(c, i, m);
      }
      return;
    }
    c.fail(file_key,
           in_quotes(m.file) + " is not a GGUF file (no GGUF magic)" +
               (m.task == ModelTask::kEmbed ? "; embedding models may also be .safetensors files"
                                            : "; chat models must be GGUF files"));
    return;
  }
  auto facts = read_gguf_facts(m.path);
  if (!facts) {
    c.fail(file_key, "cannot read GGUF file " + in_quotes(m.file) + ": " + facts.error().message);
    return;
  }
  m.facts = std::move(*facts);

  if (m.task == ModelTask::kChat && is_encoder_architecture(m.facts.architecture)) {
    c.fail(item_path("models", i, c.config.is_set(item_path("models", i, "task")) ? "task" : ""),
           "architecture " + in_quotes(m.facts.architecture) +
               " is an encoder and cannot chat; set task: embed");
  }
  check_context_length(c, i, m);
}

void check_chat_template(const Check& c, size_t i, const ModelConfig& m) {
  if (m.chat_template.empty()) return;
  const std::string key = item_path("models", i, "chat_template");
  if (m.task != ModelTask::kChat) {
    c.fail(key, "only chat models take a chat template (this one has task: embed)");
    return;
  }
  std::error_code ec;
  if (!fs::is_regular_file(m.chat_template_path, ec))
    c.fail(key, "template file " + in_quotes(m.chat_template) + " does not exist (looked for " +
                    m.chat_template_path + ")");
}

// tcp://HOST:PORT -> {host, port}; {"", 0} otherwise (checked at parse).
std::pair<std::string, int> tcp_host_port(const std::string& endpoint) {
  if (!endpoint.starts_with("tcp://")) return {"", 0};
  const std::string hp = endpoint.substr(6);
  const size_t colon = hp.rfind(':');
  if (colon == std::string::npos) return {"", 0};
  return {hp.substr(0, colon), std::atoi(hp.c_str() + colon + 1)};
}

bool is_wildcard_host(std::string_view h) {
  return h == "0.0.0.0" || h == "::" || h == "[::]";
}

void check_server(const Check& c, const ServerConfig& s) {
  auto [zmq_host, zmq_port] = tcp_host_port(s.coordinator_endpoint);
  if (zmq_port == s.port &&
      (zmq_host == s.host || is_wildcard_host(zmq_host) || is_wildcard_host(s.host))) {
    c.fail("server.coordinator_endpoint", "uses port " + std::to_string(zmq_port) +
                                              ", which server.port takes for HTTP on " + s.host +
                                              "; pick another port");
  }
  if (c.config.is_set("server.web_root") && !s.web_root_path.empty()) {
    std::error_code ec;
    if (!fs::is_directory(s.web_root_path, ec))
      c.fail("server.web_root", "directory " + in_quotes(s.web_root) +
                                    " does not exist (looked for " + s.web_root_path +
                                    "); use null to serve no page");
  }
}

// The knowledge base needs an embedding model; its default is the first one.
void check_knowledge(const Check& c, KnowledgeConfig& k, const std::vector<ModelConfig>& models) {
  if (k.chunk_overlap_chars > k.chunk_chars / 2)
    c.fail("knowledge.chunk_overlap_chars", "must be at most half of knowledge.chunk_chars (" +
                                                std::to_string(k.chunk_chars) + "), got " +
                                                std::to_string(k.chunk_overlap_chars));
  if (!k.enabled()) return;
  if (k.embedding_model.empty() || !c.config.is_set("knowledge.embedding_model")) {
    k.embedding_model.clear();
    for (const ModelConfig& m : models)
      if (m.task == ModelTask::kEmbed) {
        k.embedding_model = m.name;
        break;
      }
    if (k.embedding_model.empty())
      c.fail("knowledge.data_dir",
             "the knowledge base embeds documents, but no model has task: embed; add one "
             "(e.g. all-MiniLM-L6-v2) with a group, or set knowledge.data_dir: null");
    return;
  }
  const ModelConfig* m = c.config.find_model(k.embedding_model);
  if (!m)
    c.fail("knowledge.embedding_model", "no model named " + in_quotes(k.embedding_model));
  else if (m->task != ModelTask::kEmbed)
    c.fail("knowledge.embedding_model",
           in_quotes(k.embedding_model) + " is a chat model; name a model with task: embed");
}

void check_group(const Check& c, size_t i, GroupConfig& g) {
  auto key = [&](std::string_view k) { return item_path("groups", i, k); };
  const ClusterConfig& cfg = c.config;

  g.model_index = -1;
  for (size_t m = 0; m < cfg.models.size(); ++m)
    if (cfg.models[m].name == g.model) g.model_index = static_cast<int>(m);
  if (g.model_index < 0) {
    std::string known;
    for (const ModelConfig& m : cfg.models) known += (known.empty() ? "" : ", ") + m.name;
    c.fail(key("model"), "no model named " + in_quotes(g.model) + " (models: " + known + ")");
  }

  if (g.backend == Backend::kCpu) {
    if (cfg.is_set(key("devices")))
      c.fail(key("devices"), "only cuda groups take devices (this group has backend: cpu)");
  } else {
    if (cfg.is_set(key("threads_per_rank")))
      c.fail(key("threads_per_rank"),
             "only cpu groups take threads_per_rank (this group has backend: cuda)");
    if (!cfg.is_set(key("devices"))) {
      c.fail(key("devices"), "required for a cuda group: one CUDA device per rank, " +
                                 std::to_string(g.tp) + " in all (e.g. devices: [0" +
                                 (g.tp > 1 ? ", 1" : "") + "])");
    } else if (g.devices.size() != static_cast<size_t>(g.tp)) {
      c.fail(key("devices"), "lists " + std::to_string(g.devices.size()) + " devices but tp is " +
                                 std::to_string(g.tp) + "; give one device per rank");
    }
    // NCCL refuses two ranks of one communicator on one GPU (and could hang trying).
    for (size_t r = 1; r < g.devices.size(); ++r)
      for (size_t earlier = 0; earlier < r; ++earlier)
        if (g.devices[r] == g.devices[earlier]) {
          c.fail(item_path(item_path("groups", i, "devices"), r),
                 "device " + std::to_string(g.devices[r]) + " is already rank " +
                     std::to_string(earlier) +
                     "'s; each rank of a group needs its own GPU (NCCL cannot put two ranks of "
                     "one group on one device)");
          break;
        }
  }

  if (g.max_batch_tokens < g.max_batch)
    c.fail(key("max_batch_tokens"),
           std::to_string(g.max_batch_tokens) + " is below max_batch " +
               std::to_string(g.max_batch) +
               ": a decode step of a full batch takes one token per sequence");
  if (g.max_prefill_tokens_while_decoding > g.max_batch_tokens)
    c.fail(key("max_prefill_tokens_while_decoding"),
           std::to_string(g.max_prefill_tokens_while_decoding) + " is above max_batch_tokens " +
               std::to_string(g.max_batch_tokens) + ": a step never carries more tokens than that");

  if (g.model_index < 0) return;
  const ModelConfig& m = cfg.models[g.model_index];
  const ModelFacts& f = m.facts;
  // The largest group the shard plan splits the model for (parallel/shard_plan.h): an
  // encoder's own max_tp (at most one rank per head); a decoder's default_max_tp, its KV heads
  // or, with fewer than kQueryHeadSplit of them, that many query-head parts at most, the KV
  // heads they use replicated.
  if (f.max_tp > 0) {
    const bool by_heads = f.n_heads > 0 && f.n_heads < f.max_tp;
    const int64_t max_tp = by_heads ? f.n_heads : f.max_tp;
    if (g.tp > max_tp) {
      c.fail(key("tp"),
             "tp " + std::to_string(g.tp) + " exceeds " + std::to_string(max_tp) +
                 ", the largest tensor-parallel group model " + in_quotes(m.name) +
                 " is split for (" +
                 (by_heads ? "each rank needs one of its " + std::to_string(f.n_heads) + " heads"
                           : std::string("a small encoder gains nothing from more ranks")) +
                 ")");
      return;
    }
  }
  const bool decoder_plan = f.max_tp == 0 && f.n_heads > 0 && f.n_kv_heads > 0;
  if (decoder_plan) {
    auto count = [](int64_t n, const char* what) {
      return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
    };
    const int max_tp = default_max_tp(f.n_heads, f.n_kv_heads);
    if (g.tp > max_tp) {
      const std::string heads =
          count(f.n_heads, "query head") + " and " + count(f.n_kv_heads, "KV head");
      const std::string how =
          max_tp == f.n_kv_heads ? "ranks split the KV heads"
                                 : "ranks split the query heads at most " + std::to_string(max_tp) +
                                       " ways, replicating the KV heads they use";
      c.fail(key("tp"), "tp " + std::to_string(g.tp) + " exceeds " + std::to_string(max_tp) +
                            ", the largest tensor-parallel group model " + in_quotes(m.name) +
                            " is split for (" + heads + ": " + how +
                            "; see parallel/shard_plan.h); use tp <= " + std::to_string(max_tp));
      return;
    }
    // The CUDA decoder splits whole KV heads only (model/cuda/cuda_llama_model.cc).
    if (g.backend == Backend::kCuda && g.tp > f.n_kv_heads) {
      c.fail(key("tp"), "tp " + std::to_string(g.tp) + " exceeds the " +
                            count(f.n_kv_heads, "KV head") + " of model " + in_quotes(m.name) +
                            ", and the cuda backend does not replicate KV heads; use tp <= " +
                            std::to_string(f.n_kv_heads) + " or backend: cpu");
      return;
    }
  }
  if (cfg.is_set(key("moe_split")) && f.n_expert == 0) {
    c.fail(key("moe_split"),
           "model " + in_quotes(m.name) + " has no experts (a dense model); leave moe_split out");
    return;
  }
  if (f.n_expert > 0 && g.moe_split == MoeSplit::kExperts && g.tp > f.n_expert) {
    c.fail(key("tp"), "tp " + std::to_string(g.tp) + " exceeds the " + std::to_string(f.n_expert) +
                          " experts of model " + in_quotes(m.name) +
                          ", and each rank holds whole experts; use tp <= " +
                          std::to_string(f.n_expert) + " or moe_split: slices");
    return;
  }
  if (m.task == ModelTask::kEmbed) return;  // an encoder keeps no KV cache
  // The rank with the most KV heads (the shard plan's count: ceil(n_kv_heads / tp), or with
  // replicated KV heads 1 or 2) must hold one sequence of the full context length.
  const int64_t context = m.effective_context_length();
  if (f.n_kv_heads > 0 && f.n_layers > 0 && f.head_dim > 0 && context > 0) {
    const bool planned =
        decoder_plan && f.n_heads % f.n_kv_heads == 0;  // else the loader refuses it
    const int64_t heads =
        planned ? max_kv_heads_per_rank({.n_heads = f.n_heads, .n_kv_heads = f.n_kv_heads}, g.tp)
                : (f.n_kv_heads + g.tp - 1) / g.tp;
    const int64_t block_bytes = f.kv_bytes_per_token(heads) * kKvBlockSize;
    const int64_t tokens = g.kv_cache_mb * kMiB / block_bytes * kKvBlockSize;
    if (tokens < context) {
      const int64_t need_blocks = (context + kKvBlockSize - 1) / kKvBlockSize;
      const int64_t need_mb = (need_blocks * block_bytes + kMiB - 1) / kMiB;
      c.fail(key("kv_cache_mb"),
             std::to_string(g.kv_cache_mb) + " MiB per rank holds " + std::to_string(tokens) +
                 " tokens of model " + in_quotes(m.name) + " at tp " + std::to_string(g.tp) +
                 ", less than one sequence of context_length " + std::to_string(context) +
                 "; raise kv_cache_mb to at least " + std::to_string(need_mb) +
                 " or lower models[" + std::to_string(g.model_index) + "].context_length");
    }
  }
}

template <typename T>
void check_unique_names(const Check& c, const std::vector<T>& items, std::string_view list) {
  std::map<std::string, size_t, std::less<>> first;
  for (size_t i = 0; i < items.size(); ++i) {
    auto [it, inserted] = first.emplace(items[i].name, i);
    if (!inserted)
      c.fail(item_path(list, i, "name"), "duplicate name " + in_quotes(items[i].name) + " (also " +
                                             item_path(list, it->second) + " at " +
                                             c.config.where(item_path(list, it->second, "name")) +
                                             ")");
  }
}

}  // namespace

std::string_view model_task_name(ModelTask task) {
  return task == ModelTask::kChat ? "chat" : "embed";
}

std::string_view backend_name(Backend backend) {
  return backend == Backend::kCpu ? "cpu" : "cuda";
}

std::string ClusterConfig::where(std::string_view key_path) const {
  std::string path(key_path);
  while (!path.empty()) {
    if (auto it = origins.find(path); it != origins.end()) return it->second;
    const size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos) break;
    path.resize(cut);
  }
  return source + ":1";
}

const ModelConfig* ClusterConfig::find_model(std::string_view name) const {
  for (const ModelConfig& m : models)
    if (m.name == name) return &m;
  return nullptr;
}

const GroupConfig* ClusterConfig::find_group(std::string_view name) const {
  for (const GroupConfig& g : groups)
    if (g.name == name) return &g;
  return nullptr;
}

Status validate_cluster_config(ClusterConfig& config) {
  Diagnostics diag;
  const Check c{config, diag};
  if (config.models.empty()) c.fail("models", "at least one model is required");
  if (config.groups.empty()) c.fail("groups", "at least one group is required");
  check_server(c, config.server);
  check_unique_names(c, config.models, "models");
  for (size_t i = 0; i < config.models.size(); ++i) {
    check_model(c, i, config.models[i]);
    check_chat_template(c, i, config.models[i]);
  }
  check_unique_names(c, config.groups, "groups");
  for (size_t i = 0; i < config.groups.size(); ++i) check_group(c, i, config.groups[i]);
  check_knowledge(c, config.knowledge, config.models);
  if (!diag.empty()) return diag.to_error();
  return {};
}

}  // namespace shardserve
