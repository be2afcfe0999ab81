#include "coordinator/serving/http_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <set>

#include "api/embedding_request.h"
#include "api/openai_request.h"
#include "api/openai_response.h"
#include "api/request_id.h"
#include "api/sse.h"
#include "coordinator/serving/embeddings.h"
#include "coordinator/serving/generation.h"

namespace shardserve {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kJson = "application/json";

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One request's generations (one per prompt) and what the response needs to know.
struct Job {
  std::vector<std::unique_ptr<Generation>> generations;
  api::ResponseMeta meta;
  const ServedModel* model = nullptr;
  bool chat = true;
  bool logprobs = false;
  Clock::time_point arrived;
  Clock::time_point deadline;
  int64_t prompt_tokens() const {
    int64_t n = 0;
    for (const auto& g : generations) n += g->prompt_tokens();
    return n;
  }
  int64_t completion_tokens() const {
    int64_t n = 0;
    for (const auto& g : generations) n += g->completion_tokens();
    return n;
  }
  bool done() const {
    for (const auto& g : generations)
      if (!g->done()) return false;
    return true;
  }
  void cancel() {
    for (auto& g : generations) g->cancel();
  }
  // Progress of every generation, waiting up to `timeout` in total.
  api::ApiResult<std::vector<ChoiceUpdate>> next(milliseconds timeout) {
    std::vector<ChoiceUpdate> all;
    for (auto& g : generations) {
      if (g->done()) continue;
      auto updates = g->next(timeout);
      if (!updates.ok()) return updates.error();
      timeout = milliseconds(0);
      for (auto& u : updates.value()) all.push_back(std::move(u));
    }
    return all;
  }
};

}  // namespace

class HttpServer::Handlers {
 public:
  explicit Handlers(HttpServer& s) : s_(s) {}

