// GroupLink and CoordinatorLink talking over real ZeroMQ sockets on loopback TCP. The worker
// side is a real CoordinatorLink driven by a fake step loop (no model): every step it emits one
// token per running sequence, token = token_for(request id, index), as a real leader would.
#include "coordinator/group_link.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <zmq.hpp>

#include "worker/coordinator_link.h"

namespace shardserve {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr TokenId kRejectMe = 999;  // prompts starting with it are refused by the fake scheduler

TokenId token_for(int64_t id, int64_t index) {
  return static_cast<TokenId>((id * 31 + index) % 1000);
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

void quiet(const std::string&) {}

GroupLinkOptions coordinator_options() {
  GroupLinkOptions o;
  o.endpoint = "tcp://127.0.0.1:*";
  o.heartbeat_interval = 100ms;
  o.heartbeat_timeout = 1000ms;
  o.log = quiet;
  return o;
}

std::unique_ptr<GroupLink> start_coordinator(GroupLinkOptions options = coordinator_options()) {
  auto link = GroupLink::start(std::move(options));
  EXPECT_TRUE(link.ok()) << link.error().message;
  return link.ok() ? std::move(*link) : nullptr;
}

wire::Hello hello_for(const std::string& name, const std::string& model = "tiny") {
  return wire::Hello{name, model, 1, 64, 4096, 16, 512, 1000};
}

// A worker group leader without a model.
class FakeGroup {
 public:
  FakeGroup(const std::string& endpoint, const std::string& name,
            std::chrono::milliseconds step_delay = 1ms, const std::string& model = "tiny")
      : step_delay_(step_delay) {
    CoordinatorLinkOptions o;
    o.endpoint = endpoint;
    o.hello = hello_for(name, model);
    o.heartbeat_interval = 100ms;
    o.welcome_timeout = 500ms;
    o.coordinator_timeout = 1000ms;
    o.log = quiet;
    auto link = CoordinatorLink::start(std::move(o));
    EXPECT_TRUE(link.ok()) << link.error().message;
    link_ = std::move(*link);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeGroup() {
    stop_ = true;
    thread_.join();
  }

  CoordinatorLink& link() { return *link_; }
  bool registered() const { return link_->registered(); }
  bool shutdown_seen() const { return shutdown_seen_; }
  std::vector<int64_t> submitted() const {
    std::lock_guard lock(mu_);
    return submitted_;
  }
  std::set<int64_t> cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
  }

 private:
  struct Sequence {
    int64_t prompt_tokens = 0;
    int64_t max_tokens = 0;
    int64_t generated = 0;
    bool cancelled = false;
  };

  void loop() {
    uint64_t step = 0;
    while (!stop_) {
      for (LinkCommand& c : link_->poll_commands(running_.empty() ? 20ms : 0ms)) {
        if (auto* s = std::get_if<wire::Submit>(&c)) {
          const SequenceRequest& q = s->request;
          {
            std::lock_guard lock(mu_);
            submitted_.push_back(q.id);
          }
          if (q.prompt[0] == kRejectMe) {
            link_->send_rejected(q.id, Error::invalid_input("refused by the fake scheduler"));
          } else {
            running_[q.id] = {static_cast<int64_t>(q.prompt.size()), q.max_tokens, 0, false};
          }
        } else if (auto* embed = std::get_if<wire::Embed>(&c)) {
          // A fake encoder: the embedding is {request id, first token, length}.
          const auto n = static_cast<int64_t>(embed->tokens.size());
          wire::Embeddings out{.step = ++step, .dim = 3, .results = {}};
          out.results.push_back(
              {.id = embed->request_id,
               .n_tokens = n,
               .embedding = {static_cast<float>(embed->request_id),
                             static_cast<float>(embed->tokens[0]), static_cast<float>(n)}});
          link_->send_embeddings(std::move(out));
        } else if (auto* cancel = std::get_if<wire::Cancel>(&c)) {
          std::lock_guard lock(mu_);
          cancelled_.insert(cancel->request_id);
          if (auto it = running_.find(cancel->request_id); it != running_.end())
            it->second.cancelled = true;
        } else {
          shutdown_seen_ = true;
          return;  // the destructor of the owner closes the link (Goodbye)
        }
      }
      if (running_.empty()) continue;
      wire::TokenEvents events{++step, {}};
      for (auto it = running_.begin(); it != running_.end();) {
        Sequence& s = it->second;
        TokenEvent e;
        e.id = it->first;
        e.prompt_tokens = s.prompt_tokens;
        if (s.cancelled) {
          e.finish = FinishReason::Cancelled;
        } else {
          e.token = token_for(e.id, s.generated++);
          e.logprob = -0.5f;
          e.top = {{e.token, -0.5f}};
          if (s.generated == s.max_tokens) e.finish = FinishReason::Length;
        }
        e.generated_tokens = s.generated;
        events.events.push_back(std::move(e));
        it = events.events.back().finish != FinishReason::None ? running_.erase(it) : std::next(it);
      }
      link_->send_events(std::move(events));
      link_->report_load(
          {static_cast<int64_t>(running_.size()), 0, 0, 4096, static_cast<int64_t>(step)});
      std::this_thread::sleep_for(step_delay_);
    }
  }

  const std::chrono::milliseconds step_delay_;
  std::unique_ptr<CoordinatorLink> link_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> shutdown_seen_{false};
  std::map<int64_t, Sequence> running_;  // the loop thread's
  mutable std::mutex mu_;
  std::vector<int64_t> submitted_;  // GUARDED_BY(mu_)
  std::set<int64_t> cancelled_;     // GUARDED_BY(mu_)
};

struct Outcome {
  std::vector<TokenId> tokens;
  RequestEvent last;
  bool ended = false;
};

Outcome collect(RequestEvents& events, std::chrono::milliseconds timeout = 10000ms) {
  Outcome out;
  const auto deadline = Clock::now() + timeout;
  while (!events.finished() && Clock::now() < deadline) {
    for (RequestEvent& e : events.pop_all(50ms)) {
      if (e.kind == RequestEvent::Kind::Token && e.token.token >= 0)
        out.tokens.push_back(e.token.token);
      if (e.terminal()) {
        out.last = std::move(e);
        out.ended = true;
      }
    }
  }
  return out;
}

wire::Submit request(int64_t id, int64_t max_tokens, TokenId first = 1) {
  wire::Submit s;
  s.request.id = id;
  s.request.prompt = {first, 2, 3};
  s.request.max_tokens = max_tokens;
  s.request.sampling.top_logprobs = 1;
  return s;
}

std::vector<TokenId> expected_tokens(int64_t id, int64_t n) {
  std::vector<TokenId> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(token_for(id, i));
  return out;
}

uint64_t only_group(const GroupLink& link) {
  auto groups = link.groups();
  EXPECT_EQ(groups.size(), 1u);
  return groups.empty() ? 0 : groups[0].id;
}

TEST(GroupLink, HelloGetsWelcomeAndRegisters) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  EXPECT_NE(coordinator->endpoint().find("tcp://127.0.0.1:"), std::string::npos);
  FakeGroup group(coordinator->endpoint(), "g1");
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  auto groups = coordinator->groups();
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].id, group.link().group_id());
  EXPECT_EQ(groups[0].hello, hello_for("g1"));
  // Heartbeats carry the load.
  group.link().report_load({0, 0, 7, 4096, 0});
  ASSERT_TRUE(wait_until([&] { return coordinator->groups()[0].load.kv_used_blocks == 7; }));
  EXPECT_EQ(coordinator->stats().groups_joined, 1);
}

