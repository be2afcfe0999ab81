// The coordinator's HTTP front door (cpp-httplib): the OpenAI API, health, readiness and
// metrics.
//
//   GET  /health                  liveness: 200 while the process serves HTTP
//   GET  /ready                   200 when every chat model has a live worker group, else 503
//   GET  /metrics                 Prometheus text (coordinator/metrics/server_metrics.h)
//   GET  /v1/models, /v1/models/{id}
//   POST /v1/chat/completions, /v1/completions   (stream: Server-Sent Events)
//
// Every error is an OpenAI error object with the fitting status: 400 (invalid request),
// 401 (API keys configured and a bad or missing bearer token), 404 (unknown route or model),
// 405 (wrong method on a known route), 413 (body over server.max_body_bytes), 429 (more than
// server.max_queued_requests requests in flight), 500 (a worker group failed mid-request),
// 503 (no live group serves the model). A client that disconnects mid-stream has its
// sequences cancelled at the next step; requests past server.request_timeout_s end.
//
// Thread-safety: each request runs on one thread of the server's pool; shared state is the
// (thread-safe) GroupLink, metrics and the immutable models.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/cluster_config.h"
#include "coordinator/group_link.h"
#include "coordinator/metrics/metrics.h"
#include "coordinator/metrics/server_metrics.h"
#include "coordinator/serving/served_model.h"

namespace httplib {
class Server;
}

namespace shardserve {

class HttpServer {
 public:
  // `groups`: the worker groups the cluster description names; /metrics reports them down
  // (shardserve_group_up 0) until they register, and again once they are lost.
  HttpServer(const ServerConfig& config, GroupLink& link,
             const std::vector<std::unique_ptr<ServedModel>>& models,
             std::vector<std::string> groups = {});
  ~HttpServer();

  // Binds host:port; Error if it cannot (port in use...). Then run() serves until stop().
  Status bind();
  void run();
  void stop();
  int port() const { return port_; }

 private:
  class Handlers;
  ServerConfig config_;
  std::vector<std::string> groups_;
  GroupLink& link_;
  const std::vector<std::unique_ptr<ServedModel>>& models_;
  metrics::Registry registry_;
  metrics::ServerMetrics metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<Handlers> handlers_;
  int port_ = 0;
};

}  // namespace shardserve
