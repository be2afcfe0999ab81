// GroupJobs with real child processes standing in for mpirun jobs: a job that ends is reported
// with how it ended and started again after a backoff that doubles with each exit in a row;
// the others are untouched; stop() ends everything, SIGKILL after the grace period.
#include "cli/group_jobs.h"

#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace shardserve::cli {
namespace {

using std::chrono::milliseconds;

std::vector<GroupJobs::Event> poll_for(GroupJobs& jobs, milliseconds how_long) {
  std::vector<GroupJobs::Event> all;
  const auto end = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < end) {
    for (auto& e : jobs.poll()) all.push_back(std::move(e));
    std::this_thread::sleep_for(milliseconds(10));
  }
  return all;
}

TEST(GroupJobs, AJobThatEndsIsStartedAgainWithDoublingBackoff) {
  GroupJobs jobs(
      {{.group = "crashy", .argv = {"sh", "-c", "exit 3"}},
       {.group = "steady", .argv = {"sleep", "30"}}},
      Backoff{
          .initial = milliseconds(50), .max = milliseconds(200), .stable = milliseconds(60000)});
  ASSERT_TRUE(jobs.start().ok());
  const auto events = poll_for(jobs, milliseconds(900));
  std::vector<milliseconds> backoffs;
  int64_t restarted = 0;
  for (const auto& e : events) {
    EXPECT_EQ(e.group, "crashy");  // the other job runs on
    if (e.kind == GroupJobs::Event::Kind::kEnded) {
      EXPECT_EQ(e.exit, "exited with status 3");
      backoffs.push_back(e.backoff);
    } else if (e.kind == GroupJobs::Event::Kind::kRestarted) {
      ++restarted;
    }
  }
  ASSERT_GE(backoffs.size(), 3u);
  EXPECT_EQ(backoffs[0], milliseconds(50));
  EXPECT_EQ(backoffs[1], milliseconds(100));
  EXPECT_EQ(backoffs[2], milliseconds(200));
  for (size_t i = 3; i < backoffs.size(); ++i) EXPECT_EQ(backoffs[i], milliseconds(200));
  EXPECT_EQ(jobs.restarts("crashy"), restarted);
  EXPECT_EQ(jobs.restarts("steady"), 0);
  jobs.stop(milliseconds(2000));
}

TEST(GroupJobs, SaysWhichSignalEndedAJob) {
  GroupJobs jobs({{.group = "victim", .argv = {"sh", "-c", "kill -9 $$"}}},
                 Backoff{.initial = milliseconds(10000)});
  ASSERT_TRUE(jobs.start().ok());
  const auto events = poll_for(jobs, milliseconds(300));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, GroupJobs::Event::Kind::kEnded);
  EXPECT_EQ(events[0].exit.rfind("killed by signal 9", 0), 0u) << events[0].exit;
}

TEST(GroupJobs, StopEndsJobsThatIgnoreSigtermAfterTheGrace) {
  GroupJobs jobs({{.group = "stubborn", .argv = {"sh", "-c", "trap '' TERM; sleep 30"}}});
  ASSERT_TRUE(jobs.start().ok());
  std::this_thread::sleep_for(milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  jobs.stop(milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_TRUE(jobs.poll().empty());  // stopped jobs are not started again
}

// A hung group: end_job() ends its job (SIGKILL after the grace when SIGTERM is ignored), and
// poll() starts it again; a loss older than the current run ends nothing.
TEST(GroupJobs, EndJobEndsAHungJobWhichIsThenStartedAgain) {
  GroupJobs jobs({{.group = "hung", .argv = {"sh", "-c", "trap '' TERM; sleep 30"}},
                  {.group = "fine", .argv = {"sleep", "30"}}},
                 Backoff{.initial = milliseconds(50)});
  const auto before_start = std::chrono::steady_clock::now();
  ASSERT_TRUE(jobs.start().ok());
  std::this_thread::sleep_for(milliseconds(100));  // the shell sets its trap
  EXPECT_FALSE(jobs.end_job("hung", before_start, milliseconds(200))) << "an older loss";
  EXPECT_FALSE(jobs.end_job("nobody", std::chrono::steady_clock::now(), milliseconds(200)));
  ASSERT_TRUE(jobs.end_job("hung", std::chrono::steady_clock::now(), milliseconds(200)));
  const auto events = poll_for(jobs, milliseconds(700));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, GroupJobs::Event::Kind::kEnded);
  EXPECT_EQ(events[0].group, "hung");
  EXPECT_EQ(events[0].exit, "killed by signal 9 (Killed)");
  EXPECT_EQ(events[1].kind, GroupJobs::Event::Kind::kRestarted);
  EXPECT_EQ(jobs.restarts("fine"), 0);
  jobs.stop(milliseconds(0));
}

TEST(GroupJobs, AProgramThatDoesNotExistIsAnError) {
  GroupJobs jobs({{.group = "g", .argv = {"/nonexistent/mpirun", "-np", "1"}}});
  Status s = jobs.start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/mpirun"), std::string::npos);
}

}  // namespace
}  // namespace shardserve::cli
