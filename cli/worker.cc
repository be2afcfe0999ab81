// `shardserve worker -c CONFIG`: one MPI rank of one worker group, started by mpirun.
// The job's ranks are split into the config's groups (in file order); each loads its shard.
// Each group's leader connects to the coordinator named in the config (server.
// coordinator_endpoint) and serves its requests; with --offline it runs the requests of a
// JSON-lines file instead (see worker/offline.h) and prints the results.
#include <mpi.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/cuda_group.h"
#include "config/cluster_config.h"
#include "model/bert/bert_model.h"
#include "model/gguf/gguf.h"
#include "model/llama/llama_model.h"
#include "model/rank_model.h"
#include "model/safetensors/safetensors.h"
#include "model/tokenizer/tokenizer.h"
#include "parallel/mpi_env.h"
#include "worker/gpu_readings.h"
#include "worker/group.h"
#include "worker/offline.h"
#include "worker/serve.h"
#include "worker/serve_embed.h"

namespace shardserve::cli {
namespace {

struct WorkerOptions {
  std::string config;
  std::vector<std::string> groups;
  std::vector<std::string> overrides;
  std::string offline;
  double collective_timeout_s = 60.0;
};

// Resident memory of this process in MiB (VmRSS), or -1.
double resident_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

// Prints every rank's resident memory from the group leader.
void report_memory(MPI_Comm comm, const std::string& group, const char* when) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  double mine = resident_mib();
  std::vector<double> all(size);
  MPI_Gather(&mine, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, 0, comm);
  if (rank != 0) return;
  for (int r = 0; r < size; ++r)
    std::fprintf(stderr, "group %s rank %d/%d: resident memory %s %.1f MiB\n", group.c_str(), r,
                 size, when, all[r]);
}

// Runs the offline requests on the leader and prints its speed and the time spent combining the
// ranks' partial results (gathers of segment partials and LM-head slices).
void run_offline_and_report(GroupMember& member, const Tokenizer& tokenizer,
                            const SchedulerLimits& limits, std::istream& in,
                            const std::string& group_name) {
  const OfflineStats stats = run_offline(member, tokenizer, limits, in, std::cout);
  std::fprintf(stderr,
               "group %s (tp %d): %lld prompt + %lld generated tokens in %lld steps, %.3f s "
               "(%.1f generated tokens/s)\n",
               group_name.c_str(), member.tp(), static_cast<long long>(stats.prompt_tokens),
               static_cast<long long>(stats.generated_tokens), static_cast<long long>(stats.steps),
               stats.seconds, stats.generated_tokens / std::max(stats.seconds, 1e-9));
  std::fprintf(stderr,
               "group %s (tp %d): sampling %.3f s; %lld tokens under a grammar, %lld of them "
               "masked\n",
               group_name.c_str(), member.tp(), stats.sampling_seconds,
               static_cast<long long>(stats.constrained_samples),
               static_cast<long long>(stats.masked_samples));
  std::fprintf(stderr,
               "group %s (tp %d): prefix cache %lld of %lld prompt tokens; speculation %lld of "
               "%lld draft tokens accepted\n",
               group_name.c_str(), member.tp(), static_cast<long long>(stats.prefix.hit_tokens),
               static_cast<long long>(stats.prefix.prompt_tokens),
               static_cast<long long>(stats.spec.accepted),
               static_cast<long long>(stats.spec.proposed));
  const GroupMember::ReduceStats reduce = member.reduce_stats();
  std::fprintf(
      stderr, "group %s (tp %d): combining ranks %.3f s in %lld calls (%.1f us per step)\n",
      group_name.c_str(), member.tp(), reduce.seconds, static_cast<long long>(reduce.calls),
      1e6 * reduce.seconds / static_cast<double>(std::max<int64_t>(stats.steps, 1)));
}

std::atomic<bool> g_stop{false};

// Serves requests from the coordinator named by the config until it says Shutdown or the
// process gets SIGINT/SIGTERM: text generation, or embeddings for an embed model. Returns the
// exit status.
int serve_coordinator(GroupMember& member, const ClusterConfig& config, const GroupConfig& group,
                      ModelTask task, const SchedulerLimits& limits,
                      const Tokenizer* tokenizer = nullptr) {
  std::signal(SIGINT, [](int) { g_stop.store(true); });
  std::signal(SIGTERM, [](int) { g_stop.store(true); });
  CoordinatorLinkOptions options;
  options.endpoint = config.server.coordinator_endpoint;
  options.hello = {.group_name = group.name,
                   .model = group.model,
                   .tp = member.tp(),
                   .max_batch = limits.max_batch,
                   .kv_blocks = std::max<int64_t>(limits.kv_blocks, 1),
                   .block_size = std::max<int64_t>(limits.block_size, 1),
                   .context_length = limits.context_length,
                   .n_vocab = limits.n_vocab};
  // A cuda group's leader reports its GPUs (those its host's NVML sees) in each heartbeat.
  if (group.backend == Backend::kCuda && !group.devices.empty()) {
    auto gpus = std::make_shared<const GroupGpuReader>(group.devices);
    if (!gpus->unavailable().empty())
      std::fprintf(stderr, "group %s: no GPU metrics: %s\n", group.name.c_str(),
                   gpus->unavailable().c_str());
    options.read_gpus = [gpus] { return gpus->read(); };
  }
  auto link = CoordinatorLink::start(options);
  if (!link) {
    std::fprintf(stderr, "shardserve worker: %s\n", link.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "group %s (tp %d): serving model %s for the coordinator at %s\n",
               group.name.c_str(), member.tp(), group.model.c_str(), options.endpoint.c_str());
  if (task == ModelTask::kEmbed) {
    const ServeStats stats = serve_embeddings(member, **link,
                                              {.max_batch = limits.max_batch,
                                               .max_batch_tokens = limits.max_batch_tokens,
                                               .max_tokens = limits.context_length,
                                               .n_vocab = limits.n_vocab},
                                              g_stop);
    std::fprintf(stderr, "group %s: %lld inputs, %lld tokens embedded in %lld steps\n",
                 group.name.c_str(), static_cast<long long>(stats.requests),
                 static_cast<long long>(stats.prompt_tokens), static_cast<long long>(stats.steps));
    return 0;
  }
  // Grammar-constrained decoding (response_format, tools) over the chat model's vocabulary.
  std::optional<GrammarConstraints> grammars;
  if (tokenizer) grammars.emplace(*tokenizer);
  const ServeStats stats = serve(member, **link, limits, g_stop, grammars ? &*grammars : nullptr);
  std::fprintf(stderr, "group %s: %lld requests, %lld generated tokens in %lld steps\n",
               group.name.c_str(), static_cast<long long>(stats.requests),
               static_cast<long long>(stats.generated_tokens), static_cast<long long>(stats.steps));
  return 0;
}

// The files of a group's model, open while the group runs: its shard reads its weights from
// them, and the leader its tokenizer.
struct ModelFiles {
  std::unique_ptr<gguf::File> gguf;                // chat models
  std::unique_ptr<safetensors::File> safetensors;  // embedding models
  BertConfig bert;                                 // embedding models
};

// A chat model is a GGUF file; an embedding model a sentence-transformers directory or the
// model.safetensors inside one.
Result<ModelFiles> open_model_files(const ModelConfig& model) {
  namespace fs = std::filesystem;
  const std::string& path = model.path;
  if (model.task == ModelTask::kChat) {
    auto file = gguf::File::open(path);
    if (!file) return file.error();
    return ModelFiles{.gguf = std::move(*file)};
  }
  const bool is_dir = fs::is_directory(path);
  const std::string dir = is_dir ? path : fs::path(path).parent_path().string();
  const std::string weights = is_dir ? (fs::path(path) / "model.safetensors").string() : path;
  if (!is_dir && fs::path(path).extension() != ".safetensors")
    return Error{path +
                 ": embedding models are loaded from a sentence-transformers directory "
                 "(model.safetensors + config.json); GGUF encoders are not supported"};
  auto config = read_bert_config(dir);
  if (!config) return config.error();
  auto file = safetensors::File::open(weights);
  if (!file) return file.error();
  return ModelFiles{.safetensors = std::move(*file), .bert = std::move(*config)};
}

// Rank `rank` of `tp` of the model in `files`, as the one RankModel the group runs: a BERT
// encoder from safetensors, a Llama-family decoder on the CPU from GGUF, or for a cuda group the
// decoder on the rank's GPU (cli/cuda_group.h; collective over `comm` for tp > 1).
Result<std::unique_ptr<RankModel>> load_rank_model(MPI_Comm comm, const ModelFiles& files,
                                                   const GroupConfig& group,
                                                   const ModelConfig& model, int tp, int rank,
                                                   double collective_timeout_s) {
  if (group.backend == Backend::kCuda)
    return load_cuda_rank_model(comm, *files.gguf, tp, rank,
                                {.device = group.device_of_rank(rank),
                                 .context_length = model.effective_context_length(),
                                 .max_step_tokens = group.max_batch_tokens,
                                 .max_step_chunks = group.max_batch,
                                 .collective_timeout_s = collective_timeout_s});
  const MoeSplit moe_split = group.moe_split;
  if (files.safetensors) {
    auto encoder = BertModel::load(*files.safetensors, files.bert, tp, rank);
    if (!encoder) return encoder.error();
    return std::unique_ptr<RankModel>(std::move(*encoder));
  }
  auto decoder = LlamaModel::load(*files.gguf, tp, rank, LlamaArithmetic::kFastest, moe_split);
  if (!decoder) return decoder.error();
  return std::unique_ptr<RankModel>(std::move(*decoder));
}

// What the leader schedules with: the group's limits, its KV cache (none for an encoder) and
// the context length in force.
SchedulerLimits scheduler_limits(const GroupMember& member, const GroupConfig& group,
                                 const ModelConfig& model, int64_t n_vocab) {
  return {.max_batch = group.max_batch,
          .max_batch_tokens = group.max_batch_tokens,
          .max_prefill_tokens_while_decoding = group.max_prefill_tokens_while_decoding,
          .kv_blocks = member.kv_blocks(),
          .block_size = member.block_size(),
          .context_length = model.effective_context_length(),
          .n_vocab = n_vocab,
          .prefix_caching = group.prefix_caching,
          .spec_max_draft = group.speculative_tokens,
          .spec_max_batch = group.speculative_max_batch};
}

int run_worker(int argc, char** argv, const WorkerOptions& o) {
  auto env_result = MpiEnv::init(&argc, &argv);
  if (!env_result) {
    std::fprintf(stderr, "shardserve worker: %s\n", env_result.error().message.c_str());
    return 1;
  }
  std::unique_ptr<MpiEnv> env(*env_result);
  auto fail = [&](const std::string& message) {
    std::fprintf(stderr, "shardserve worker (rank %d): %s\n", env->world_rank(), message.c_str());
    return 1;
  };

  auto config = load_cluster_config(o.config, o.overrides);
  if (!config) return fail(config.error().message);
  auto placements = place_groups(*config, env->world_size(), o.groups);
  if (!placements) return fail(placements.error().message);
  const GroupPlacement* mine = placement_of_rank(*placements, env->world_rank());
  if (!mine) return fail("no group holds this rank");
  MPI_Comm comm = env->split(mine->group_index);
  const GroupConfig& group = config->groups[mine->group_index];
  const ModelConfig& model = config->models[group.model_index];
  if (group.backend == Backend::kCuda) {
    // Every rank of the group refuses alike, before any collective call: nobody waits.
    if (std::optional<std::string> why = cuda_backend_missing())
      return fail("group " + group.name + ": backend: cuda: " + *why);
    if (model.task != ModelTask::kChat)
      return fail("group " + group.name + ": backend: cuda runs chat models (Llama-family GGUF); " +
                  "model " + model.name + " is an embedding model: use backend: cpu");
  }
  if (model.task == ModelTask::kEmbed && !o.offline.empty())
    return fail("--offline runs chat models only");

  auto files = open_model_files(model);
  if (!files) return fail(files.error().message);
  auto member = GroupMember::create(comm,
                                    [&](int tp, int rank) {
                                      return load_rank_model(comm, *files, group, model, tp, rank,
                                                             o.collective_timeout_s);
                                    },
                                    {.threads = group.threads_per_rank,
                                     .kv_cache_bytes = group.kv_cache_mb << 20,
                                     .block_size = 16,
                                     .collective_timeout_s = o.collective_timeout_s});
  if (!member) return fail(member.error().message);
  report_memory(comm, group.name, "after load");

  int status = 0;
  if (!(*member)->is_leader()) {
    // mpirun passes SIGINT/SIGTERM to every rank; the leader then ends the group with a
    // shutdown plan that followers must live to read (a leader that is gone ends them through
    // the collective timeout, and mpirun follows a TERM with a KILL).
    if (o.offline.empty()) {
      std::signal(SIGINT, SIG_IGN);
      std::signal(SIGTERM, SIG_IGN);
    }
    if (Status s = (*member)->follow(); !s) status = fail(s.message());
  } else if (model.task == ModelTask::kEmbed) {
    const SchedulerLimits limits = scheduler_limits(**member, group, model, files->bert.n_vocab);
    status = serve_coordinator(**member, *config, group, model.task, limits);
  } else {
    auto tokenizer = Tokenizer::from_gguf(*files->gguf);
    if (!tokenizer) return fail(tokenizer.error().message);
    const SchedulerLimits limits =
        scheduler_limits(**member, group, model, (*tokenizer)->n_vocab());
    if (o.offline.empty()) {
      status = serve_coordinator(**member, *config, group, model.task, limits, tokenizer->get());
    } else {
      std::ifstream file_in;
      if (o.offline != "-") {
        file_in.open(o.offline);
        if (!file_in) return fail("cannot read " + o.offline);
      }
      std::istream& in = o.offline == "-" ? std::cin : file_in;
      run_offline_and_report(**member, **tokenizer, limits, in, group.name);
    }
  }
  report_memory(comm, group.name, "at exit");
  member->reset();
  MPI_Comm_free(&comm);
  return status;
}

}  // namespace

void add_worker_command(CLI::App& app, int& exit_code, int argc, char** argv) {
  auto options = std::make_shared<WorkerOptions>();
  CLI::App* cmd = app.add_subcommand("worker", "Run one MPI rank of a worker group (under mpirun)");
  cmd->add_option("-c,--config", options->config, "Cluster YAML file")->required();
  cmd->add_option("--group", options->groups,
                  "Run only these groups (by name; default: all, in file order)");
  cmd->add_option("--set", options->overrides, "Override one config value, e.g. groups[0].tp=3");
  cmd->add_option("--offline", options->offline,
                  "Run the requests of a JSON-lines file ('-' for stdin) instead of serving");
  cmd->add_option("--collective-timeout", options->collective_timeout_s,
                  "Seconds a rank waits for its peers inside a step before it gives up")
      ->check(CLI::Range(0.1, 86400.0));
  cmd->callback(
      [options, &exit_code, argc, argv] { exit_code = run_worker(argc, argv, *options); });
}

}  // namespace shardserve::cli
