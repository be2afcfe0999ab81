#include "coordinator/group_link.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <future>
#include <thread>
#include <unordered_set>
#include <utility>
#include <zmq.hpp>

#include "base/check.h"
#include "wire/waker.h"

namespace shardserve {

using Clock = std::chrono::steady_clock;

struct GroupLink::Command {
  enum class Kind : uint8_t { Submit, Cancel, ShutdownGroup };
  Kind kind = Kind::Submit;
  uint64_t group_id = 0;
  int64_t request_id = 0;
  std::string bytes;                      // Submit: the encoded message
  std::shared_ptr<RequestEvents> events;  // Submit
};

// Everything the I/O thread owns, plus the queue that feeds it.
struct GroupLink::Io {
  explicit Io(GroupLink& owner) : link(owner) {}

  // ---- shared with the API threads -------------------------------------------------------
  GroupLink& link;
  zmq::context_t context{1};
  wire::Waker waker;
  std::mutex commands_mu;
  std::deque<Command> commands;  // GUARDED_BY(commands_mu)
  std::atomic<bool> stop{false};
  std::thread thread;
  struct {
    std::atomic<int64_t> joined{0}, died{0}, submitted{0}, overflowed{0}, bad{0};
  } counters;

  // ---- I/O thread only ---------------------------------------------------------------------
  struct Peer {
    uint64_t id = 0;
    std::string identity;  // ZeroMQ routing id of the group's DEALER
    std::string name;
    Clock::time_point last_seen;
    std::unordered_set<int64_t> requests;  // open requests on this group
  };
  struct Open {
    uint64_t group_id = 0;
    std::weak_ptr<RequestEvents> events;  // expired: the consumer went away
  };
  std::unique_ptr<zmq::socket_t> router;
  std::unordered_map<std::string, uint64_t> by_identity;
  std::unordered_map<uint64_t, Peer> peers;
  std::unordered_map<int64_t, Open> open;  // by request id
  uint64_t next_group_id = 1;
  Clock::time_point next_bad_log;  // bad messages are logged at most once a second
  int64_t bad_unlogged = 0;

  void run(std::promise<Result<std::string>> bound);
  void process_commands();
  void receive();
  void on_message(const std::string& identity, std::string_view bytes);
  void on_hello(const std::string& identity, wire::Hello hello);
  void on_events(Peer& peer, wire::TokenEvents message);
  void on_rejected(Peer& peer, const wire::Rejected& message);
  void on_embeddings(Peer& peer, wire::Embeddings message);
  void housekeeping(Clock::time_point now, Clock::time_point& next_heartbeat);
  enum class Sent { Ok, Full, Gone };
  Sent send(const std::string& identity, const std::string& bytes);
  // Sends to a peer; a peer found gone is dropped (so `peer` may dangle afterwards).
  Sent send_or_drop(Peer& peer, const wire::DownMessage& message);
  void end_request(int64_t request_id, RequestEvent terminal);
  // `silent`: the group stopped talking (it may hang, its process alive).
  void drop_group(uint64_t group_id, const std::string& reason, bool silent = false);
  void log(const std::string& line) const;
};

void GroupLink::Io::log(const std::string& line) const {
  if (link.options_.log) {
    link.options_.log(line);
  } else {
    std::fprintf(stderr, "[group-link] %s\n", line.c_str());
  }
}

// ---- start / stop ----------------------------------------------------------------------------

GroupLink::GroupLink(GroupLinkOptions options)
    : options_(std::move(options)),
      next_request_id_(std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()),
      io_(std::make_unique<Io>(*this)) {}

Result<std::unique_ptr<GroupLink>> GroupLink::start(GroupLinkOptions options) {
  if (options.heartbeat_interval.count() <= 0 || options.heartbeat_timeout.count() <= 0)
    return Error{"group link: heartbeat interval and timeout must be positive"};
  if (options.request_buffer < 1) return Error{"group link: request_buffer must be at least 1"};
  std::unique_ptr<GroupLink> link(new GroupLink(std::move(options)));
  if (!link->io_->waker.valid()) return Error{"group link: cannot create a pipe (out of files?)"};
  std::promise<Result<std::string>> bound;
  auto result = bound.get_future();
  Io* io = link->io_.get();
  io->thread = std::thread([io, p = std::move(bound)]() mutable { io->run(std::move(p)); });
  Result<std::string> endpoint = result.get();
  if (!endpoint) {
    io->thread.join();
    return endpoint.error();
  }
  link->endpoint_ = std::move(*endpoint);
  return link;
}

GroupLink::~GroupLink() {
  io_->stop = true;
  io_->waker.notify();
  if (io_->thread.joinable()) io_->thread.join();
}

void GroupLink::Io::run(std::promise<Result<std::string>> bound) {
  try {
    router = std::make_unique<zmq::socket_t>(context, zmq::socket_type::router);
    router->set(zmq::sockopt::linger, 0);
    router->set(zmq::sockopt::router_mandatory, 1);  // sends to a vanished group fail loudly
    router->set(zmq::sockopt::router_handover, 1);   // a reconnecting group takes its id back
    router->set(zmq::sockopt::maxmsgsize, wire::kMaxMessageBytes);
    router->set(zmq::sockopt::sndhwm, 100000);
    router->set(zmq::sockopt::rcvhwm, 100000);
    router->bind(link.options_.endpoint);
    bound.set_value(router->get(zmq::sockopt::last_endpoint));
  } catch (const zmq::error_t& e) {
    router.reset();
    bound.set_value(Error{"group link: cannot bind " + link.options_.endpoint + ": " + e.what()});
    return;
  }

  const auto tick = std::clamp(
      std::min(link.options_.heartbeat_interval / 2, link.options_.heartbeat_timeout / 4),
      std::chrono::milliseconds(5), std::chrono::milliseconds(100));
  Clock::time_point next_heartbeat = Clock::now() + link.options_.heartbeat_interval;
  while (!stop) {
    zmq::pollitem_t items[] = {{router->handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, waker.fd(), ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, tick);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) log(std::string("poll failed: ") + e.what());
    }
    if (items[1].revents & ZMQ_POLLIN) waker.drain();
    process_commands();
    if (items[0].revents & ZMQ_POLLIN) receive();
    housekeeping(Clock::now(), next_heartbeat);
  }

