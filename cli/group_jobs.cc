#include "cli/group_jobs.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <thread>

extern char** environ;

namespace shardserve::cli {

std::string describe_exit(int wait_status) {
  if (WIFEXITED(wait_status))
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    return "killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
  }
  return "ended (wait status " + std::to_string(wait_status) + ")";
}

GroupJobs::GroupJobs(std::vector<Job> jobs, Backoff backoff) : backoff_(backoff) {
  for (Job& job : jobs) {
    Running r;
    r.job = std::move(job);
    r.next_backoff = backoff_.initial;
    jobs_.push_back(std::move(r));
  }
}

GroupJobs::~GroupJobs() {
  stop(std::chrono::milliseconds(0));
}

pid_t GroupJobs::spawn(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawnp(&pid, raw[0], nullptr, nullptr, raw.data(), environ) != 0) return -1;
  return pid;
}

Status GroupJobs::start() {
  for (Running& r : jobs_) {
    if (r.pid > 0) continue;
    r.pid = spawn(r.job.argv);
    r.started = Clock::now();
    if (r.pid < 0) return Error{"cannot start " + r.job.argv.at(0) + " for group " + r.job.group};
  }
  return {};
}

std::vector<GroupJobs::Event> GroupJobs::poll() {
  std::vector<Event> events;
  const Clock::time_point now = Clock::now();
  for (Running& r : jobs_) {
    int status = 0;
    if (r.pid > 0 && r.kill_at && now >= *r.kill_at) {
      ::kill(r.pid, SIGKILL);
      r.kill_at.reset();
    }
    if (r.pid > 0 && ::waitpid(r.pid, &status, WNOHANG) == r.pid) {
      r.pid = -1;
      r.kill_at.reset();
      // A job that ran long enough was healthy: its exit starts the backoff over.
      if (now - r.started >= backoff_.stable) r.next_backoff = backoff_.initial;
      r.restart_at = now + r.next_backoff;
      events.push_back({.kind = Event::Kind::kEnded,
                        .group = r.job.group,
                        .exit = describe_exit(status),
                        .restarts = r.restarts,
                        .backoff = r.next_backoff});
      r.next_backoff = std::min(backoff_.max, r.next_backoff * 2);
    }
    if (r.pid < 0 && r.restart_at && now >= *r.restart_at) {
      r.restart_at.reset();
      r.pid = spawn(r.job.argv);
      r.started = now;
      if (r.pid > 0) {
        ++r.restarts;
        events.push_back({.kind = Event::Kind::kRestarted,
                          .group = r.job.group,
                          .exit = {},
                          .restarts = r.restarts,
                          .backoff = std::chrono::milliseconds(0)});
      } else {
        r.restart_at = now + r.next_backoff;
        events.push_back({.kind = Event::Kind::kRestartFailed,
                          .group = r.job.group,
                          .exit = {},
                          .restarts = r.restarts,
                          .backoff = r.next_backoff});
        r.next_backoff = std::min(backoff_.max, r.next_backoff * 2);
      }
    }
  }
  return events;
}

void GroupJobs::stop(std::chrono::milliseconds grace) {
  for (Running& r : jobs_) {
    r.restart_at.reset();
    if (r.pid > 0) ::kill(r.pid, SIGTERM);  // mpirun forwards it to the ranks
  }
  const Clock::time_point deadline = Clock::now() + grace;
  for (Running& r : jobs_) {
    while (r.pid > 0 && ::waitpid(r.pid, nullptr, WNOHANG) == 0) {
      if (Clock::now() >= deadline) {
        ::kill(r.pid, SIGKILL);
        ::waitpid(r.pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    r.pid = -1;
  }
}

bool GroupJobs::end_job(const std::string& group, Clock::time_point started_before,
                        std::chrono::milliseconds grace) {
  for (Running& r : jobs_) {
    if (r.job.group != group || r.pid <= 0 || r.started >= started_before || r.kill_at) continue;
    ::kill(r.pid, SIGTERM);
    r.kill_at = Clock::now() + grace;
    return true;
  }
  return false;
}

int64_t GroupJobs::restarts(const std::string& group) const {
  for (const Running& r : jobs_)
    if (r.job.group == group) return r.restarts;
  return 0;
}

}  // namespace shardserve::cli