TEST(GroupLink, EventsAreRoutedToTheirRequests) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  FakeGroup group(coordinator->endpoint(), "g1");
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  const uint64_t gid = only_group(*coordinator);

  std::vector<std::pair<int64_t, std::shared_ptr<RequestEvents>>> requests;
  for (int64_t n : {1, 5, 17}) {
    const int64_t id = coordinator->next_request_id();
    auto events = coordinator->submit(gid, request(id, n));
    ASSERT_TRUE(events.ok()) << events.error().message;
    requests.emplace_back(n, *events);
  }
  for (auto& [n, events] : requests) {
    Outcome out = collect(*events);
    ASSERT_TRUE(out.ended);
    EXPECT_EQ(out.tokens, expected_tokens(events->request_id(), n));
    EXPECT_EQ(out.last.kind, RequestEvent::Kind::Token);
    EXPECT_EQ(out.last.token.finish, FinishReason::Length);
    EXPECT_EQ(out.last.token.prompt_tokens, 3);
    EXPECT_EQ(out.last.token.generated_tokens, n);
  }
  ASSERT_TRUE(wait_until([&] { return coordinator->groups()[0].in_flight == 0; }));
  // Every token that came back is counted for the group (the Cluster view's live rate).
  EXPECT_EQ(coordinator->groups()[0].generated_tokens, 1 + 5 + 17);
  EXPECT_EQ(coordinator->groups()[0].embedded_tokens, 0);
}

