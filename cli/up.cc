// `shardserve up -c CONFIG`: a whole local cluster with one command. Runs the coordinator in
// this process and the worker groups as one `mpirun` job (a child process), waits until
// every chat model has a live group, prints the URLs, and serves until Ctrl-C (SIGINT) or
// SIGTERM, then stops the workers and exits 0. If the worker job dies it exits non-zero, so
// a supervisor such as systemd restarts the cluster.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "config/cluster_config.h"
#include "coordinator/coordinator.h"

extern char** environ;

namespace shardserve::cli {
namespace {

struct UpOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string mpirun = "mpirun";
  double ready_timeout_s = 120;
};

std::atomic<bool> g_stop{false};

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "shardserve";
}

// Starts `mpirun ... shardserve worker -c CONFIG --set ...`; returns its pid or -1.
pid_t spawn_workers(const UpOptions& o, int world_size) {
  // No binding: Open MPI binds each rank to one core when there are at most two ranks, which
  // would put all of a rank's threads (threads_per_rank) on a single core.
  std::vector<std::string> args = {o.mpirun,          "-np",       std::to_string(world_size),
                                   "--oversubscribe", "--bind-to", "none"};
  if (::geteuid() == 0) args.push_back("--allow-run-as-root");
  for (const std::string& a : {self_exe(), std::string("worker"), std::string("-c"), o.config})
    args.push_back(a);
  for (const std::string& s : o.overrides) {
    args.push_back("--set");
    args.push_back(s);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

int run_up(const UpOptions& o) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "shardserve up: %s\n", message.c_str());
    return 1;
  };
  auto config = load_cluster_config(o.config, o.overrides);
  if (!config) return fail(config.error().message);
  auto placements = place_groups(*config,
                                 [&] {
                                   int total = 0;
                                   for (const GroupConfig& g : config->groups) total += g.tp;
                                   return total;
                                 }(),
                                 {});
  if (!placements) return fail(placements.error().message);
  int world_size = 0;
  for (const GroupPlacement& p : *placements) world_size += p.tp;

  auto started = Coordinator::start(*config);
  if (!started) return fail(started.error().message);
  Coordinator& coordinator = **started;
  std::thread http([&] { coordinator.run(); });

  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop.store(true); };
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  const pid_t workers = spawn_workers(o, world_size);
  int status = 0;
  if (workers < 0) {
    status = fail("cannot start " + o.mpirun + ": is Open MPI installed (scripts/install-deps)?");
  } else {
    // Ready when every chat model has a live group.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(o.ready_timeout_s);
    bool ready = false, announced = false;
    while (!g_stop.load()) {
      int wstatus = 0;
      if (::waitpid(workers, &wstatus, WNOHANG) == workers) {
        status = fail("the worker job (mpirun) exited" +
                      std::string(WIFEXITED(wstatus)
                                      ? " with status " + std::to_string(WEXITSTATUS(wstatus))
                                      : " on a signal") +
                      "; stopping");
        break;
      }
      if (!ready) {
        ready = coordinator.chat_models_live();
        if (!ready && std::chrono::steady_clock::now() > deadline) {
          status = fail("the worker groups did not register within " +
                        std::to_string(static_cast<int>(o.ready_timeout_s)) + " s");
          break;
        }
      }
      if (ready && !announced) {
        const std::string base =
            "http://" + config->server.host + ":" + std::to_string(coordinator.port());
        std::fprintf(stderr,
                     "shardserve up: ready. Chat page %s/  OpenAI API %s/v1  (Ctrl-C stops)\n",
                     base.c_str(), base.c_str());
        announced = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (::waitpid(workers, nullptr, WNOHANG) == 0) {
      ::kill(workers, SIGTERM);  // mpirun forwards it to the ranks
      for (int i = 0; i < 100 && ::waitpid(workers, nullptr, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (::waitpid(workers, nullptr, WNOHANG) == 0) {
        ::kill(workers, SIGKILL);
        ::waitpid(workers, nullptr, 0);
      }
    }
  }
  coordinator.stop();
  http.join();
  std::fprintf(stderr, "shardserve up: stopped\n");
  return status;
}

}  // namespace

void add_up_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<UpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "up", "Start a local cluster: the coordinator here and the worker groups under mpirun");
  cmd->add_option("-c,--config", options->config, "Cluster YAML file")->required();
  cmd->add_option("--set", options->overrides, "Override one config value, e.g. server.port=9000");
  cmd->add_option("--mpirun", options->mpirun, "The mpirun to use");
  cmd->add_option("--ready-timeout", options->ready_timeout_s,
                  "Seconds to wait for the worker groups to register");
  cmd->callback([options, &exit_code] { exit_code = run_up(*options); });
}

}  // namespace shardserve::cli
