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
#include "coordinator/group_link.h"
#include "coordinator/serving/http_server.h"
#include "coordinator/serving/served_model.h"

namespace shardserve::cli {
namespace {

struct CoordinatorOptions {
  std::string config;
  std::vector<std::string> overrides;
};

HttpServer* g_server = nullptr;

int run_coordinator(const CoordinatorOptions& o) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "shardserve coordinator: %s\n", message.c_str());
    return 1;
  };
  auto config = load_cluster_config(o.config, o.overrides);
  if (!config) return fail(config.error().message);
  auto models = load_served_models(*config);
  if (!models) return fail(models.error().message);
  auto link = GroupLink::start({.endpoint = config->server.coordinator_endpoint});
  if (!link) return fail(link.error().message);

  std::vector<std::string> group_names;
  for (const GroupConfig& g : config->groups) group_names.push_back(g.name);
  HttpServer server(config->server, **link, *models, group_names);
  if (Status s = server.bind(); !s) return fail(s.message());
  g_server = &server;
  std::signal(SIGINT, [](int) { g_server->stop(); });
  std::signal(SIGTERM, [](int) { g_server->stop(); });
  std::fprintf(stderr,
               "shardserve coordinator: OpenAI API on http://%s:%d/v1, worker groups connect to "
               "%s\n",
               config->server.host.c_str(), server.port(), (*link)->endpoint().c_str());
  server.run();
  g_server = nullptr;
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
