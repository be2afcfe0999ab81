// The cluster description: one YAML file that says how the coordinator serves (server), which
// model files it offers under which OpenAI `model` ids (models), and how worker ranks launched
// by mpirun form tensor-parallel replicas of them (groups).
//
// Loading is strict. Every problem found is reported, one per line of Error::message, and each
// line starts with `FILE:LINE: ` (1-based) followed by the key path, e.g.
//   configs/local.yaml:14: groups[0].tp: expected a positive integer, got "two"
// Unknown keys, wrong types, missing required keys, duplicate keys or names, out-of-range
// values, dangling references, missing files and topologies the model cannot take (tp above
// its KV-head count, a KV budget that cannot hold one full-length sequence) are all errors.
// A valid ClusterConfig therefore names model files that existed and opened when it was
// loaded. Nothing here throws; nothing here is shared between threads (plain values).
//
// Schema (all keys; "-" = required):
//
//   server:                          optional section
//     host: 127.0.0.1                HTTP listen address (string)
//     port: 8080                     HTTP port, 1..65535
//     api_keys: []                   accepted bearer tokens; empty list = no authentication
//     cors_allow_origins: ["*"]      "*" or origins like https://chat.example.com; [] = no CORS
//     max_body_bytes: 1048576        largest request body, 1024..1073741824 (larger: HTTP 413)
//     max_queued_requests: 256       requests waiting for a group, >= 1 (beyond: HTTP 429)
//     request_timeout_s: 600         end-to-end limit per request in seconds, 1..604800
//     drain_timeout_s: 30            on SIGTERM, how long requests in flight may go on while
//                                    new ones get 503, 0..86400
//     failover_timeout_s: 60         when a worker group dies mid-request, how long its
//                                    requests may wait for another replica (or the group's
//                                    restart) to continue them, 0..3600 (0: fail at once)
//     idle_timeout_s: 30             HTTP connections: seconds a connection may take to send a
//                                    complete request header (after it opens, or after its
//                                    previous response) and may stay silent mid-request or
//                                    unread mid-response before it is closed, 1..3600
//     max_connections: 4096          open HTTP connections served, 1..1000000; a connection
//                                    past it gets 503 with Retry-After for its request and
//                                    is closed
//     coordinator_endpoint: tcp://127.0.0.1:5555
//                                    ZeroMQ address the coordinator binds and every group
//                                    leader connects to: tcp://HOST:PORT (a concrete address
//                                    of the coordinator's host, not *) or ipc://PATH
//     web_root: web                  directory of the static chat page; null = no page.
//                                    Default (key absent): `web` under the working directory
//   knowledge:                       optional section: the knowledge base (/v1/files,
//                                    /v1/vector_stores, chat grounded in documents)
//     data_dir: null                 directory of its database, uploads and indexes (created
//                                    when missing); null = no knowledge base (default)
//     embedding_model: null          a models[].name with task embed; default: the first one
//     max_file_bytes: 33554432       largest upload, 1024..4294967296 (larger: HTTP 413)
//     max_files: 10000               files per API key, 1..10000000 (beyond: HTTP 400)
//     max_vector_stores: 1000        vector stores per API key, 1..1000000 (beyond: HTTP 400)
//     chunk_chars: 1000              characters per chunk, 100..100000
//     chunk_overlap_chars: 200       characters repeated from the previous chunk, 0..
//                                    chunk_chars / 2
//   models:                          -  list, at least one
//     - name: smollm2                -  the OpenAI `model` id; unique, no whitespace
//       file: ../models/x.gguf       -  GGUF file (chat or embed), or for embed a .safetensors
//                                       file or a directory holding model.safetensors
//       task: chat                   chat | embed (default chat)
//       context_length: 4096         tokens per sequence; default and maximum: the model's
//                                    trained context (`{arch}.context_length`)
//       chat_template: null          path of a .jinja file overriding the GGUF's template
//                                    (chat models only)
//   groups:                          -  list, at least one; a group is one TP replica
//     - name: smollm2-tp2            -  unique, no whitespace
//       model: smollm2               -  a models[].name
//       tp: 2                        ranks in the group, 1..the model's KV-head count (default 1)
//       backend: cpu                 cpu | cuda (default cpu)
//       threads_per_rank: 1          cpu groups only, 1..1024 (default 1)
//       devices: [0, 1]              cuda groups only and required there: the CUDA device of
//                                    each rank on its host, length == tp, no device twice
//       kv_cache_mb: 256             KV-cache budget per rank in MiB, 1..1048576 (default 256)
//       max_batch: 32                running sequences at most, 1..65536 (default 32)
//       max_batch_tokens: 512        tokens per step at most (prefill chunk), >= max_batch,
//                                    up to 1048576 (default 512)
//       moe_split: experts           mixture-of-experts models only: experts (each rank holds
//                                    whole experts) | slices (each rank a slice of every
//                                    expert) (default experts)
//       max_prefill_tokens_while_decoding: 32
//                                    prompt tokens in a step that also decodes, 1..
//                                    max_batch_tokens (default: max_batch_tokens)
//       prefix_caching: true         reuse cached KV blocks of earlier prompts with the same
//                                    tokens: true | false (default true)
//       speculative_tokens: 4        draft tokens a decode may verify (prompt lookup), 0..16;
//                                    0 turns speculative decoding off (default 4)
//       speculative_max_batch: 4     speculate only while at most this many sequences run,
//                                    1..65536 (default 4)
//
// Relative paths in the file (models[].file, models[].chat_template, server.web_root,
// knowledge.data_dir) resolve
// against the directory of the YAML file, so a config works from any working directory.
// Paths given in command-line overrides resolve against the working directory, like any
// other command-line path. The resolved paths are in the `*_path` fields below.
//
// configs/README.md is the operator-facing reference of the same schema.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "parallel/shard_plan.h"

