// The worker groups of `shardserve up`, one supervised job each.
//
// Each group's ranks run as their own mpirun job (`mpirun -np TP shardserve worker -c CONFIG
// --group NAME`), so a rank that dies ends its group's job only: the coordinator and the other
// groups keep serving. A job that ends while the cluster runs is started again after a backoff
// (Backoff: 1 s, doubling with each exit in a row up to 30 s, back to the start once a job has
// run a minute). A rank that hangs: a follower is caught by the group's step timeout, which
// ends the job (worker/group.h); a leader (or a one-rank group) stops its heartbeats, the
// coordinator drops the group, and `shardserve up` ends its job with end_job(), so that it is
// started again like any job that ended.
//
// Not thread-safe: the thread that runs `shardserve up` owns it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace shardserve::cli {

struct Backoff {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{30000};
  std::chrono::milliseconds stable{60000};  // a job that ran this long starts over at `initial`
};

class GroupJobs {
 public:
  using Clock = std::chrono::steady_clock;

  struct Job {
    std::string group;
    std::vector<std::string> argv;  // argv[0] is looked up in PATH
  };

  // Something that happened to a job in poll().
  struct Event {
    enum class Kind {
      kEnded,          // the job ended (exit says how); restarted after `backoff`
      kRestarted,      // the job was started again
      kRestartFailed,  // it could not be spawned; tried again after `backoff`
    };
    Kind kind = Kind::kEnded;
    std::string group;
    std::string exit;      // kEnded: "exited with status 3", "killed by signal 9 (Killed)"
    int64_t restarts = 0;  // restarts of this group so far
    std::chrono::milliseconds backoff{0};  // until the next start
  };

  explicit GroupJobs(std::vector<Job> jobs, Backoff backoff = {});
  ~GroupJobs();  // stop(0 s grace) if still running
  GroupJobs(const GroupJobs&) = delete;
  GroupJobs& operator=(const GroupJobs&) = delete;

  // Starts every job. Error (naming argv[0]) if one cannot be spawned; those started run on.
  Status start();
  // Reaps jobs that ended and starts again those whose backoff is over.
  std::vector<Event> poll();
  // SIGTERM to every job (mpirun forwards it to the ranks), SIGKILL after `grace`; waits.
  void stop(std::chrono::milliseconds grace);
  // Ends the job of `group` if its current run started before `started_before` (a run started
  // later is a restart the reason does not concern): SIGTERM now (mpirun continues stopped
  // ranks, terminates them and kills them if they linger), SIGKILL from poll() after `grace`.
  // poll() then reports it ended and restarts it. True if a job was told to end.
  bool end_job(const std::string& group, Clock::time_point started_before,
               std::chrono::milliseconds grace);

  int64_t restarts(const std::string& group) const;

 private:
  struct Running {
    Job job;
    pid_t pid = -1;             // -1: not running
    Clock::time_point started;  // of the current or last run
    std::optional<Clock::time_point> restart_at;
    std::optional<Clock::time_point> kill_at;  // end_job(): SIGKILL if still running then
    std::chrono::milliseconds next_backoff{0};
    int64_t restarts = 0;
  };

  static pid_t spawn(const std::vector<std::string>& argv);

  Backoff backoff_;
  std::vector<Running> jobs_;
};

// How a child ended, from waitpid's status, in words.
std::string describe_exit(int wait_status);

}  // namespace shardserve::cli
