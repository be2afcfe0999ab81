// `shardserve coordinator -c CONFIG`: the HTTP front door. Serves the OpenAI API on
// server.host:server.port and waits for worker groups on server.coordinator_endpoint; runs
// until SIGINT/SIGTERM. Never an MPI rank, so a crashed worker job cannot take it down.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "config/cluster_config.h"
#include "coordinator/coordinator.h"

namespace shardserve::cli {
namespace {

struct CoordinatorOptions {
  std::string config;
  std::vector<std::string> overrides;
};

Coordinator* g_coordinator = nullptr;

int run_coordinator(const CoordinatorOptions& o) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "shardserve coordinator: %s\n", message.c_str());
    return 1;
  };
  auto config = load_cluster_config(o.config, o.overrides);
  if (!config) return fail(config.error().message);
  auto coordinator = Coordinator::start(*config);
  if (!coordinator) return fail(coordinator.error().message);
  g_coordinator = coordinator->get();
  std::signal(SIGINT, [](int) { g_coordinator->stop(); });
  std::signal(SIGTERM, [](int) { g_coordinator->stop(); });
  std::fprintf(stderr,
               "shardserve coordinator: OpenAI API on http://%s:%d/v1, worker groups connect to "
               "%s\n",
               config->server.host.c_str(), (*coordinator)->port(),
               (*coordinator)->link().endpoint().c_str());
  (*coordinator)->run();
  g_coordinator = nullptr;
  std::fprintf(stderr, "shardserve coordinator: stopped\n");
  return 0;
}

}  // namespace

void add_coordinator_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<CoordinatorOptions>();
  CLI::App* cmd = app.add_subcommand("coordinator", "Serve the OpenAI API over the worker groups");
  cmd->add_option("-c,--config", options->config, "Cluster YAML file")->required();
  cmd->add_option("--set", options->overrides, "Override one config value, e.g. server.port=9000");
  cmd->callback([options, &exit_code] { exit_code = run_coordinator(*options); });
}

}  // namespace shardserve::cli
