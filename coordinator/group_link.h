// The coordinator's end of the link to the worker groups (ARCHITECTURE.md, "How a request
// travels").
//
// GroupLink binds one ZeroMQ ROUTER socket and runs one I/O thread that alone owns it. Group
// leaders connect a DEALER (worker/coordinator_link.h), say Hello and get a Welcome with their
// group id; from then on the coordinator sends Submit / Cancel / heartbeats and the group sends
// one TokenEvents message per step, Rejected, load heartbeats and finally Goodbye.
//
// Requests: submit() hands back the request's RequestEvents buffer; the I/O thread routes each
// event of a TokenEvents message into the buffer of its request. A full buffer ends that
// request with an error and cancels it in its group; the I/O thread never waits on a consumer.
//
// Groups: a group is live from its Hello until it says Goodbye, stops sending anything for
// `heartbeat_timeout`, or its connection is found gone when sending to it. Then every request
// in flight on it ends with RequestEvent::Failed ("worker group 'g1' (id 3) died: ...") and it
// leaves the registry. A group that says Hello again (restarted process, or its link re-said
// Hello after losing the coordinator) registers anew under a new id; a coordinator restart
// needs nothing from the groups: they notice and say Hello to the new one.
//
// Thread-safety: every public method may be called from any thread. Commands (submit, cancel,
// shutdown_group) are queued to the I/O thread and woken through a pipe; they never block on
// the network. Failure: start() returns an Error when the endpoint cannot be bound; afterwards
// network and peer failures are reported per request and in the registry, never thrown.
// Destruction ends every open request with Failed("the coordinator is shutting down"), closes
// the socket with linger 0 and returns promptly.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "coordinator/request_events.h"
#include "wire/messages.h"

namespace shardserve {

struct GroupLinkOptions {
  // Where groups connect. "tcp://127.0.0.1:*" binds an ephemeral port (see endpoint()).
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::chrono::milliseconds heartbeat_interval{1000};  // coordinator -> group
  std::chrono::milliseconds heartbeat_timeout{5000};   // silence after which a group is dead
  size_t request_buffer = 2048;  // events buffered per request before it is failed
  // Where the link reports joins, deaths and bad messages; nullptr: standard error.
  std::function<void(const std::string&)> log;
};

// One live group as the router and /metrics see it.
struct GroupInfo;
// Whether `a` is less busy than `b`: fewer in-flight requests per batch slot, then lower
// KV-cache use, then the lower id.
bool less_busy(const GroupInfo& a, const GroupInfo& b);

struct GroupInfo {
  uint64_t id = 0;
  wire::Hello hello;
  wire::GroupHeartbeat load;  // the last heartbeat (zeros before the first)
  int64_t in_flight = 0;      // requests submitted through this link that have not ended
  // Tokens that came back from this group since it registered, counted as they arrive (every
  // step), for live per-group rates: generated tokens (chat groups), and input tokens of the
  // texts embedded (embedding groups).
  int64_t generated_tokens = 0;
  int64_t embedded_tokens = 0;
  std::chrono::steady_clock::time_point registered_at;
  std::chrono::steady_clock::time_point last_seen;  // any message from the group
};

// A group the link declared dead: silent past heartbeat_timeout (hung, or its host gone), its
// connection gone, or it said Goodbye.
struct LostGroup {
  std::string group_name;  // wire::Hello::group_name
  std::string reason;
  bool silent = false;  // no message within heartbeat_timeout: its processes may live on, hung
  std::chrono::steady_clock::time_point at;
};

struct GroupLinkStats {
  int64_t groups_joined = 0;
  int64_t groups_died = 0;  // including those that said Goodbye
  int64_t requests_submitted = 0;
  int64_t requests_overflowed = 0;  // failed because their consumer fell behind
  int64_t bad_messages = 0;         // undecodable frames, events for unknown requests
};

class GroupLink {
 public:
  // Binds the endpoint and starts the I/O thread. Error if the endpoint is malformed or taken.
  static Result<std::unique_ptr<GroupLink>> start(GroupLinkOptions options);
  ~GroupLink();
  GroupLink(const GroupLink&) = delete;
  GroupLink& operator=(const GroupLink&) = delete;

  // The bound endpoint with the actual port, e.g. "tcp://127.0.0.1:41873".
  const std::string& endpoint() const { return endpoint_; }

  // A fresh request id: unique in this process and, being seeded from the wall clock in
  // microseconds, not reused by a restarted coordinator (groups may still hold old ids).
  int64_t next_request_id() { return next_request_id_.fetch_add(1); }

  // Sends a request to a group as it is: the link is transport. What the request asks of the
  // model was validated where it entered the coordinator (coordinator/serving/), and the
  // group checks it once more (a refusal arrives as a Rejected event with its ErrorCode).
  // Error (code kUnavailable, nothing sent) only if the group is not registered. Otherwise
  // every outcome arrives through the returned buffer, ending with exactly one terminal event
  // (a duplicate id of a request still in flight ends at once with Failed).
  Result<std::shared_ptr<RequestEvents>> submit(uint64_t group_id, wire::Submit submit);
  // Sends an input to an embedding group, as submit() does. The buffer ends with exactly one
  // terminal event: Embedded with the embedding, or Rejected / Failed.
  Result<std::shared_ptr<RequestEvents>> submit_embed(uint64_t group_id, wire::Embed embed);

  // Cancels a request: the group is told to stop it and its buffer ends with a token event of
  // FinishReason::Cancelled (token -1, counts 0) after what is already buffered. Idempotent;
  // ignored for requests that have ended or were not submitted to `group_id`.
  void cancel(uint64_t group_id, int64_t request_id);

  // Asks a group to exit (wire::Shutdown); it leaves the registry when it says Goodbye.
  void shutdown_group(uint64_t group_id);

  // The live groups, by id.
  std::vector<GroupInfo> groups() const;
  // The live group serving `model` with the fewest in-flight requests per batch slot (then
  // the lowest KV-cache use, then the lowest id); nullopt if none serves it.
  std::optional<GroupInfo> least_loaded(std::string_view model) const;
  GroupLinkStats stats() const;
  // The groups declared dead since the last call, oldest first (the last 64 at most). A
  // launcher ends the job of a group that went silent, so that it is started again.
  std::vector<LostGroup> take_lost_groups();

 private:
  struct Command;
  struct Io;  // the I/O thread's state: the socket, peers and open requests

  explicit GroupLink(GroupLinkOptions options);
  void push_command(Command command);
  // Encodes a request and queues it for the I/O thread.
  Result<std::shared_ptr<RequestEvents>> send_request(uint64_t group_id, int64_t request_id,
                                                      wire::DownMessage message);

  const GroupLinkOptions options_;
  std::string endpoint_;  // constant after start()
  std::atomic<int64_t> next_request_id_;

  mutable std::mutex registry_mu_;
  std::unordered_map<uint64_t, GroupInfo> registry_;  // GUARDED_BY(registry_mu_)
  std::vector<LostGroup> lost_;                       // GUARDED_BY(registry_mu_)

  std::unique_ptr<Io> io_;  // owns the commands queue, the waker and the thread
};

}  // namespace shardserve