  process_commands();  // submits queued during shutdown get their failure below
  for (auto& [id, request] : open) {
    if (auto events = request.events.lock())
      events->end({RequestEvent::Kind::Failed, {}, "the coordinator is shutting down"});
  }
  open.clear();
  peers.clear();
  {
    std::lock_guard lock(link.registry_mu_);
    link.registry_.clear();
  }
  router.reset();  // linger 0: returns at once
}

// ---- the API ---------------------------------------------------------------------------------

void GroupLink::push_command(Command command) {
  {
    std::lock_guard lock(io_->commands_mu);
    io_->commands.push_back(std::move(command));
  }
  io_->waker.notify();
}

Result<std::shared_ptr<RequestEvents>> GroupLink::submit(uint64_t group_id, wire::Submit submit) {
  const int64_t id = submit.request.id;
  return send_request(group_id, id, std::move(submit));
}

Result<std::shared_ptr<RequestEvents>> GroupLink::submit_embed(uint64_t group_id,
                                                               wire::Embed embed) {
  const int64_t id = embed.request_id;
  return send_request(group_id, id, std::move(embed));
}

Result<std::shared_ptr<RequestEvents>> GroupLink::send_request(uint64_t group_id,
                                                               int64_t request_id,
                                                               wire::DownMessage message) {
  Command command;
  command.kind = Command::Kind::Submit;
  command.group_id = group_id;
  command.request_id = request_id;
  command.bytes = wire::encode(message);
  command.events =
      std::make_shared<RequestEvents>(command.request_id, group_id, options_.request_buffer);
  auto events = command.events;
  {
    std::lock_guard lock(registry_mu_);
    auto it = registry_.find(group_id);
    if (it == registry_.end())
      return Error::unavailable("worker group " + std::to_string(group_id) +
                                " is not registered (it left or died); try again");
    ++it->second.in_flight;
  }
  push_command(std::move(command));
  return events;
}

void GroupLink::cancel(uint64_t group_id, int64_t request_id) {
  Command command;
  command.kind = Command::Kind::Cancel;
  command.group_id = group_id;
  command.request_id = request_id;
  push_command(std::move(command));
}

void GroupLink::shutdown_group(uint64_t group_id) {
  Command command;
  command.kind = Command::Kind::ShutdownGroup;
  command.group_id = group_id;
  push_command(std::move(command));
}

std::vector<GroupInfo> GroupLink::groups() const {
  std::vector<GroupInfo> out;
  {
    std::lock_guard lock(registry_mu_);
    out.reserve(registry_.size());
    for (const auto& [id, info] : registry_) out.push_back(info);
  }
  std::sort(out.begin(), out.end(),
            [](const GroupInfo& a, const GroupInfo& b) { return a.id < b.id; });
  return out;
}