namespace shardserve {

enum class ModelTask { kChat, kEmbed };
enum class Backend { kCpu, kCuda };
std::string_view model_task_name(ModelTask task);
std::string_view backend_name(Backend backend);

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;
  std::vector<std::string> cors_allow_origins = {"*"};
  int64_t max_body_bytes = 1048576;
  int max_queued_requests = 256;
  int request_timeout_s = 600;
  int drain_timeout_s = 30;     // SIGTERM: how long requests in flight may go on
  int idle_timeout_s = 30;      // HTTP header deadline and inactivity timeout per connection
  int max_connections = 4096;   // open HTTP connections served; past it: 503
  int failover_timeout_s = 60;  // a group died: how long its requests wait for another
  std::string coordinator_endpoint = "tcp://127.0.0.1:5555";
  std::string web_root = "web";       // as written; empty = no web page (null in YAML)
  std::string web_root_path = "web";  // resolved; empty = no web page
};

struct KnowledgeConfig {
  std::string data_dir;         // as written; empty = no knowledge base
  std::string data_dir_path;    // resolved
  std::string embedding_model;  // as configured; validation fills in the default
  int64_t max_file_bytes = int64_t{32} << 20;
  int64_t max_files = 10000;
  int64_t max_vector_stores = 1000;
  int64_t chunk_chars = 1000;
  int64_t chunk_overlap_chars = 200;

  bool enabled() const { return !data_dir_path.empty(); }
};

// What validation read from a model file; zero/empty where the file does not say.
struct ModelFacts {
  std::string architecture;     // general.architecture
  int64_t n_layers = 0;         // {arch}.block_count
  int64_t n_heads = 0;          // {arch}.attention.head_count
  int64_t n_kv_heads = 0;       // {arch}.attention.head_count_kv, else n_heads
  int64_t head_dim = 0;         // {arch}.attention.key_length, else embedding_length / n_heads
  int64_t trained_context = 0;  // {arch}.context_length; embedding models: max_seq_length
  int max_tp = 0;               // largest tp the engine splits this model for; 0: no limit
  bool has_chat_template = false;
  int64_t n_expert = 0;  // {arch}.expert_count: experts of a mixture-of-experts model; 0: dense

  // Bytes of f16 K and V per token position on a rank that holds `kv_heads` KV heads
  // (the layout of model/kv_cache: 2 x layers x kv_heads x head_dim x 2 bytes).
  int64_t kv_bytes_per_token(int64_t kv_heads) const {
    return 2 * n_layers * kv_heads * head_dim * 2;
  }
};

struct ModelConfig {
  std::string name;
  std::string file;  // as written
  std::string path;  // resolved (see above)
  ModelTask task = ModelTask::kChat;
  int64_t context_length = 0;  // as configured; 0 = the model's trained context
  std::string chat_template;   // as written; empty = the GGUF's own template
  std::string chat_template_path;
  ModelFacts facts;  // filled by validation

  // The context length in force: the configured one, else the trained one.
  int64_t effective_context_length() const {
    return context_length > 0 ? context_length : facts.trained_context;
  }
};

