// `shardserve up -c CONFIG`: a whole local cluster with one command. Runs the coordinator in
// this process and each worker group as its own `mpirun` job (cli/group_jobs.h), waits until
// every chat model has a live group, prints the URLs, and serves until Ctrl-C (SIGINT) or
// SIGTERM (which drains first: cli/drain.h), then stops the workers and exits 0. A group's job
// that ends (a rank crashed, or hung past the step timeout) is started again with backoff while
// the coordinator and the other groups keep serving; each exit and restart is logged and
// counted in /metrics. Start-up fails (non-zero exit) only if the chat models do not all get a
// live group within --ready-timeout.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/drain.h"
#include "cli/group_jobs.h"
#include "config/cluster_config.h"
#include "coordinator/coordinator.h"

namespace shardserve::cli {
namespace {

struct UpOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string mpirun = "mpirun";
  double ready_timeout_s = 120;
};

std::atomic<int> g_signal{0};  // SIGINT: stop now; SIGTERM: drain, then stop

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "shardserve";
}

// The executable a group's ranks run: this one, or for a cuda group shardserve-cuda beside it
// (cli/CMakeLists.txt: `shardserve` leaves the CUDA libraries out). Where there is none, this
// one, whose ranks then say why they cannot run the group.
std::string worker_exe(Backend backend) {
  const std::string self = self_exe();
  if (backend != Backend::kCuda) return self;
  const std::filesystem::path cuda = std::filesystem::path(self).parent_path() / "shardserve-cuda";
  return ::access(cuda.c_str(), X_OK) == 0 ? cuda.string() : self;
}

// `mpirun ... shardserve worker -c CONFIG --group NAME --set ...` for one group of `tp` ranks.
std::vector<std::string> group_job_argv(const UpOptions& o, const GroupConfig& g) {
  const std::string& group = g.name;
  const int tp = g.tp;
  // No binding: Open MPI binds each rank to one core when there are at most two ranks, which
  // would put all of a rank's threads (threads_per_rank) on a single core.
  std::vector<std::string> args = {o.mpirun,          "-np",       std::to_string(tp),
                                   "--oversubscribe", "--bind-to", "none"};
  if (::geteuid() == 0) args.push_back("--allow-run-as-root");
  for (const std::string& a : {worker_exe(g.backend), std::string("worker"), std::string("-c"),
                               o.config, std::string("--group"), group})
    args.push_back(a);
  for (const std::string& s : o.overrides) {
    args.push_back("--set");
    args.push_back(s);
  }
  return args;
}

int run_up(const UpOptions& o) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "shardserve up: %s\n", message.c_str());
    return 1;
  };
  auto config = load_cluster_config(o.config, o.overrides);
  if (!config) return fail(config.error().message);
  std::vector<GroupJobs::Job> jobs;
  for (const GroupConfig& g : config->groups)
    jobs.push_back({.group = g.name, .argv = group_job_argv(o, g)});
  GroupJobs workers(std::move(jobs));

  auto started = Coordinator::start(*config);
  if (!started) return fail(started.error().message);
  Coordinator& coordinator = **started;
  std::thread http([&] { coordinator.run(); });

  struct sigaction sa {};
  sa.sa_handler = [](int sig) { g_signal.store(sig); };
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  int status = 0;
  if (Status started_jobs = workers.start(); !started_jobs) {
    status = fail(started_jobs.message() + ": is Open MPI installed (scripts/install-deps)?");
  } else {
    // Ready when every chat model has a live group.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(o.ready_timeout_s);
    bool ready = false, announced = false;
    while (g_signal.load() == 0) {
      for (const GroupJobs::Event& e : workers.poll()) {
        const double backoff_s = static_cast<double>(e.backoff.count()) / 1000.0;
        switch (e.kind) {
          case GroupJobs::Event::Kind::kEnded:
            coordinator.record_group_job_exit(e.group, e.exit);
            std::fprintf(stderr,
                         "shardserve up: the job of group %s %s; the other groups keep "
                         "serving; starting it again in %.1f s\n",
                         e.group.c_str(), e.exit.c_str(), backoff_s);
            break;
          case GroupJobs::Event::Kind::kRestarted:
            coordinator.record_group_job_restart(e.group);
            std::fprintf(stderr, "shardserve up: group %s started again (restart %lld)\n",
                         e.group.c_str(), static_cast<long long>(e.restarts));
            break;
          case GroupJobs::Event::Kind::kRestartFailed:
            std::fprintf(stderr,
                         "shardserve up: cannot start %s for group %s; trying again in %.1f s\n",
                         o.mpirun.c_str(), e.group.c_str(), backoff_s);
            break;
        }
      }
      // A group the coordinator declared dead while its job runs on hangs (a leader that
      // stopped, a one-rank group): end the job, and it is started again like any other.
      for (const LostGroup& lost : coordinator.link().take_lost_groups())
        if (lost.silent && workers.end_job(lost.group_name, lost.at, std::chrono::seconds(10)))
          std::fprintf(stderr,
                       "shardserve up: group %s was declared dead (%s) but its job runs on; "
                       "ending it\n",
                       lost.group_name.c_str(), lost.reason.c_str());
      if (!ready) {
        ready = coordinator.chat_models_live();
        if (!ready && std::chrono::steady_clock::now() > deadline) {
          status = fail("the worker groups did not register within " +
                        std::to_string(static_cast<int>(o.ready_timeout_s)) +
                        " s (their output above says why)");
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
  }
  if (g_signal.load() == SIGTERM) drain(coordinator, config->server.drain_timeout_s, "up");
  workers.stop(std::chrono::seconds(10));
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
