// `shardserve coordinator -c CONFIG`: the HTTP front door. Serves the OpenAI API on
// server.host:server.port and waits for worker groups on server.coordinator_endpoint; runs
// until SIGINT (stops at once) or SIGTERM (drains first: new requests get 503 while those in
// flight finish, up to server.drain_timeout_s). Never an MPI rank, so a crashed worker job
// cannot take it down.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/drain.h"
#include "config/cluster_config.h"
#include "coordinator/coordinator.h"

namespace shardserve::cli {
namespace {

struct CoordinatorOptions {
  std::string config;
  std::vector<std::string> overrides;
};

std::atomic<int> g_signal{0};

int run_coordinator(const CoordinatorOptions& o) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "shardserve coordinator: %s\n", message.c_str());
    return 1;
  };
  auto config = load_cluster_config(o.config, o.overrides);
  if (!config) return fail(config.error().message);
  auto coordinator = Coordinator::start(*config);
  if (!coordinator) return fail(coordinator.error().message);
  Coordinator& c = **coordinator;
  std::signal(SIGINT, [](int sig) { g_signal.store(sig); });
  std::signal(SIGTERM, [](int sig) { g_signal.store(sig); });
  // Signals are acted on here, off the signal handler.
  std::thread watcher([&] {
    while (g_signal.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_signal.load() == SIGTERM) drain(c, config->server.drain_timeout_s, "coordinator");
    c.stop();
  });
  std::fprintf(stderr,
               "shardserve coordinator: OpenAI API on http://%s:%d/v1, worker groups connect to "
               "%s\n",
               config->server.host.c_str(), (*coordinator)->port(),
               (*coordinator)->link().endpoint().c_str());
  c.run();
  if (g_signal.load() == 0) g_signal.store(SIGINT);  // run() ended on its own: end the watcher
  watcher.join();
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