bool less_busy(const GroupInfo& a, const GroupInfo& b) {
  auto load = [](const GroupInfo& g) {
    return static_cast<double>(g.in_flight) /
           static_cast<double>(std::max<int64_t>(1, g.hello.max_batch));
  };
  auto kv_use = [](const GroupInfo& g) {
    return g.load.kv_total_blocks > 0 ? static_cast<double>(g.load.kv_used_blocks) /
                                            static_cast<double>(g.load.kv_total_blocks)
                                      : 0.0;
  };
  if (load(a) != load(b)) return load(a) < load(b);
  if (kv_use(a) != kv_use(b)) return kv_use(a) < kv_use(b);
  return a.id < b.id;
}

std::optional<GroupInfo> GroupLink::least_loaded(std::string_view model) const {
  std::lock_guard lock(registry_mu_);
  const GroupInfo* best = nullptr;
  for (const auto& [id, info] : registry_)
    if (info.hello.model == model && (!best || less_busy(info, *best))) best = &info;
  if (!best) return std::nullopt;
  return *best;
}

std::vector<LostGroup> GroupLink::take_lost_groups() {
  std::lock_guard lock(registry_mu_);
  return std::exchange(lost_, {});
}

GroupLinkStats GroupLink::stats() const {
  GroupLinkStats s;
  s.groups_joined = io_->counters.joined;
  s.groups_died = io_->counters.died;
  s.requests_submitted = io_->counters.submitted;
  s.requests_overflowed = io_->counters.overflowed;
  s.bad_messages = io_->counters.bad;
  return s;
}

// ---- the I/O thread ----------------------------------------------------------------------------

GroupLink::Io::Sent GroupLink::Io::send(const std::string& identity, const std::string& bytes) {
  try {
    if (!router->send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
      return Sent::Full;  // the group's queue is at its high-water mark
    // The rest of a multipart message always follows its first frame.
    router->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    return Sent::Ok;
  } catch (const zmq::error_t& e) {
    if (e.num() != EHOSTUNREACH) log(std::string("send failed: ") + e.what());
    return Sent::Gone;
  }
}

GroupLink::Io::Sent GroupLink::Io::send_or_drop(Peer& peer, const wire::DownMessage& message) {
  const Sent sent = send(peer.identity, wire::encode(message));
  if (sent == Sent::Gone) drop_group(peer.id, "its connection is gone");
  return sent;
}

void GroupLink::Io::process_commands() {
  std::deque<Command> batch;
  {
    std::lock_guard lock(commands_mu);
    batch.swap(commands);
  }
  for (Command& c : batch) {
    auto peer = peers.find(c.group_id);
    switch (c.kind) {
      case Command::Kind::Submit: {
        ++counters.submitted;
        if (peer == peers.end()) {
          c.events->end({.kind = RequestEvent::Kind::Failed,
                         .error = "worker group " + std::to_string(c.group_id) + " is gone",
                         .code = ErrorCode::kUnavailable});
          break;
        }
        if (open.count(c.request_id)) {
          c.events->end({RequestEvent::Kind::Failed,
                         {},
                         "request id " + std::to_string(c.request_id) + " is already in flight"});
          std::lock_guard lock(link.registry_mu_);
          if (auto it = link.registry_.find(c.group_id); it != link.registry_.end())
            --it->second.in_flight;
          break;
        }
        open[c.request_id] = Open{c.group_id, c.events};
        peer->second.requests.insert(c.request_id);
        const Sent sent = send(peer->second.identity, c.bytes);
        if (sent == Sent::Full) {
          end_request(c.request_id, {RequestEvent::Kind::Failed,
                                     {},
                                     "worker group '" + peer->second.name +
                                         "' is not reading "
                                         "its messages (send queue full)"});
        } else if (sent == Sent::Gone) {
          drop_group(c.group_id, "its connection is gone");
        }
        break;
      }
      case Command::Kind::Cancel: {
        auto it = open.find(c.request_id);
        if (it == open.end() || it->second.group_id != c.group_id || peer == peers.end()) break;
        TokenEvent cancelled;
        cancelled.id = c.request_id;
        cancelled.finish = FinishReason::Cancelled;
        end_request(c.request_id, {RequestEvent::Kind::Token, cancelled, {}});
        send_or_drop(peer->second, wire::Cancel{c.request_id});
        break;
      }
      case Command::Kind::ShutdownGroup:
        if (peer != peers.end()) send_or_drop(peer->second, wire::Shutdown{});
        break;
    }
  }
}

void GroupLink::Io::receive() {
  // Bounded so that commands and heartbeats get their turn under a flood.
  for (int n = 0; n < 4096; ++n) {
    zmq::message_t identity;
    zmq::message_t payload;
    try {
      if (!router->recv(identity, zmq::recv_flags::dontwait)) return;
      if (!identity.more()) {
        ++counters.bad;
        continue;
      }
      (void)router->recv(payload);  // the rest of a multipart message is already here
      bool extra = false;
      while (payload.more()) {
        zmq::message_t rest;
        (void)router->recv(rest);
        payload.swap(rest);
        extra = true;
      }
      if (extra) {
        ++counters.bad;
        continue;
      }
    } catch (const zmq::error_t& e) {
      log(std::string("receive failed: ") + e.what());
      return;
    }
    on_message(identity.to_string(), payload.to_string_view());
  }
}

void GroupLink::Io::on_message(const std::string& identity, std::string_view bytes) {
  auto decoded = wire::decode_up(bytes);
  if (!decoded) {
    ++counters.bad;
    const auto now = Clock::now();
    if (now < next_bad_log) {
      ++bad_unlogged;
      return;
    }
    next_bad_log = now + std::chrono::seconds(1);
    log("bad message from a group: " + decoded.error().message +
        (bad_unlogged ? " (and " + std::to_string(bad_unlogged) + " more not shown)" : ""));
    bad_unlogged = 0;
    return;
  }
  wire::UpMessage& message = *decoded;
  if (auto* hello = std::get_if<wire::Hello>(&message)) {
    on_hello(identity, std::move(*hello));
    return;
  }
  auto known = by_identity.find(identity);
  if (known == by_identity.end()) {
    // A group this coordinator does not know (it restarted, or declared the group dead):
    // tell it to say Hello again. Goodbyes need no answer.
    if (!std::holds_alternative<wire::Goodbye>(message))
      send(identity, wire::encode(wire::DownMessage(wire::CoordinatorHeartbeat{0})));
    return;
  }
  Peer& peer = peers.at(known->second);
  peer.last_seen = Clock::now();
  {
    std::lock_guard lock(link.registry_mu_);
    if (auto it = link.registry_.find(peer.id); it != link.registry_.end()) {
      it->second.last_seen = peer.last_seen;
      if (auto* load = std::get_if<wire::GroupHeartbeat>(&message)) it->second.load = *load;
    }
  }
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::TokenEvents>) {
          on_events(peer, std::move(m));
        } else if constexpr (std::is_same_v<T, wire::Rejected>) {
          on_rejected(peer, m);
        } else if constexpr (std::is_same_v<T, wire::Embeddings>) {
          on_embeddings(peer, std::move(m));
        } else if constexpr (std::is_same_v<T, wire::Goodbye>) {
          drop_group(peer.id, "it shut down");
        }
      },
      message);
}