TEST(GroupLink, ARequestForAGroupThatIsGoneIsUnavailable) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  auto submit = coordinator->submit(12345, request(1, 1));
  ASSERT_FALSE(submit.ok());
  EXPECT_EQ(submit.error().code, ErrorCode::kUnavailable);  // a 503: retry on another group
  auto embed = coordinator->submit_embed(12345, {2, {1, 2}});
  ASSERT_FALSE(embed.ok());
  EXPECT_EQ(embed.error().code, ErrorCode::kUnavailable);
}

// The link is transport: it sends what it is given. A request the wire protocol refuses is
// refused by the group's end of the link, and the refusal reaches the request as a Rejected
// event saying which field is wrong, with the code of an invalid input (a 400).
TEST(GroupLink, MalformedRequestsAreRejectedByTheGroup) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  FakeGroup group(coordinator->endpoint(), "g1");
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  const uint64_t gid = only_group(*coordinator);

  wire::Submit bad_logprobs = request(4, 1);
  bad_logprobs.request.sampling.top_logprobs = 21;
  wire::Submit empty = request(3, 1);
  empty.request.prompt.clear();
  for (const wire::Submit& bad : {bad_logprobs, empty}) {
    auto events = coordinator->submit(gid, bad);
    ASSERT_TRUE(events.ok()) << events.error().message;
    Outcome out = collect(**events);
    ASSERT_TRUE(out.ended);
    EXPECT_EQ(out.last.kind, RequestEvent::Kind::Rejected);
    EXPECT_EQ(out.last.code, ErrorCode::kInvalidInput);
    EXPECT_NE(out.last.error.find(bad.request.prompt.empty() ? "Submit.prompt"
                                                             : "Submit.sampling.top_logprobs"),
              std::string::npos)
        << out.last.error;
  }
  auto empty_input = coordinator->submit_embed(gid, {20, {}});
  ASSERT_TRUE(empty_input.ok());
  auto e = (*empty_input)->pop(5s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, RequestEvent::Kind::Rejected);
  EXPECT_EQ(e->code, ErrorCode::kInvalidInput);
  EXPECT_TRUE(group.submitted().empty());  // none reached the step loop
}

TEST(GroupLink, EmbeddingsReachTheirRequests) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  FakeGroup group(coordinator->endpoint(), "g1");
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  const uint64_t g = only_group(*coordinator);
  std::vector<std::shared_ptr<RequestEvents>> requests;
  for (int64_t id = 1; id <= 8; ++id) {
    auto events = coordinator->submit_embed(g, {id, std::vector<TokenId>(id, 100 + id)});
    ASSERT_TRUE(events.ok()) << events.error().message;
    requests.push_back(*events);
  }
  for (int64_t id = 1; id <= 8; ++id) {
    auto event = requests[id - 1]->pop(5s);
    ASSERT_TRUE(event);
    EXPECT_EQ(event->kind, RequestEvent::Kind::Embedded);
    EXPECT_EQ(event->n_tokens, id);
    EXPECT_EQ(event->embedding, (std::vector<float>{float(id), float(100 + id), float(id)}));
    EXPECT_TRUE(requests[id - 1]->finished());
  }
  EXPECT_EQ(coordinator->groups()[0].embedded_tokens, 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8);
}

