#include "worker/coordinator_link.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_set>
#include <utility>
#include <zmq.hpp>

#include "wire/waker.h"

namespace shardserve {

using Clock = std::chrono::steady_clock;

struct CoordinatorLink::Io {
  explicit Io(CoordinatorLink& owner) : link(owner) {}

  // ---- shared with the step loop ------------------------------------------------------------
  CoordinatorLink& link;
  zmq::context_t context{1};
  wire::Waker waker;
  std::atomic<bool> stop{false};
  std::thread thread;

  std::mutex inbox_mu;
  std::condition_variable inbox_ready;
  std::deque<LinkCommand> inbox;  // GUARDED_BY(inbox_mu)

  using Outgoing = std::variant<wire::TokenEvents, wire::Rejected, wire::Embeddings>;
  std::mutex outbox_mu;
  std::deque<Outgoing> outbox;  // GUARDED_BY(outbox_mu)
  wire::GroupHeartbeat load;    // GUARDED_BY(outbox_mu)

  // ---- link thread only -------------------------------------------------------------------
  std::unique_ptr<zmq::socket_t> dealer;
  uint64_t group_id = 0;  // mirrored in link.group_id_
  Clock::time_point last_heard;
  Clock::time_point next_hello;
  Clock::time_point next_heartbeat;
  Clock::time_point connecting_since;
  Clock::time_point next_waiting_note;
  // Sequences the current coordinator submitted that have not finished; and those cancelled
  // because their coordinator was lost, whose last events are still to be dropped.
  std::unordered_set<int64_t> live;
  std::unordered_set<int64_t> orphans;

  void run(std::promise<Status> connected);
  void receive();
  void on_message(wire::DownMessage message, Clock::time_point now);
  // Hands a Submit or Embed to the step loop unless refusal() says why not.
  void accept(int64_t request_id, LinkCommand request);
  // Why the link cannot take a request with this id now (re-registering, id in use); what the
  // request asks of the model is the step loop's to check (Scheduler, EmbedBatcher).
  std::optional<Error> refusal(int64_t id) const;
  void flush_outbox();
  void timers(Clock::time_point now, std::chrono::milliseconds tick);
  bool send(const wire::UpMessage& message);
  void reject(int64_t request_id, const Error& error);
  void push_commands(std::vector<LinkCommand> commands);
  void set_group_id(uint64_t id);
  // The coordinator dropped this group's requests: cancel them all, then say Hello again.
  void lose(const std::string& reason, Clock::time_point now);
  void orphan_all();
  void log(const std::string& line) const;
};

namespace {

std::string make_identity(const std::string& group_name) {
  std::random_device rd;
  const uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  // Starts with a letter (routing ids starting with a zero byte are reserved), stays unique
  // across restarts of the same group, and reads well in a packet capture.
  return "g:" + group_name.substr(0, 100) + "/" + hex;
}

}  // namespace

void CoordinatorLink::Io::log(const std::string& line) const {
  if (link.options_.log) {
    link.options_.log(line);
  } else {
    std::fprintf(stderr, "[coordinator-link %s] %s\n", link.options_.hello.group_name.c_str(),
                 line.c_str());
  }
}

// ---- start / stop ----------------------------------------------------------------------------

CoordinatorLink::CoordinatorLink(CoordinatorLinkOptions options)
    : options_(std::move(options)), io_(std::make_unique<Io>(*this)) {}

Result<std::unique_ptr<CoordinatorLink>> CoordinatorLink::start(CoordinatorLinkOptions options) {
  if (options.endpoint.empty()) return Error{"coordinator link: no coordinator endpoint"};
  if (options.heartbeat_interval.count() <= 0 || options.welcome_timeout.count() <= 0 ||
      options.coordinator_timeout.count() <= 0)
    return Error{"coordinator link: heartbeat interval and timeouts must be positive"};
  // The Hello must be one the coordinator accepts.
  if (auto check = wire::decode_up(wire::encode(wire::UpMessage(options.hello))); !check)
    return Error{"coordinator link: invalid Hello: " + check.error().message};
  std::unique_ptr<CoordinatorLink> link(new CoordinatorLink(std::move(options)));
  Io* io = link->io_.get();
  if (!io->waker.valid()) return Error{"coordinator link: cannot create a pipe (out of files?)"};
  std::promise<Status> connected;
  auto result = connected.get_future();
  io->thread = std::thread([io, p = std::move(connected)]() mutable { io->run(std::move(p)); });
  if (Status status = result.get(); !status) {
    io->thread.join();
    return status.error();
  }
  return link;
}

CoordinatorLink::~CoordinatorLink() {
  io_->stop = true;
  io_->waker.notify();
  if (io_->thread.joinable()) io_->thread.join();
}

void CoordinatorLink::Io::run(std::promise<Status> connected) {
  const CoordinatorLinkOptions& options = link.options_;
  try {
    dealer = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    dealer->set(zmq::sockopt::routing_id, make_identity(options.hello.group_name));
    dealer->set(zmq::sockopt::linger, 0);
    // Queue nothing while disconnected: a send then fails instead of reaching a coordinator
    // that started after the messages were written.
    dealer->set(zmq::sockopt::immediate, 1);
    dealer->set(zmq::sockopt::maxmsgsize, wire::kMaxMessageBytes);
    dealer->set(zmq::sockopt::sndhwm, 100000);
    dealer->set(zmq::sockopt::rcvhwm, 100000);
    dealer->set(zmq::sockopt::reconnect_ivl, 100);
    dealer->set(zmq::sockopt::reconnect_ivl_max, 1000);
    dealer->connect(options.endpoint);
  } catch (const zmq::error_t& e) {
    dealer.reset();
    connected.set_value(
        Error{"coordinator link: cannot connect to " + options.endpoint + ": " + e.what()});
    return;
  }
  connected.set_value(Status::Ok());

  const auto tick = std::clamp(
      std::min({options.heartbeat_interval, options.welcome_timeout, options.coordinator_timeout}) /
          4,
      std::chrono::milliseconds(5), std::chrono::milliseconds(100));
  const auto start = Clock::now();
  next_hello = start;
  connecting_since = start;
  next_waiting_note = start + std::chrono::seconds(10);
  while (!stop) {
    zmq::pollitem_t items[] = {{dealer->handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, waker.fd(), ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, tick);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) log(std::string("poll failed: ") + e.what());
    }
    if (items[1].revents & ZMQ_POLLIN) waker.drain();
    if (items[0].revents & ZMQ_POLLIN) receive();
    flush_outbox();
    timers(Clock::now(), tick);
  }