void GroupLink::Io::on_hello(const std::string& identity, wire::Hello hello) {
  if (auto old = by_identity.find(identity); old != by_identity.end())
    drop_group(old->second, "it said Hello again, so it dropped its sequences");
  const uint64_t id = next_group_id++;
  const auto now = Clock::now();
  for (const auto& [other_id, other] : peers) {
    if (other.name == hello.group_name)
      log("warning: group '" + hello.group_name + "' (id " + std::to_string(id) +
          ") has the same name as live group " + std::to_string(other_id));
  }
  Peer& peer = peers[id];
  peer.id = id;
  peer.identity = identity;
  peer.name = hello.group_name;
  peer.last_seen = now;
  by_identity[identity] = id;
  log("group '" + hello.group_name + "' registered as id " + std::to_string(id) + ": model '" +
      hello.model + "', tp " + std::to_string(hello.tp) + ", max batch " +
      std::to_string(hello.max_batch) + ", " + std::to_string(hello.kv_blocks) + " KV blocks");
  {
    std::lock_guard lock(link.registry_mu_);
    GroupInfo& info = link.registry_[id];
    info.id = id;
    info.hello = std::move(hello);
    info.registered_at = now;
    info.last_seen = now;
  }
  ++counters.joined;
  send_or_drop(peer, wire::Welcome{id});
}