TEST(GroupLink, RejectionReachesTheRequest) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  FakeGroup group(coordinator->endpoint(), "g1");
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  auto events = coordinator->submit(only_group(*coordinator), request(5, 3, kRejectMe));
  ASSERT_TRUE(events.ok());
  Outcome out = collect(**events);
  ASSERT_TRUE(out.ended);
  EXPECT_EQ(out.last.kind, RequestEvent::Kind::Rejected);
  EXPECT_EQ(out.last.error, "refused by the fake scheduler");
  EXPECT_EQ(out.last.code, ErrorCode::kInvalidInput);
  EXPECT_TRUE(out.tokens.empty());
}

TEST(GroupLink, CancelReachesTheWorker) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  FakeGroup group(coordinator->endpoint(), "g1", 5ms);
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  const uint64_t gid = only_group(*coordinator);
  auto events = coordinator->submit(gid, request(77, 100000));
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE((*events)->pop(5000ms).has_value());  // it is running
  coordinator->cancel(gid, 77);
  coordinator->cancel(gid, 77);  // idempotent
  Outcome out = collect(**events);
  ASSERT_TRUE(out.ended);
  EXPECT_EQ(out.last.kind, RequestEvent::Kind::Token);
  EXPECT_EQ(out.last.token.finish, FinishReason::Cancelled);
  ASSERT_TRUE(wait_until([&] { return group.cancelled().count(77) == 1; }));
  ASSERT_TRUE(wait_until([&] { return coordinator->groups()[0].in_flight == 0; }));
}

TEST(GroupLink, DroppingTheBufferCancelsTheRequest) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  FakeGroup group(coordinator->endpoint(), "g1", 5ms);
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  {
    auto events = coordinator->submit(only_group(*coordinator), request(8, 100000));
    ASSERT_TRUE(events.ok());
    ASSERT_TRUE((*events)->pop(5000ms).has_value());
  }  // the consumer went away
  ASSERT_TRUE(wait_until([&] { return group.cancelled().count(8) == 1; }));
}

TEST(GroupLink, ASlowConsumerLosesItsRequestNotTheLink) {
  GroupLinkOptions options = coordinator_options();
  options.request_buffer = 8;
  auto coordinator = start_coordinator(options);
  ASSERT_TRUE(coordinator);
  FakeGroup group(coordinator->endpoint(), "g1");
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  const uint64_t gid = only_group(*coordinator);
  auto slow = coordinator->submit(gid, request(10, 100000));
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE(wait_until([&] { return group.cancelled().count(10) == 1; }));
  // Others keep flowing meanwhile.
  auto fast = coordinator->submit(gid, request(11, 50));
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(collect(**fast).tokens, expected_tokens(11, 50));

  Outcome out = collect(**slow);
  ASSERT_TRUE(out.ended);
  EXPECT_EQ(out.tokens, expected_tokens(10, 8));  // what fitted, then the failure
  EXPECT_EQ(out.last.kind, RequestEvent::Kind::Failed);
  EXPECT_NE(out.last.error.find("fell behind"), std::string::npos) << out.last.error;
  EXPECT_EQ(coordinator->stats().requests_overflowed, 1);
}

// A group that says Hello and then falls silent, on a raw DEALER socket.
class SilentGroup {
 public:
  explicit SilentGroup(const std::string& endpoint, const std::string& name)
      : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
    const std::string hello = wire::encode(wire::UpMessage(hello_for(name)));
    socket_.send(zmq::buffer(hello));
    zmq::message_t reply;
    socket_.set(zmq::sockopt::rcvtimeo, 5000);
    EXPECT_TRUE(socket_.recv(reply).has_value());
    auto welcome = wire::decode_down(reply.to_string_view());
    EXPECT_TRUE(welcome.ok() && std::holds_alternative<wire::Welcome>(*welcome));
  }
  void close() { socket_.close(); }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

