// A worker group leader's end of the link to the coordinator (ARCHITECTURE.md, "How a request
// travels").
//
// CoordinatorLink connects a ZeroMQ DEALER to the coordinator's GroupLink and runs it in its
// own thread, so the leader's step loop (which makes the MPI calls) never touches a socket.
// The step loop talks to it through two thread-safe queues:
//
//   inbox:  poll_commands() hands over the Submits, Cancels and Shutdown that arrived;
//   outbox: send_events() (one call per step), send_rejected() and report_load().
//
// A typical step loop:
//
//   while (true) {
//     for (LinkCommand& c : link.poll_commands(scheduler.has_work() ? 0ms : 100ms))
//       ... Submit -> scheduler.submit() (on Error: link.send_rejected(id, error)),
//           Cancel -> scheduler.cancel(id), Shutdown -> leave the loop ...
//     if (!scheduler.has_work()) continue;
//     StepPlan plan = scheduler.next_plan();
//     group.lead(plan, logits);
//     link.send_events({plan.step, scheduler.on_step_done(plan, logits)});
//     link.report_load({...});
//   }
//
// Registration: the link says Hello (repeated every `welcome_timeout` until a Welcome comes),
// then sends a load heartbeat every `heartbeat_interval`. When the coordinator goes silent for
// `coordinator_timeout`, says it does not know this group, or welcomes it again under a new
// id, the coordinator has dropped this group's requests: the link hands the step loop a Cancel
// for every sequence still running, drops their remaining events, and says Hello again.
// Coordinator restarts therefore need no worker restart.
//
// The link checks only what is its own to know: a request whose bytes do not decode, that
// arrives while the group is re-registering, or whose id is in use is answered with Rejected
// here. Whether a request fits the model (token ids, context, KV cache) is the step loop's
// check (Scheduler::submit, EmbedBatcher::submit): the worker's one safety net behind the
// coordinator's validation at its door.
//
// Thread-safety: every method may be called from any thread; poll_commands() is meant for one
// consumer. Failure: start() returns an Error for a malformed endpoint or Hello; afterwards the
// link retries forever and never throws. Destruction sends Goodbye (best effort, waiting at most
// 250 ms for it to leave) and joins the thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "base/status.h"
#include "wire/messages.h"

namespace shardserve {

struct CoordinatorLinkOptions {
  std::string endpoint;  // the coordinator's GroupLink endpoint, e.g. "tcp://10.0.0.1:5555"
  wire::Hello hello;     // this group, as sent in every Hello
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds welcome_timeout{2000};      // Hello again without a Welcome
  std::chrono::milliseconds coordinator_timeout{5000};  // silence that means "coordinator lost"
  // Where the link reports registration and losses; nullptr: standard error.
  std::function<void(const std::string&)> log;
  // The group's GPU readings, called on the link thread before each heartbeat (so its NVML
  // calls never hold up the step loop); nullptr: the heartbeat carries none (cpu groups).
  std::function<std::vector<wire::GpuReading>()> read_gpus;
};

// What the coordinator asked of the step loop.
using LinkCommand = std::variant<wire::Submit, wire::Cancel, wire::Shutdown, wire::Embed>;

class CoordinatorLink {
 public:
  static Result<std::unique_ptr<CoordinatorLink>> start(CoordinatorLinkOptions options);
  ~CoordinatorLink();
  CoordinatorLink(const CoordinatorLink&) = delete;
  CoordinatorLink& operator=(const CoordinatorLink&) = delete;

  // Every command that arrived, in order; waits up to `timeout` (sleeping, not spinning) for
  // the first when none is queued. Empty on timeout.
  std::vector<LinkCommand> poll_commands(std::chrono::milliseconds timeout);

  // The events of one step (every sequence that advanced or finished). Never blocks; events
  // of sequences the current coordinator did not submit (see above) are dropped.
  void send_events(wire::TokenEvents events);
  // The embeddings of one step of an embedding group. Never blocks; results of inputs the
  // current coordinator did not submit are dropped.
  void send_embeddings(wire::Embeddings embeddings);
  // The step loop could not accept a Submit or Embed; the coordinator answers the request
  // with the status error.code maps to. Never blocks.
  void send_rejected(int64_t request_id, Error error);
  // The load the next heartbeat reports. Never blocks.
  void report_load(const wire::GroupHeartbeat& load);

  // Whether a coordinator has welcomed this group (and not been lost since), and the id it
  // gave; 0 when not registered.
  bool registered() const { return group_id_.load() != 0; }
  uint64_t group_id() const { return group_id_.load(); }

 private:
  struct Io;  // the link thread's state: the socket, registration, queues

  explicit CoordinatorLink(CoordinatorLinkOptions options);

  const CoordinatorLinkOptions options_;
  std::atomic<uint64_t> group_id_{0};
  std::unique_ptr<Io> io_;
};

}  // namespace shardserve