  void install(httplib::Server& svr) {
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return pre_route(req, res);
    });
    svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", kJson);
    });
    svr.Get("/ready", [this](const httplib::Request&, httplib::Response& res) { ready(res); });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) { metrics(res); });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      std::vector<api::ModelInfo> list;
      for (const auto& m : s_.models_) list.push_back({m->name, m->created, "shardserve"});
      reply(res, "/v1/models", 200, api::dump_json(api::model_list(list)));
    });
    svr.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      const ServedModel* m = find_model(req.matches[1]);
      if (!m) return fail(res, "/v1/models", api::ApiError::model_not_found(req.matches[1].str()));
      reply(res, "/v1/models", 200,
            api::dump_json(api::model_object({m->name, m->created, "shardserve"})));
    });
    svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      generate(req, res, true);
    });
    svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      generate(req, res, false);
    });
    svr.Post("/v1/embeddings",
             [this](const httplib::Request& req, httplib::Response& res) { embeddings(req, res); });
    // Known routes with the wrong method: 405.
    for (const char* path : {"/health", "/ready", "/metrics", "/v1/models", R"(/v1/models/.+)",
                             "/v1/chat/completions", "/v1/completions", "/v1/embeddings"}) {
      auto not_allowed = [this](const httplib::Request& req, httplib::Response& res) {
        fail(res, req.path, api::ApiError::method_not_allowed(req.method, req.path));
      };
      const bool post = std::string_view(path).starts_with("/v1/") &&
                        !std::string_view(path).starts_with("/v1/models");
      if (post) {
        svr.Get(path, not_allowed);
      } else {
        svr.Post(path, not_allowed);
      }
      svr.Put(path, not_allowed);
      svr.Delete(path, not_allowed);
      svr.Patch(path, not_allowed);
    }
    // Errors produced by the HTTP library itself (unknown route, body too large, ...).
    svr.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      api::ApiError e =
          res.status == 404
              ? api::ApiError::not_found("Unknown request URL: " + req.method + " " + req.path)
          : res.status == 413
              ? api::ApiError::payload_too_large(static_cast<size_t>(s_.config_.max_body_bytes))
              : api::ApiError::bad_request("malformed HTTP request");
      e.status = res.status;
      res.set_content(e.to_body(), kJson);
    });
  }

 private:
  // CORS headers on every response, preflight answers, and API keys for /v1.
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    const std::string origin = req.get_header_value("Origin");
    if (!origin.empty() && allowed_origin(origin)) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
    }
    if (req.method == "OPTIONS") {
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Max-Age", "600");
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path.rfind("/v1/", 0) == 0 && !s_.config_.api_keys.empty()) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      bool ok = false;
      if (auth.rfind(prefix, 0) == 0)
        for (const std::string& key : s_.config_.api_keys)
          ok = ok || auth.substr(prefix.size()) == key;
      if (!ok) {
        fail(res, req.path,
             api::ApiError::unauthorized(auth.empty() ? "You didn't provide an API key. Send it as "
                                                        "'Authorization: Bearer YOUR_KEY'."
                                                      : "Incorrect API key provided."));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  bool allowed_origin(const std::string& origin) const {
    for (const std::string& o : s_.config_.cors_allow_origins)
      if (o == "*" || o == origin) return true;
    return false;
  }

  const ServedModel* find_model(const std::string& name) const {
    for (const auto& m : s_.models_)
      if (m->name == name) return m.get();
    return nullptr;
  }

  void reply(httplib::Response& res, const std::string& endpoint, int status, std::string body) {
    res.status = status;
    res.set_content(std::move(body), kJson);
    s_.metrics_.requests.with({endpoint, std::to_string(status)}).inc();
  }
  void fail(httplib::Response& res, const std::string& endpoint, const api::ApiError& e) {
    reply(res, endpoint, e.status, e.to_body());
  }

  void ready(httplib::Response& res) {
    nlohmann::ordered_json body = {{"status", "ready"},
                                   {"models", nlohmann::ordered_json::object()}};
    bool all = true;
    for (const auto& m : s_.models_) {
      const bool live = s_.link_.least_loaded(m->name).has_value();
      body["models"][m->name] = live ? "ready" : "no live worker group";
      all = all && live;
    }
    if (!all) body["status"] = "not ready";
    res.status = all ? 200 : 503;
    res.set_content(body.dump(), kJson);
  }

  void metrics(httplib::Response& res) {
    // Groups seen before and gone now stay in the output with up = 0 and nothing running.
    std::lock_guard lock(groups_seen_mu_);
    groups_seen_.insert(s_.groups_.begin(), s_.groups_.end());
    for (const std::string& name : groups_seen_) {
      s_.metrics_.group_up.with({name}).set(0);
      s_.metrics_.group_running_sequences.with({name}).set(0);
    }
    double waiting = 0;
    for (const GroupInfo& g : s_.link_.groups()) {
      const std::string& name = g.hello.group_name;
      groups_seen_.insert(name);
      waiting += static_cast<double>(g.load.waiting);
      s_.metrics_.group_up.with({name}).set(1);
      s_.metrics_.group_running_sequences.with({name}).set(static_cast<double>(g.load.running));
      s_.metrics_.group_kv_cache_usage.with({name}).set(
          g.load.kv_total_blocks > 0 ? static_cast<double>(g.load.kv_used_blocks) /
                                           static_cast<double>(g.load.kv_total_blocks)
                                     : 0.0);
    }
    s_.metrics_.queue_depth.get().set(waiting);
    res.set_content(s_.registry_.render(), std::string(metrics::kContentType));
  }

  // Tokens of a chat request's rendered template, or of a completions prompt.
  api::ApiResult<std::vector<TokenId>> chat_prompt(const ServedModel& m,
                                                   const api::ChatCompletionRequest& r) {
    if (!m.chat_template)
      return api::ApiError::bad_request("model '" + m.name +
                                            "' has no chat template; use "
                                            "/v1/completions",
                                        "messages");
    const Tokenizer& t = *m.tokenizer;
    nlohmann::ordered_json context = {
        {"messages", api::chat_messages_json(r.messages)},
        {"add_generation_prompt", true},
        {"bos_token", t.bos_id() >= 0 ? t.token_text(t.bos_id()) : ""},
        {"eos_token", t.eos_id() >= 0 ? t.token_text(t.eos_id()) : ""}};
    auto text = m.chat_template->render(context);
    if (!text) return api::ApiError::bad_request(text.error().message, "messages");
    return t.encode(*text, true, true);
  }

  void generate(const httplib::Request& req, httplib::Response& res, bool chat) {
    const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
    auto job = std::make_shared<Job>();
    job->arrived = Clock::now();
    job->deadline = job->arrived + std::chrono::seconds(s_.config_.request_timeout_s);
    job->chat = chat;

    std::string model_name;
    api::GenerationOptions options;
    std::vector<std::vector<TokenId>> prompts;
    const ServedModel* model = nullptr;
    auto check_model = [&](const std::string& name) -> std::optional<api::ApiError> {
      model = find_model(name);
      if (!model) return api::ApiError::model_not_found(name);
      if (model->task != ModelTask::kChat)
        return api::ApiError::bad_request(
            "model '" + name + "' is an embedding model; use /v1/embeddings", "model");
      return std::nullopt;
    };
    if (chat) {
      auto r = api::parse_chat_completion_request(req.body);
      if (!r.ok()) return fail(res, endpoint, r.error());
      if (auto e = check_model(r.value().model)) return fail(res, endpoint, *e);
      auto tokens = chat_prompt(*model, r.value());
      if (!tokens.ok()) return fail(res, endpoint, tokens.error());
      prompts.push_back(std::move(tokens.value()));
      model_name = r.value().model;
      options = r.value().options;
    } else {
      auto r = api::parse_completion_request(req.body);
      if (!r.ok()) return fail(res, endpoint, r.error());
      if (auto e = check_model(r.value().model)) return fail(res, endpoint, *e);
      for (const api::Prompt& p : r.value().prompts) {
        if (const auto* text = std::get_if<std::string>(&p)) {
          prompts.push_back(model->tokenizer->encode(*text, true, true));
        } else {
          const auto& ids = std::get<std::vector<int32_t>>(p);
          for (int32_t id : ids)
            if (id < 0 || id >= model->tokenizer->n_vocab())
              return fail(res, endpoint,
                          api::ApiError::bad_request(
                              "token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                                  std::to_string(model->tokenizer->n_vocab() - 1) + ")",
                              "prompt"));
          prompts.emplace_back(ids.begin(), ids.end());
        }
      }
      model_name = r.value().model;
      options = r.value().options;
    }

    auto leave = admit();
    if (!leave) return fail(res, endpoint, queue_full());

    job->model = model;
    job->logprobs = options.logprobs;
    job->meta = {.id = chat ? api::new_chat_completion_id() : api::new_completion_id(),
                 .created = unix_now(),
                 .model = model_name,
                 .include_usage = options.include_usage};
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto g = Generation::start(s_.link_, *model, std::move(prompts[i]), options,
                                 static_cast<int>(i) * options.n, chat ? "messages" : "prompt");
      if (!g.ok()) {
        job->cancel();
        return fail(res, endpoint, g.error());
      }
      job->generations.push_back(std::move(g.value()));
    }
    s_.metrics_.prompt_tokens.with({model_name}).inc(static_cast<uint64_t>(job->prompt_tokens()));

    if (options.stream) {
      stream(res, endpoint, job, leave);
    } else {
      complete(res, endpoint, *job);
    }
  }

  // Admission: a place among the requests in flight, held until the returned guard (shared by
  // the handler and a stream) is released; nullptr when max_queued_requests are in flight.
  std::shared_ptr<void> admit() {
    if (in_flight_.fetch_add(1) >= s_.config_.max_queued_requests) {
      in_flight_.fetch_sub(1);
      return nullptr;
    }
    struct Leave {
      std::atomic<int>& n;
      metrics::Gauge& running;
      ~Leave() {
        n.fetch_sub(1);
        running.sub(1);
      }
    };
    metrics::Gauge& running = s_.metrics_.requests_running.get();
    running.add(1);
    return std::shared_ptr<Leave>(new Leave{in_flight_, running});  // no temporary: it would leave
  }
  api::ApiError queue_full() const {
    return api::ApiError::rate_limited("the server has " +
                                       std::to_string(s_.config_.max_queued_requests) +
                                       " requests in flight; retry shortly");
  }

  void embeddings(const httplib::Request& req, httplib::Response& res) {
    const std::string endpoint = "/v1/embeddings";
    const auto arrived = Clock::now();
    auto r = api::parse_embedding_request(req.body);
    if (!r.ok()) return fail(res, endpoint, r.error());
    const std::string& name = r.value().model;
    const ServedModel* model = find_model(name);
    if (!model) return fail(res, endpoint, api::ApiError::model_not_found(name));
    if (model->task != ModelTask::kEmbed)
      return fail(res, endpoint,
                  api::ApiError::bad_request("model '" + name +
                                                 "' is a chat model and makes no embeddings; "
                                                 "use /v1/chat/completions or /v1/completions",
                                             "model"));
    auto leave = admit();
    if (!leave) return fail(res, endpoint, queue_full());
    auto result = create_embeddings(s_.link_, *model, r.value(),
                                    arrived + std::chrono::seconds(s_.config_.request_timeout_s));
    if (!result.ok()) return fail(res, endpoint, result.error());
    s_.metrics_.prompt_tokens.with({name}).inc(static_cast<uint64_t>(result.value().prompt_tokens));
    s_.metrics_.request_duration.with({name}).observe(seconds_since(arrived));
    reply(res, endpoint, 200, api::dump_json(result.value().body));
  }

  void finish_metrics(const Job& job, const std::string& model) {
    s_.metrics_.generation_tokens.with({model}).inc(static_cast<uint64_t>(job.completion_tokens()));
    s_.metrics_.request_duration.with({model}).observe(seconds_since(job.arrived));
    s_.metrics_.request_prompt_tokens.with({model}).observe(
        static_cast<double>(job.prompt_tokens()));
    s_.metrics_.request_generation_tokens.with({model}).observe(
        static_cast<double>(job.completion_tokens()));
  }

  // Non-streaming: wait for every choice, then one JSON body.
  void complete(httplib::Response& res, const std::string& endpoint, Job& job) {
    std::map<int, std::string> text;
    std::map<int, std::vector<api::TokenLogprobs>> logprobs;
    std::map<int, api::FinishReason> finish;
    bool first = true;
    while (!job.done()) {
      if (Clock::now() > job.deadline) {
        job.cancel();
        return fail(res, endpoint, api::ApiError::server_error("the request timed out"));
      }
      auto updates = job.next(milliseconds(200));
      if (!updates.ok()) {
        job.cancel();
        return fail(res, endpoint, updates.error());
      }
      for (ChoiceUpdate& u : updates.value()) {
        if (first && !u.text.empty()) {
          s_.metrics_.time_to_first_token.with({job.meta.model})
              .observe(seconds_since(job.arrived));
          first = false;
        }
        text[u.index] += u.text;
        auto& lp = logprobs[u.index];
        lp.insert(lp.end(), u.logprobs.begin(), u.logprobs.end());
        if (u.finish) finish[u.index] = *u.finish;
      }
    }
    const api::Usage usage{job.prompt_tokens(), job.completion_tokens()};
    finish_metrics(job, job.meta.model);
    if (job.chat) {
      std::vector<api::ChatChoice> choices;
      for (auto& [i, t] : text)
        choices.push_back(
            {i, t, finish[i], job.logprobs ? std::optional(logprobs[i]) : std::nullopt});
      reply(res, endpoint, 200, api::dump_json(api::chat_completion(job.meta, choices, usage)));
    } else {
      std::vector<api::CompletionChoice> choices;
      for (auto& [i, t] : text)
        choices.push_back(
            {i, t, finish[i], job.logprobs ? std::optional(logprobs[i]) : std::nullopt});
      reply(res, endpoint, 200, api::dump_json(api::completion(job.meta, choices, usage)));
    }
  }

  // Streaming: Server-Sent Events as the text arrives; keep-alive comments while waiting.
  template <typename Guard>
  void stream(httplib::Response& res, const std::string& endpoint, std::shared_ptr<Job> job,
              std::shared_ptr<Guard> guard) {
    s_.metrics_.requests.with({endpoint, "200"}).inc();
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");  // nginx: do not buffer this response
    res.set_chunked_content_provider("text/event-stream", [this, job, guard](
                                                              size_t, httplib::DataSink& sink) {
      auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
      const api::ResponseMeta& meta = job->meta;
      std::map<int, bool> started;
      std::map<int, Clock::time_point> last_text;  // per choice: when its text last came
      bool first = true;
      auto last_write = Clock::now();
      while (!job->done()) {
        if (!sink.is_writable()) {  // the client went away: free its sequences
          job->cancel();
          return false;
        }
        if (Clock::now() > job->deadline) {
          job->cancel();
          write(api::sse_error(api::ApiError::server_error("the request timed out")));
          sink.done();
          return true;
        }
        auto updates = job->next(milliseconds(100));
        if (!updates.ok()) {
          job->cancel();
          write(api::sse_error(updates.error()));
          sink.done();
          return true;
        }
        if (updates.value().empty()) {
          if (Clock::now() - last_write > std::chrono::seconds(1)) {
            if (!write(api::sse_comment("keep-alive"))) return false;
            last_write = Clock::now();
          }
          continue;
        }
        for (ChoiceUpdate& u : updates.value()) {
          const std::vector<api::TokenLogprobs>* lp = job->logprobs ? &u.logprobs : nullptr;
          if (job->chat) {
            if (!started[u.index]) {
              write(api::sse_data(api::chat_chunk_role(meta, u.index)));
              started[u.index] = true;
            }
            if (!u.text.empty() || (lp && !lp->empty()))
              write(api::sse_data(api::chat_chunk_content(meta, u.index, u.text, lp)));
            if (u.finish) write(api::sse_data(api::chat_chunk_finish(meta, u.index, *u.finish)));
          } else if (!u.text.empty() || u.finish) {
            write(api::sse_data(
                api::completion_chunk(meta, u.index, u.text, u.finish, lp, u.text_offset)));
          }
          if (!u.text.empty()) {
            if (first) {
              s_.metrics_.time_to_first_token.with({meta.model})
                  .observe(seconds_since(job->arrived));
              first = false;
            } else if (auto it = last_text.find(u.index); it != last_text.end()) {
              s_.metrics_.inter_token_latency.with({meta.model}).observe(seconds_since(it->second));
            }
            last_text[u.index] = Clock::now();
          }
        }
        last_write = Clock::now();
      }
      if (meta.include_usage) {
        const api::Usage usage{job->prompt_tokens(), job->completion_tokens()};
        write(api::sse_data(job->chat ? api::chat_chunk_usage(meta, usage)
                                      : api::completion_chunk_usage(meta, usage)));
      }
      write(api::sse_done());
      finish_metrics(*job, meta.model);
      sink.done();
      return true;
    });
  }

  HttpServer& s_;
  std::atomic<int> in_flight_{0};
  std::mutex groups_seen_mu_;
  std::set<std::string> groups_seen_;  // GUARDED_BY(groups_seen_mu_)
};