TEST(GroupLink, ASilentGroupDiesAndFailsItsRequests) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  SilentGroup group(coordinator->endpoint(), "mute");
  const uint64_t gid = only_group(*coordinator);
  auto events = coordinator->submit(gid, request(20, 5));
  ASSERT_TRUE(events.ok());
  const auto start = Clock::now();
  Outcome out = collect(**events);
  ASSERT_TRUE(out.ended);
  EXPECT_EQ(out.last.kind, RequestEvent::Kind::Failed);
  EXPECT_NE(out.last.error.find("worker group 'mute' (id " + std::to_string(gid) + ") died"),
            std::string::npos)
      << out.last.error;
  EXPECT_NE(out.last.error.find("no message for"), std::string::npos) << out.last.error;
  EXPECT_GE(Clock::now() - start, 800ms);             // heartbeat_timeout is 1 s
  EXPECT_EQ(out.last.code, ErrorCode::kUnavailable);  // another replica may continue it
  EXPECT_TRUE(coordinator->groups().empty());
  EXPECT_FALSE(coordinator->submit(gid, request(21, 5)).ok());
  // The launcher learns that the group went silent (its job may hang) once.
  const std::vector<LostGroup> lost = coordinator->take_lost_groups();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].group_name, "mute");
  EXPECT_TRUE(lost[0].silent);
  EXPECT_TRUE(coordinator->take_lost_groups().empty());
}

TEST(GroupLink, ALostConnectionIsFoundBeforeTheTimeout) {
  GroupLinkOptions options = coordinator_options();
  options.heartbeat_timeout = 60000ms;  // only the failed send can find it
  auto coordinator = start_coordinator(options);
  ASSERT_TRUE(coordinator);
  SilentGroup group(coordinator->endpoint(), "crashy");
  const uint64_t gid = only_group(*coordinator);
  auto events = coordinator->submit(gid, request(30, 5));
  ASSERT_TRUE(events.ok());
  group.close();  // like a killed process: no Goodbye
  Outcome out = collect(**events, 5000ms);
  ASSERT_TRUE(out.ended);
  EXPECT_EQ(out.last.kind, RequestEvent::Kind::Failed);
  EXPECT_NE(out.last.error.find("connection is gone"), std::string::npos) << out.last.error;
  const std::vector<LostGroup> lost = coordinator->take_lost_groups();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_FALSE(lost[0].silent);  // its job ends by itself
}

TEST(GroupLink, ARestartedGroupRegistersAnewAndServes) {
  GroupLinkOptions options = coordinator_options();
  options.heartbeat_timeout = 5000ms;  // so that only the Goodbye can end the group quickly
  auto coordinator = start_coordinator(options);
  ASSERT_TRUE(coordinator);
  auto first = std::make_unique<FakeGroup>(coordinator->endpoint(), "g1", 5ms);
  ASSERT_TRUE(wait_until([&] { return first->registered(); }));
  const uint64_t old_id = only_group(*coordinator);
  auto events = coordinator->submit(old_id, request(40, 100000));
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE((*events)->pop(5000ms).has_value());

  const auto start = Clock::now();
  first.reset();  // Goodbye
  Outcome out = collect(**events);
  ASSERT_TRUE(out.ended);
  EXPECT_EQ(out.last.kind, RequestEvent::Kind::Failed);
  EXPECT_NE(out.last.error.find("died: it shut down"), std::string::npos) << out.last.error;
  EXPECT_LT(Clock::now() - start, 2500ms);  // by Goodbye, not by the 5 s timeout
  EXPECT_TRUE(coordinator->groups().empty());

  FakeGroup second(coordinator->endpoint(), "g1");
  ASSERT_TRUE(wait_until([&] { return second.registered(); }));
  const uint64_t new_id = only_group(*coordinator);
  EXPECT_NE(new_id, old_id);
  auto again = coordinator->submit(new_id, request(41, 4));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(collect(**again).tokens, expected_tokens(41, 4));
}