struct GroupConfig {
  std::string name;
  std::string model;     // a ModelConfig::name
  int model_index = -1;  // index into ClusterConfig::models, filled by validation
  int tp = 1;
  Backend backend = Backend::kCpu;
  int threads_per_rank = 1;  // cpu only
  std::vector<int> devices;  // cuda only: devices[rank]
  int64_t kv_cache_mb = 256;
  int max_batch = 32;
  int max_batch_tokens = 512;
  int max_prefill_tokens_while_decoding = 0;  // 0: not set, max_batch_tokens applies
  MoeSplit moe_split = MoeSplit::kExperts;    // mixture-of-experts models only
  bool prefix_caching = true;                 // reuse the KV blocks of cached prompt prefixes
  int speculative_tokens = 4;                 // draft tokens per decode (prompt lookup); 0: off
  int speculative_max_batch = 4;              // speculate only with this many sequences running

  // The CUDA device (as numbered on its host) that rank `rank` of a cuda group computes on:
  // devices[rank]. -1 for a cpu group or a rank outside the list (validation rules out the
  // latter for cuda groups: one distinct device per rank).
  int device_of_rank(int rank) const {
    if (backend != Backend::kCuda || rank < 0 || rank >= static_cast<int>(devices.size()))
      return -1;
    return devices[static_cast<size_t>(rank)];
  }
};

struct ClusterConfig {
  std::string source;    // the YAML file as named by the caller (used in messages)
  std::string base_dir;  // directory relative paths in the file resolve against
  ServerConfig server;
  KnowledgeConfig knowledge;
  std::vector<ModelConfig> models;
  std::vector<GroupConfig> groups;

  // Where each key that was given came from: key path ("groups[0].tp", "groups[0]") ->
  // "FILE:LINE", or `override "KEY=VALUE"` for keys set by apply_override. A key absent here
  // took its default.
  std::map<std::string, std::string, std::less<>> origins;

  // The origin of `key_path`, else of its nearest given parent, else "FILE:1".
  std::string where(std::string_view key_path) const;
  bool is_set(std::string_view key_path) const { return origins.count(key_path) != 0; }
  // nullptr if no model / group has that name.
  const ModelConfig* find_model(std::string_view name) const;
  const GroupConfig* find_group(std::string_view name) const;
};

// Reads, parses and validates the YAML file at `path` (including the model files it names).
// On failure the Error lists every problem found, one per line, each starting "FILE:LINE: ".
Result<ClusterConfig> load_cluster_config(const std::string& path);
// The same, with command-line overrides ("KEY=VALUE", see apply_override) applied before
// validation, so an override may repair a value the file gets wrong.
Result<ClusterConfig> load_cluster_config(const std::string& path,
                                          const std::vector<std::string>& overrides);
// The same for YAML text already in memory; `source_name` stands for the file in messages
// and its directory is where relative paths resolve (the working directory if it has none).
Result<ClusterConfig> parse_cluster_config(std::string_view yaml_text,
                                           const std::string& source_name);

// Checks everything that involves more than one key, the file system or the model files, and
// fills GroupConfig::model_index and ModelConfig::facts. load/parse call it; call it again
// after editing a ClusterConfig by hand. Every problem is reported, one per line.
Status validate_cluster_config(ClusterConfig& config);

// Sets one value from the command line: "server.port=9000", "groups[0].tp=2",
// "groups[smollm2-tp2].kv_cache_mb=512", "models[0].context_length=2048". The value is read
// as YAML, so lists may be given in flow form ("groups[0].devices=[0,1]"); keys that hold
// sections or list entries cannot be replaced. The value gets the same checks as in the file,
// then the whole config is validated again. On error `config` is unchanged and every message
// line names the override (`override "server.port=0": server.port: ...`).
Status apply_override(ClusterConfig& config, std::string_view assignment);
// Several overrides applied together and validated once, for values that must change
// together ("groups[0].tp=8", "groups[0].devices=[0,1,2,3,4,5,6,7]"). All or nothing; lines of
// errors the overrides cause elsewhere start `overrides "A", "B": `.
Status apply_overrides(ClusterConfig& config, const std::vector<std::string>& assignments);

// Ranks of one group in an mpirun job: world ranks [first_rank, first_rank + tp).
struct GroupPlacement {
  int group_index = 0;  // into ClusterConfig::groups
  int first_rank = 0;
  int tp = 1;
  bool operator==(const GroupPlacement&) const = default;
};

// Assigns the world ranks of one mpirun job to groups: the selected groups (all when
// `only_groups` is empty, else those named, which must exist and not repeat) take consecutive
// ranks in file order, group 0 first. Error unless `world_size` equals the sum of their tp;
// the message gives both numbers and the `mpirun -np N` to use.
Result<std::vector<GroupPlacement>> place_groups(const ClusterConfig& config, int world_size,
                                                 const std::vector<std::string>& only_groups);
// The placement holding `world_rank`, or nullptr.
const GroupPlacement* placement_of_rank(const std::vector<GroupPlacement>& placements,
                                        int world_rank);

}  // namespace shardserve