  flush_outbox();  // the last step's events
  // Goodbye lets the coordinator fail this group's requests at once instead of after its
  // heartbeat timeout. Give it a short linger to leave; the context waits at most that long.
  dealer->set(zmq::sockopt::linger, 250);
  send(wire::Goodbye{});
  dealer.reset();
}

// ---- the step loop's side -----------------------------------------------------------------------

std::vector<LinkCommand> CoordinatorLink::poll_commands(std::chrono::milliseconds timeout) {
  std::unique_lock lock(io_->inbox_mu);
  io_->inbox_ready.wait_for(lock, timeout, [&] { return !io_->inbox.empty(); });
  std::vector<LinkCommand> out(std::make_move_iterator(io_->inbox.begin()),
                               std::make_move_iterator(io_->inbox.end()));
  io_->inbox.clear();
  return out;
}

void CoordinatorLink::send_events(wire::TokenEvents events) {
  {
    std::lock_guard lock(io_->outbox_mu);
    io_->outbox.emplace_back(std::move(events));
  }
  io_->waker.notify();
}

void CoordinatorLink::send_embeddings(wire::Embeddings embeddings) {
  {
    std::lock_guard lock(io_->outbox_mu);
    io_->outbox.emplace_back(std::move(embeddings));
  }
  io_->waker.notify();
}

void CoordinatorLink::send_rejected(int64_t request_id, Error error) {
  {
    std::lock_guard lock(io_->outbox_mu);
    io_->outbox.emplace_back(wire::Rejected{request_id, std::move(error.message), error.code});
  }
  io_->waker.notify();
}