TEST(GroupLink, GroupsSurviveACoordinatorRestart) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  const std::string endpoint = coordinator->endpoint();  // with its port: bind it again below
  FakeGroup group(endpoint, "g1", 5ms);
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  auto events = coordinator->submit(only_group(*coordinator), request(50, 100000));
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE((*events)->pop(5000ms).has_value());

  coordinator.reset();
  Outcome out = collect(**events, 1000ms);
  ASSERT_TRUE(out.ended);
  EXPECT_EQ(out.last.error, "the coordinator is shutting down");

  GroupLinkOptions options = coordinator_options();
  options.endpoint = endpoint;
  coordinator = start_coordinator(options);
  ASSERT_TRUE(coordinator);
  // The group notices, cancels what the old coordinator had submitted, and says Hello again.
  ASSERT_TRUE(wait_until([&] { return coordinator->groups().size() == 1 && group.registered(); }));
  ASSERT_TRUE(wait_until([&] { return group.cancelled().count(50) == 1; }));
  auto again =
      coordinator->submit(only_group(*coordinator), request(coordinator->next_request_id(), 6));
  ASSERT_TRUE(again.ok());
  Outcome second = collect(**again);
  EXPECT_EQ(second.tokens, expected_tokens((*again)->request_id(), 6));
  EXPECT_EQ(second.last.token.finish, FinishReason::Length);
}

TEST(GroupLink, SixtyFourConcurrentRequestsOverTwoGroups) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  FakeGroup a(coordinator->endpoint(), "a");
  FakeGroup b(coordinator->endpoint(), "b");
  FakeGroup other(coordinator->endpoint(), "c", 1ms, "another-model");
  ASSERT_TRUE(wait_until([&] { return coordinator->groups().size() == 3; }));

  constexpr int kRequests = 64;
  std::vector<Outcome> outcomes(kRequests);
  std::vector<int64_t> ids(kRequests);
  std::vector<uint64_t> routed(kRequests);
  std::vector<std::thread> clients;
  for (int i = 0; i < kRequests; ++i) {
    clients.emplace_back([&, i] {
      auto group = coordinator->least_loaded("tiny");
      if (!group) return;
      routed[i] = group->id;
      ids[i] = coordinator->next_request_id();
      auto events = coordinator->submit(group->id, request(ids[i], 20 + i % 7));
      if (events.ok()) outcomes[i] = collect(**events);
    });
  }
  for (auto& t : clients) t.join();
  std::set<uint64_t> used;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(outcomes[i].ended) << i;
    EXPECT_EQ(outcomes[i].tokens, expected_tokens(ids[i], 20 + i % 7)) << i;
    EXPECT_EQ(outcomes[i].last.token.finish, FinishReason::Length) << i;
    used.insert(routed[i]);
  }
  EXPECT_EQ(used.size(), 2u);  // both "tiny" groups, never the other model's
  EXPECT_TRUE(other.submitted().empty());
  EXPECT_FALSE(coordinator->least_loaded("no-such-model").has_value());
}

TEST(GroupLink, ShutdownIsFast) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  auto group = std::make_unique<FakeGroup>(coordinator->endpoint(), "g1", 5ms);
  ASSERT_TRUE(wait_until([&] { return group->registered(); }));
  std::vector<std::shared_ptr<RequestEvents>> open;
  for (int i = 0; i < 8; ++i) {
    auto events = coordinator->submit(only_group(*coordinator), request(60 + i, 100000));
    ASSERT_TRUE(events.ok());
    open.push_back(*events);
  }
  ASSERT_TRUE(open[0]->pop(5000ms).has_value());

  auto start = Clock::now();
  coordinator.reset();
  EXPECT_LT(Clock::now() - start, 1000ms);  // typically a few ms; a lingering socket hangs
  for (auto& events : open) {
    Outcome out = collect(*events, 100ms);
    ASSERT_TRUE(out.ended);
    EXPECT_EQ(out.last.kind, RequestEvent::Kind::Failed);
  }
  // The worker's end closes promptly too, with nobody left to say Goodbye to.
  start = Clock::now();
  group.reset();
  EXPECT_LT(Clock::now() - start, 2000ms);  // Goodbye lingers at most 250 ms
}