void GroupLink::Io::on_events(Peer& peer, wire::TokenEvents message) {
  int64_t tokens = 0;
  for (const TokenEvent& e : message.events) tokens += e.token >= 0 ? 1 : 0;
  if (tokens > 0) {
    std::lock_guard lock(link.registry_mu_);
    if (auto info = link.registry_.find(peer.id); info != link.registry_.end())
      info->second.generated_tokens += tokens;
  }
  for (TokenEvent& e : message.events) {
    auto it = open.find(e.id);
    if (it == open.end() || it->second.group_id != peer.id) continue;  // ended here already
    const int64_t id = e.id;
    std::shared_ptr<RequestEvents> events = it->second.events.lock();
    if (!events) {  // nobody reads it any more
      const bool running = e.finish == FinishReason::None;
      end_request(id, {RequestEvent::Kind::Failed, {}, "the consumer went away"});
      if (running && send_or_drop(peer, wire::Cancel{id}) == Sent::Gone) return;
      continue;
    }
    if (e.finish != FinishReason::None) {
      end_request(id, {RequestEvent::Kind::Token, std::move(e), {}});
    } else if (!events->push({RequestEvent::Kind::Token, std::move(e), {}})) {
      ++counters.overflowed;
      end_request(id, {RequestEvent::Kind::Failed,
                       {},
                       "the request's reader fell behind by more than " +
                           std::to_string(link.options_.request_buffer) +
                           " events; the request was cancelled"});
      if (send_or_drop(peer, wire::Cancel{id}) == Sent::Gone) return;
    }
  }
}

void GroupLink::Io::on_rejected(Peer& peer, const wire::Rejected& message) {
  auto it = open.find(message.request_id);
  if (it == open.end() || it->second.group_id != peer.id) return;
  RequestEvent rejected{RequestEvent::Kind::Rejected, {}, message.reason};
  rejected.code = message.code;
  end_request(message.request_id, std::move(rejected));
}

void GroupLink::Io::on_embeddings(Peer& peer, wire::Embeddings message) {
  {
    int64_t tokens = 0;
    for (const wire::EmbeddingResult& r : message.results) tokens += r.n_tokens;
    std::lock_guard lock(link.registry_mu_);
    if (auto info = link.registry_.find(peer.id); info != link.registry_.end())
      info->second.embedded_tokens += tokens;
  }
  for (wire::EmbeddingResult& r : message.results) {
    auto it = open.find(r.id);
    if (it == open.end() || it->second.group_id != peer.id) continue;  // ended here already
    RequestEvent done{.kind = RequestEvent::Kind::Embedded};
    done.embedding = std::move(r.embedding);
    done.n_tokens = r.n_tokens;
    end_request(r.id, std::move(done));
  }
}

void GroupLink::Io::end_request(int64_t request_id, RequestEvent terminal) {
  auto it = open.find(request_id);
  if (it == open.end()) return;
  if (auto events = it->second.events.lock()) events->end(std::move(terminal));
  const uint64_t group_id = it->second.group_id;
  open.erase(it);
  if (auto peer = peers.find(group_id); peer != peers.end())
    peer->second.requests.erase(request_id);
  std::lock_guard lock(link.registry_mu_);
  if (auto info = link.registry_.find(group_id); info != link.registry_.end())
    --info->second.in_flight;
}

void GroupLink::Io::drop_group(uint64_t group_id, const std::string& reason, bool silent) {
  auto it = peers.find(group_id);
  if (it == peers.end()) return;
  Peer peer = std::move(it->second);
  peers.erase(it);
  by_identity.erase(peer.identity);
  {
    std::lock_guard lock(link.registry_mu_);
    link.registry_.erase(group_id);
    if (link.lost_.size() >= 64) link.lost_.erase(link.lost_.begin());
    link.lost_.push_back({peer.name, reason, silent, std::chrono::steady_clock::now()});
  }
  ++counters.died;
  const std::string what =
      "worker group '" + peer.name + "' (id " + std::to_string(group_id) + ") died: " + reason;
  log(what + "; failing " + std::to_string(peer.requests.size()) + " requests");
  for (int64_t request_id : peer.requests) {
    auto open_it = open.find(request_id);
    if (open_it == open.end()) continue;
    if (auto events = open_it->second.events.lock())
      events->end(
          {.kind = RequestEvent::Kind::Failed, .error = what, .code = ErrorCode::kUnavailable});
    open.erase(open_it);
  }
}

void GroupLink::Io::housekeeping(Clock::time_point now, Clock::time_point& next_heartbeat) {
  std::vector<uint64_t> silent;
  for (const auto& [id, peer] : peers)
    if (now - peer.last_seen > link.options_.heartbeat_timeout) silent.push_back(id);
  for (uint64_t id : silent) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - peers.at(id).last_seen);
    drop_group(id, "no message for " + std::to_string(ms.count()) + " ms", /*silent=*/true);
  }
  if (now < next_heartbeat) return;
  next_heartbeat = now + link.options_.heartbeat_interval;
  std::vector<uint64_t> ids;
  ids.reserve(peers.size());
  for (const auto& [id, peer] : peers) ids.push_back(id);
  for (uint64_t id : ids)
    if (auto it = peers.find(id); it != peers.end())
      send_or_drop(it->second, wire::CoordinatorHeartbeat{id});
}

}  // namespace shardserve