HttpServer::HttpServer(const ServerConfig& config, GroupLink& link,
                       const std::vector<std::unique_ptr<ServedModel>>& models,
                       std::vector<std::string> groups)
    : config_(config),
      groups_(std::move(groups)),
      link_(link),
      models_(models),
      metrics_(registry_),
      server_(std::make_unique<httplib::Server>()),
      handlers_(std::make_unique<Handlers>(*this)) {
  // Each open stream holds a thread: size the pool for the queue limit plus headroom.
  const int threads = config_.max_queued_requests + 16;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(static_cast<size_t>(config_.max_body_bytes));
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(30, 0);
  handlers_->install(*server_);
  // The chat page: files under server.web_root at / (index.html for /), public like /health.
  // Routes (/v1, /health, ...) are matched only when no file of that path exists.
  if (!config_.web_root_path.empty() && !server_->set_mount_point("/", config_.web_root_path))
    std::fprintf(stderr, "shardserve coordinator: web_root %s is not a directory; no chat page\n",
                 config_.web_root_path.c_str());
}

HttpServer::~HttpServer() {
  stop();
}

namespace {

// Debian's compiled cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG is fixed
// when the library is built), so a burst of clients connecting at once overflows the accept
// queue and some are reset. Linux lets listen() be called again on a listening socket to
// change its backlog: find our listening socket (bound to `port`) and widen it.
void widen_listen_backlog(int port, int backlog) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* entry = readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == dirfd(dir)) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6)
      bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port) ::listen(fd, backlog);
  }
  closedir(dir);
}

}  // namespace

Status HttpServer::bind() {
  if (!server_->bind_to_port(config_.host, config_.port))
    return Error{"cannot listen on " + config_.host + ":" + std::to_string(config_.port) +
                 " (in use? set server.port or --set server.port=N)"};
  port_ = config_.port;
  widen_listen_backlog(port_, 1024);
  return {};
}

void HttpServer::run() {
  server_->listen_after_bind();
}

void HttpServer::stop() {
  server_->stop();
}

}  // namespace shardserve