TEST(GroupLink, ShutdownGroupReachesTheStepLoop) {
  GroupLinkOptions options = coordinator_options();
  options.heartbeat_timeout = 5000ms;
  auto coordinator = start_coordinator(options);
  ASSERT_TRUE(coordinator);
  auto group = std::make_unique<FakeGroup>(coordinator->endpoint(), "g1");
  ASSERT_TRUE(wait_until([&] { return group->registered(); }));
  coordinator->shutdown_group(only_group(*coordinator));
  ASSERT_TRUE(wait_until([&] { return group->shutdown_seen(); }));
  group.reset();                                                                   // Goodbye
  ASSERT_TRUE(wait_until([&] { return coordinator->groups().empty(); }, 2500ms));  // by Goodbye
}

TEST(GroupLink, GarbageFromAPeerIsCountedAndIgnored) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  zmq::context_t context(1);
  zmq::socket_t peer(context, zmq::socket_type::dealer);
  peer.set(zmq::sockopt::linger, 0);
  peer.set(zmq::sockopt::rcvtimeo, 5000);
  peer.connect(coordinator->endpoint());
  peer.send(zmq::str_buffer("\xc1 not msgpack"));
  peer.send(zmq::str_buffer("two"), zmq::send_flags::sndmore);
  peer.send(zmq::str_buffer("frames"));
  peer.send(zmq::buffer(wire::encode(wire::DownMessage(wire::Shutdown{}))));  // wrong direction
  // A group the coordinator does not know is told to say Hello.
  peer.send(zmq::buffer(wire::encode(wire::UpMessage(wire::GroupHeartbeat{}))));
  zmq::message_t reply;
  ASSERT_TRUE(peer.recv(reply).has_value());
  auto decoded = wire::decode_down(reply.to_string_view());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_TRUE(std::holds_alternative<wire::CoordinatorHeartbeat>(*decoded));
  EXPECT_EQ(std::get<wire::CoordinatorHeartbeat>(*decoded).group_id, 0u);
  EXPECT_EQ(coordinator->stats().bad_messages, 3);
  EXPECT_TRUE(coordinator->groups().empty());

  FakeGroup group(coordinator->endpoint(), "g1");  // the link still serves
  ASSERT_TRUE(wait_until([&] { return group.registered(); }));
  auto events = coordinator->submit(only_group(*coordinator), request(90, 3));
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(collect(**events).tokens, expected_tokens(90, 3));
}

TEST(GroupLink, BindingATakenEndpointIsAnError) {
  auto coordinator = start_coordinator();
  ASSERT_TRUE(coordinator);
  GroupLinkOptions options = coordinator_options();
  options.endpoint = coordinator->endpoint();
  auto second = GroupLink::start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("cannot bind"), std::string::npos);
  options.endpoint = "nonsense";
  EXPECT_FALSE(GroupLink::start(options).ok());
}

TEST(CoordinatorLink, RefusesBadOptions) {
  CoordinatorLinkOptions o;
  o.hello = hello_for("g");
  EXPECT_FALSE(CoordinatorLink::start(o).ok());  // no endpoint
  o.endpoint = "tcp://127.0.0.1:1";
  o.hello.n_vocab = 0;
  EXPECT_FALSE(CoordinatorLink::start(o).ok());
  o.hello = hello_for("g");
  o.endpoint = "bogus://x";
  EXPECT_FALSE(CoordinatorLink::start(o).ok());
}

TEST(CoordinatorLink, WaitsForACoordinatorThatStartsLater) {
  // Bind a coordinator, note its port, stop it; the group starts first, then it comes back.
  std::string endpoint;
  {
    auto probe = start_coordinator();
    ASSERT_TRUE(probe);
    endpoint = probe->endpoint();
  }
  FakeGroup group(endpoint, "early");
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(group.registered());
  GroupLinkOptions options = coordinator_options();
  options.endpoint = endpoint;
  auto coordinator = start_coordinator(options);
  ASSERT_TRUE(coordinator);
  ASSERT_TRUE(wait_until([&] { return group.registered() && coordinator->groups().size() == 1; }));
}

}  // namespace
}  // namespace shardserve
