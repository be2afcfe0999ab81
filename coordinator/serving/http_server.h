// The coordinator's HTTP front door (cpp-httplib): routes and transport. Each route is served
// by an endpoint (serving/endpoint.h) that knows nothing of HTTP:
//
//   GET  /health                  liveness: 200 while the process serves HTTP
//   GET  /ready                   200 when every model has a live worker group, else 503
//   GET  /metrics                 Prometheus text                (serving/status_endpoints.h)
//   GET  /v1/models, /v1/models/{id}                             (serving/status_endpoints.h)
//   POST /v1/chat/completions, /v1/completions   (stream: SSE)   (serving/completions.h)
//   POST /v1/embeddings                                          (serving/embeddings_endpoint.h)
//   GET  /, /...                  the chat page: files under server.web_root, when set
//
// Here, before the endpoints: CORS and API keys (serving/access.h); 404 for an unknown route,
// 405 for a known route with the wrong method, 413 for a body over server.max_body_bytes, 400
// for a malformed request, each an OpenAI error object; a thread pool sized for
// server.max_queued_requests open streams (429 past them: serving/admission.h); and a listen
// backlog wide enough for a burst of clients. shardserve_requests_total counts the answers of
// the /v1 routes by endpoint and status.
//
// Thread-safety: each request runs on one thread of the server's pool; shared state is the
// (thread-safe) GroupLink, metrics and admission, and the immutable models. stop() may be
// called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/cluster_config.h"
#include "coordinator/group_link.h"
#include "coordinator/metrics/metrics.h"
#include "coordinator/metrics/server_metrics.h"
#include "coordinator/serving/admission.h"
#include "coordinator/serving/endpoint.h"
#include "coordinator/serving/served_model.h"
#include "coordinator/serving/status_endpoints.h"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace shardserve {

class HttpServer {
 public:
  // `groups`: the worker groups the cluster description names; /metrics reports them down
  // (shardserve_group_up 0) until they register, and again once they are lost. `link` and
  // `models` must outlive the server.
  HttpServer(const ServerConfig& config, GroupLink& link,
             const std::vector<std::unique_ptr<ServedModel>>& models,
             const std::vector<std::string>& groups = {});
  ~HttpServer();

  // Binds host:port; Error if it cannot (port in use...). Then run() serves until stop().
  Status bind();
  void run();
  void stop();
  int port() const { return port_; }
  metrics::ServerMetrics& metrics() { return metrics_; }
  // Graceful shutdown, first half: new API requests get 503 with Retry-After and /health and
  // /ready answer 503 (so that a load balancer stops sending), while requests in flight go on.
  void drain() { admission_.drain(); }
  int requests_in_flight() const { return admission_.in_flight(); }

 private:
  void install_routes();
  // Sends `response`, counted in shardserve_requests_total under `endpoint`.
  void answer(httplib::Response& res, std::string_view endpoint, Response response);

  const ServerConfig config_;
  metrics::Registry registry_;
  metrics::ServerMetrics metrics_;
  Admission admission_;
  PrefixRouter router_;
  EndpointContext context_;
  MetricsPage metrics_page_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
};

}  // namespace shardserve
