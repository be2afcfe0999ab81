#include "coordinator/serving/http_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "api/openai_error.h"
#include "coordinator/serving/access.h"
#include "coordinator/serving/completions.h"
#include "coordinator/serving/embeddings_endpoint.h"
#include "coordinator/serving/tokenize_endpoint.h"

namespace shardserve {
namespace {

constexpr const char* kJson = "application/json";

// A stream's writes onto cpp-httplib's chunked transfer.
class ChunkSink : public StreamSink {
 public:
  explicit ChunkSink(httplib::DataSink& sink) : sink_(sink) {}
  bool write(std::string_view data) override { return sink_.write(data.data(), data.size()); }
  bool writable() override { return sink_.is_writable(); }
  void done() override { sink_.done(); }

 private:
  httplib::DataSink& sink_;
};

void set_headers(httplib::Response& res, const Headers& headers) {
  for (const auto& [name, value] : headers) res.set_header(name, value);
}

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

// Writes `response` onto the library's response.
void write_response(httplib::Response& res, Response response) {
  set_headers(res, response.headers);
  if (response.stream) {  // the status stays the library's 200
    res.set_chunked_content_provider(response.content_type, [stream = std::move(response.stream)](
                                                                size_t, httplib::DataSink& sink) {
      ChunkSink chunks(sink);
      return stream(chunks);
    });
    return;
  }
  res.status = response.status;
  res.set_content(response.body, response.content_type);
}

}  // namespace

HttpServer::HttpServer(const ServerConfig& config, GroupLink& link,
                       const std::vector<std::unique_ptr<ServedModel>>& models,
                       const std::vector<std::string>& groups)
    : config_(config),
      metrics_(registry_),
      admission_(config_.max_queued_requests, metrics_.requests_running.get()),
      context_{config_, link, models, metrics_, admission_, router_},
      metrics_page_(registry_, metrics_, link, groups),
      server_(std::make_unique<httplib::Server>()) {
  // Each open stream holds a thread: size the pool for the queue limit plus headroom.
  const int threads = config_.max_queued_requests + 16;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(static_cast<size_t>(config_.max_body_bytes));
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(30, 0);
  install_routes();
  // The chat page: files under server.web_root at / (index.html for /), public like /health.
  // Routes (/v1, /health, ...) are matched only when no file of that path exists.
  if (!config_.web_root_path.empty() && !server_->set_mount_point("/", config_.web_root_path))
    std::fprintf(stderr, "shardserve coordinator: web_root %s is not a directory; no chat page\n",
                 config_.web_root_path.c_str());
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::answer(httplib::Response& res, std::string_view endpoint, Response response) {
  metrics_.requests.with({std::string(endpoint), std::to_string(response.status)}).inc();
  write_response(res, std::move(response));
}

void HttpServer::install_routes() {
  httplib::Server& svr = *server_;
  using Req = httplib::Request;
  using Res = httplib::Response;
  // CORS headers on every response, preflight answers, and API keys for /v1.
  svr.set_pre_routing_handler([this](const Req& req, Res& res) {
    set_headers(res, cors_headers(config_, req.get_header_value("Origin")));
    if (req.method == "OPTIONS") {
      set_headers(res, cors_preflight_headers());
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (auto denied = check_api_key(config_, req.path, req.get_header_value("Authorization"))) {
      answer(res, req.path, Response::error(*denied));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // While draining, /health and /ready say so with 503: load balancers take this coordinator
  // out while its streams finish.
  auto draining = [this](Res& res) {
    if (!admission_.draining()) return false;
    res.status = 503;
    res.set_header("Retry-After", std::to_string(Admission::kDrainRetryAfterS));
    res.set_content(R"({"status":"draining"})", kJson);
    return true;
  };
  svr.Get("/health", [draining](const Req&, Res& res) {
    if (!draining(res)) res.set_content(R"({"status":"ok"})", kJson);
  });
  svr.Get("/ready", [this, draining](const Req&, Res& res) {
    if (!draining(res)) write_response(res, get_ready(context_.models, context_.link));
  });
  svr.Get("/metrics", [this](const Req&, Res& res) {
    res.set_content(metrics_page_.render(), std::string(metrics::kContentType));
  });
  svr.Get("/v1/models",
          [this](const Req&, Res& res) { answer(res, "/v1/models", get_models(context_.models)); });
  svr.Get(R"(/v1/models/(.+))", [this](const Req& req, Res& res) {
    answer(res, "/v1/models", get_model(context_.models, req.matches[1].str()));
  });
  svr.Post("/v1/chat/completions", [this](const Req& req, Res& res) {
    answer(res, "/v1/chat/completions", post_chat_completions(context_, req.body));
  });
  svr.Post("/v1/completions", [this](const Req& req, Res& res) {
    answer(res, "/v1/completions", post_completions(context_, req.body));
  });
  svr.Post("/v1/embeddings", [this](const Req& req, Res& res) {
    answer(res, "/v1/embeddings", post_embeddings(context_, req.body));
  });
  svr.Post("/tokenize", [this](const Req& req, Res& res) {
    answer(res, "/tokenize", post_tokenize(context_, req.body));
  });
  svr.Post("/detokenize", [this](const Req& req, Res& res) {
    answer(res, "/detokenize", post_detokenize(context_, req.body));
  });

  // Known routes with the wrong method: 405.
  for (const char* path :
       {"/health", "/ready", "/metrics", "/v1/models", R"(/v1/models/.+)", "/v1/chat/completions",
        "/v1/completions", "/v1/embeddings", "/tokenize", "/detokenize"}) {
    auto not_allowed = [this](const Req& req, Res& res) {
      answer(res, req.path,
             Response::error(api::ApiError::method_not_allowed(req.method, req.path)));
    };
    const std::string_view p = path;
    const bool post = (p.starts_with("/v1/") && !p.starts_with("/v1/models")) || p == "/tokenize" ||
                      p == "/detokenize";
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
  svr.set_error_handler([this](const Req& req, Res& res) {
    if (!res.body.empty()) return;
    api::ApiError e =
        res.status == 404
            ? api::ApiError::not_found("Unknown request URL: " + req.method + " " + req.path)
        : res.status == 413
            ? api::ApiError::payload_too_large(static_cast<size_t>(config_.max_body_bytes))
            : api::ApiError::bad_request("malformed HTTP request");
    e.status = res.status;
    res.set_content(e.to_body(), kJson);
  });
}

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
