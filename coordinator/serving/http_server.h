// The coordinator's HTTP front door (libmicrohttpd): routes and transport. Each route is served
// by an endpoint (serving/endpoint.h) that knows nothing of HTTP:
//
//   GET  /health                  liveness: 200 while the process serves HTTP
//   GET  /ready                   200 when every model has a live worker group, else 503
//   GET  /metrics                 Prometheus text                (serving/status_endpoints.h)
//   GET  /v1/models, /v1/models/{id}                             (serving/status_endpoints.h)
//   POST /v1/chat/completions, /v1/completions   (stream: SSE)   (serving/completions.h)
//   POST /v1/embeddings                                          (serving/embeddings_endpoint.h)
//   POST /tokenize, /detokenize                                  (serving/tokenize_endpoint.h)
//   GET  /v1/cluster              groups, load, KV use, GPUs as JSON (serving/cluster_endpoint.h)
//   /v1/files, /v1/vector_stores and below: the knowledge base    (serving/knowledge_endpoints.h)
//                                 uploads (POST /v1/files) are multipart forms streamed to a
//                                 file under knowledge.data_dir as they arrive, bounded by
//                                 knowledge.max_file_bytes (not server.max_body_bytes); a bad
//                                 key, a missing knowledge base or a declared length over the
//                                 limit is answered before the body is read
//   GET  /, /...                  the chat page: files under server.web_root, when set; a file
//                                 of the path is served before any route (serving/static_files.h)
//
// Here, before the endpoints: CORS and API keys (serving/access.h); 404 for an unknown route,
// 405 for a known route with the wrong method, 413 for a body over server.max_body_bytes, each
// an OpenAI error object (requests that are not HTTP at all get libmicrohttpd's own 400); while
// draining, /health and /ready answer 503 {"status":"draining"}. shardserve_requests_total
// counts the answers of the /v1 routes, /tokenize and /detokenize by endpoint and status.
//
// Connections at scale. One libmicrohttpd polling thread (epoll) owns every socket: an idle
// keep-alive connection, a client dripping its header and a stream waiting for its next token
// each cost a socket and a little memory, never a thread. Bounds:
//   - server.idle_timeout_s: a connection must complete its request header that long after it
//     opens or after its previous response ends, however slowly it drips bytes
//     (serving/connection_table.h shuts down the late ones); mid-request or mid-response, a
//     connection silent (or not reading) that long is closed by libmicrohttpd's inactivity
//     timeout, which also ends a stream whose client stopped reading.
//   - server.max_connections: a connection opened while that many are open is answered 503
//     (OpenAI error object, Retry-After: 1) for its request and closed; a hard limit a quarter
//     above it (at least 64) is enforced by libmicrohttpd at accept. The process's open-file
//     limit is raised to its hard maximum at bind() so that thousands of sockets fit.
//   - Requests run off the polling thread: /health, /ready, /metrics, /v1/models and
//     /v1/cluster answer at once in memory on it; every other endpoint blocks (a chat
//     completion waits for its whole generation), so its connection is suspended and the
//     endpoint runs on the request pool (server.max_queued_requests + 16 threads; 429 past the
//     queue: serving/admission.h), which queues the answer and resumes the connection. A
//     stream's writer goes on, on its pool thread, into a bounded buffer
//     (serving/stream_buffer.h) that the polling thread sends as chunked Server-Sent Events.
//   - The listen backlog is 4096 (the kernel may cap it at net.core.somaxconn).
//
// Why not cpp-httplib (the server before): it gives every accepted socket a pool thread that
// blocks reading it until its keep-alive or read timeout, so a thousand idle connections take
// every thread and a new chat request waits (yhirose/cpp-httplib#1410, #1891; its maintainer
// keeps that model).
//
// Thread-safety: endpoints run on pool threads, the cheap routes on the polling thread; shared
// state is the (thread-safe) GroupLink, metrics and admission, and the immutable models.
// stop() may be called from any thread, more than once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/cluster_config.h"
#include "coordinator/group_link.h"
#include "coordinator/metrics/metrics.h"
#include "coordinator/metrics/server_metrics.h"
#include "coordinator/serving/admission.h"
#include "coordinator/serving/connection_table.h"
#include "coordinator/serving/endpoint.h"
#include "coordinator/serving/served_model.h"
#include "coordinator/serving/status_endpoints.h"
#include "coordinator/serving/stream_buffer.h"
#include "coordinator/serving/task_pool.h"

struct MHD_Daemon;

namespace shardserve {

class HttpServer {
 public:
  // `groups`: the worker groups the cluster description names; /metrics reports them down
  // (shardserve_group_up 0) until they register, and again once they are lost. `knowledge`:
  // the knowledge base, nullptr when it is off. `link`, `models` and `knowledge` must outlive
  // the server.
  HttpServer(const ServerConfig& config, GroupLink& link,
             const std::vector<std::unique_ptr<ServedModel>>& models,
             const std::vector<std::string>& groups = {},
             knowledge::KnowledgeBase* knowledge = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on host:port and starts serving; Error if it cannot (port in use...). Then run()
  // blocks until stop() has finished.
  Status bind();
  void run();
  // Stops accepting, ends open streams, waits for the requests on the pool to end, closes
  // every connection. Idempotent; concurrent callers return once it is done.
  void stop();
  int port() const { return port_; }
  metrics::ServerMetrics& metrics() { return metrics_; }
  // Graceful shutdown, first half: new API requests get 503 with Retry-After and /health and
  // /ready answer 503 (so that a load balancer stops sending), while requests in flight go on.
  void drain() { admission_.drain(); }
  int requests_in_flight() const { return admission_.in_flight(); }

 private:
  friend struct MhdGlue;  // the libmicrohttpd callbacks (http_server.cc)
  struct Exchange;        // one request on a connection (http_server.cc)
  struct Route;

  // Runs `route`'s endpoint for the request.
  Response serve(const Route& route, const Exchange& ex);
  Response serve_knowledge(const Route& route, const Exchange& ex);
  // Counts `response` under `endpoint` in shardserve_requests_total (not when empty).
  void count(std::string_view endpoint, const Response& response);
  // On a pool thread: runs the endpoint, queues its answer, resumes the connection, and
  // writes a stream's body to its end.
  void run_on_pool(Exchange& ex, const Route& route);
  void add_stream(const std::shared_ptr<StreamBuffer>& stream);
  void remove_stream(const std::shared_ptr<StreamBuffer>& stream);

  const ServerConfig config_;
  knowledge::KnowledgeBase* const knowledge_;
  metrics::Registry registry_;
  metrics::ServerMetrics metrics_;
  Admission admission_;
  PrefixRouter router_;
  EndpointContext context_;
  MetricsPage metrics_page_;
  ConnectionTable connections_;
  TaskPool pool_;

  int listen_fd_ = -1;  // ours until the daemon takes it (bind), again after quiesce (stop)
  int port_ = 0;
  MHD_Daemon* daemon_ = nullptr;      // set by bind(), before any callback
  std::atomic<bool> serving_{false};  // the daemon started
  std::atomic<bool> stopping_{false};

  std::mutex streams_mutex_;
  std::set<std::shared_ptr<StreamBuffer>> streams_;  // writers running; guarded by streams_mutex_

  std::mutex stop_mutex_;
  std::condition_variable stopped_cv_;
  bool stop_started_ = false;  // guarded by stop_mutex_
  bool stopped_ = false;       // guarded by stop_mutex_
};

}  // namespace shardserve