void CoordinatorLink::report_load(const wire::GroupHeartbeat& load) {
  std::lock_guard lock(io_->outbox_mu);
  io_->load = load;
}

// ---- the link thread ----------------------------------------------------------------------------

bool CoordinatorLink::Io::send(const wire::UpMessage& message) {
  try {
    return dealer->send(zmq::buffer(wire::encode(message)), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    log(std::string("send failed: ") + e.what());
    return false;
  }
}

void CoordinatorLink::Io::set_group_id(uint64_t id) {
  group_id = id;
  link.group_id_ = id;
}

void CoordinatorLink::Io::push_commands(std::vector<LinkCommand> commands) {
  if (commands.empty()) return;
  {
    std::lock_guard lock(inbox_mu);
    for (LinkCommand& c : commands) inbox.push_back(std::move(c));
  }
  inbox_ready.notify_all();
}

void CoordinatorLink::Io::orphan_all() {
  std::vector<LinkCommand> cancels;
  cancels.reserve(live.size());
  for (int64_t id : live) {
    cancels.emplace_back(wire::Cancel{id});
    orphans.insert(id);
  }
  live.clear();
  push_commands(std::move(cancels));
}

void CoordinatorLink::Io::lose(const std::string& reason, Clock::time_point now) {
  log("lost the coordinator (" + reason + "); cancelling " + std::to_string(live.size()) +
      " sequences and saying Hello again");
  orphan_all();
  set_group_id(0);
  next_hello = now;
  connecting_since = now;
  next_waiting_note = now + std::chrono::seconds(10);
}

void CoordinatorLink::Io::reject(int64_t request_id, const Error& error) {
  if (!send(wire::Rejected{request_id, error.message, error.code}))
    log("could not send the rejection of request " + std::to_string(request_id));
}

void CoordinatorLink::Io::receive() {
  for (int n = 0; n < 4096; ++n) {
    zmq::message_t frame;
    try {
      if (!dealer->recv(frame, zmq::recv_flags::dontwait)) return;
      if (frame.more()) {  // the coordinator sends single frames only
        while (frame.more()) (void)dealer->recv(frame);
        log("dropped a multi-frame message");
        continue;
      }
    } catch (const zmq::error_t& e) {
      log(std::string("receive failed: ") + e.what());
      return;
    }
    auto decoded = wire::decode_down(frame.to_string_view());
    if (!decoded) {
      log("bad message from the coordinator: " + decoded.error().message);
      if (const int64_t id = wire::submit_id(frame.to_string_view()); id >= 0 && group_id != 0)
        reject(id, Error::invalid_input("the group could not decode the request: " +
                                        decoded.error().message));
      continue;
    }
    on_message(std::move(*decoded), Clock::now());
  }
}

void CoordinatorLink::Io::on_message(wire::DownMessage message, Clock::time_point now) {
  last_heard = now;
  if (auto* welcome = std::get_if<wire::Welcome>(&message)) {
    if (group_id == 0) {
      log("registered with the coordinator at " + link.options_.endpoint + " as group " +
          std::to_string(welcome->group_id));
      next_heartbeat = now;  // report the load at once
    } else if (welcome->group_id != group_id) {
      // The coordinator registered a repeated Hello anew and dropped the old registration.
      log("welcomed again as group " + std::to_string(welcome->group_id) + "; cancelling " +
          std::to_string(live.size()) + " sequences of group " + std::to_string(group_id));
      orphan_all();
    }
    set_group_id(welcome->group_id);
  } else if (auto* heartbeat = std::get_if<wire::CoordinatorHeartbeat>(&message)) {
    if (group_id != 0 && heartbeat->group_id != group_id) {
      lose(heartbeat->group_id == 0 ? "it does not know this group any more"
                                    : "it calls this group " + std::to_string(heartbeat->group_id),
           now);
    }
  } else if (auto* submit = std::get_if<wire::Submit>(&message)) {
    accept(submit->request.id, std::move(*submit));
  } else if (auto* embed = std::get_if<wire::Embed>(&message)) {
    accept(embed->request_id, std::move(*embed));
  } else if (auto* cancel = std::get_if<wire::Cancel>(&message)) {
    push_commands({*cancel});
  } else if (std::holds_alternative<wire::Shutdown>(message)) {
    log("the coordinator asks this group to shut down");
    push_commands({wire::Shutdown{}});
  }
}

void CoordinatorLink::Io::accept(int64_t request_id, LinkCommand request) {
  if (std::optional<Error> why = refusal(request_id)) return reject(request_id, *why);
  live.insert(request_id);
  std::vector<LinkCommand> commands;
  commands.push_back(std::move(request));
  push_commands(std::move(commands));
}

std::optional<Error> CoordinatorLink::Io::refusal(int64_t id) const {
  if (group_id == 0) return Error::unavailable("the group is re-registering with the coordinator");
  if (live.count(id) || orphans.count(id))
    return Error{"request id " + std::to_string(id) + " is in use in this group"};
  return std::nullopt;
}

void CoordinatorLink::Io::flush_outbox() {
  std::deque<Outgoing> batch;
  {
    std::lock_guard lock(outbox_mu);
    batch.swap(outbox);
  }
  for (Outgoing& item : batch) {
    if (auto* events = std::get_if<wire::TokenEvents>(&item)) {
      // Keep the events of the current coordinator's sequences; forget finished ones.
      wire::TokenEvents kept{events->step, {}};
      kept.events.reserve(events->events.size());
      for (TokenEvent& e : events->events) {
        const bool finished = e.finish != FinishReason::None;
        if (live.count(e.id)) {
          if (finished) live.erase(e.id);
          kept.events.push_back(std::move(e));
        } else if (finished) {
          orphans.erase(e.id);
        }
      }
      if (kept.events.empty()) continue;
      if (!send(kept)) {
        // Never drop tokens silently: a request would end with text missing in the middle.
        // Start over instead; the coordinator fails the requests when it sees the new Hello.
        lose("could not send step " + std::to_string(kept.step) + " to it", Clock::now());
      }
    } else if (auto* embeddings = std::get_if<wire::Embeddings>(&item)) {
      wire::Embeddings kept{embeddings->step, embeddings->dim, {}};
      for (wire::EmbeddingResult& r : embeddings->results) {
        if (live.erase(r.id)) {
          kept.results.push_back(std::move(r));
        } else {
          orphans.erase(r.id);
        }
      }
      if (kept.results.empty()) continue;
      if (!send(kept))
        lose("could not send step " + std::to_string(kept.step) + " to it", Clock::now());
    } else {
      auto& rejected = std::get<wire::Rejected>(item);
      if (live.erase(rejected.request_id)) {
        reject(rejected.request_id, Error{rejected.reason, rejected.code});
      } else {
        orphans.erase(rejected.request_id);
      }
    }
  }
}

void CoordinatorLink::Io::timers(Clock::time_point now, std::chrono::milliseconds tick) {
  const CoordinatorLinkOptions& options = link.options_;
  if (group_id == 0) {
    if (now >= next_hello) {
      // Not connected yet (send fails at once with ZMQ_IMMEDIATE): retry every tick.
      next_hello = now + (send(options.hello) ? options.welcome_timeout : tick);
    }
    if (now >= next_waiting_note) {
      const auto s = std::chrono::duration_cast<std::chrono::seconds>(now - connecting_since);
      log("no Welcome from the coordinator at " + options.endpoint + " for " +
          std::to_string(s.count()) + " s (is it up, and from the same shardserve release? " +
          "this group speaks protocol version " + std::to_string(wire::kProtocolVersion) + ")");
      next_waiting_note = now + std::chrono::seconds(30);
    }
    return;
  }
  if (now - last_heard > options.coordinator_timeout) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard);
    lose("no message from it for " + std::to_string(ms.count()) + " ms", now);
    return;
  }
  if (now >= next_heartbeat) {
    wire::GroupHeartbeat heartbeat;
    {
      std::lock_guard lock(outbox_mu);
      heartbeat = load;
    }
    if (options.read_gpus) heartbeat.gpus = options.read_gpus();  // here, not in the step loop
    send(heartbeat);  // a lost heartbeat is harmless; a lost coordinator shows by its silence
    next_heartbeat = now + options.heartbeat_interval;
  }
}

}  // namespace shardserve
