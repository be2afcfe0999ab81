// The shape every endpoint of the coordinator's HTTP API shares: what it serves from
// (EndpointContext) and what it answers with (Response).
//
// An endpoint (serving/completions.h, embeddings_endpoint.h, status_endpoints.h) is a function
// of plain inputs, the request body and the context, that returns a Response: a status and a
// JSON body, or a stream that writes the body in chunks as it is produced (Server-Sent
// Events). serving/http_server.cc maps routes to endpoints and Responses onto libmicrohttpd; no
// endpoint sees the HTTP library.
//
// Thread-safety: an EndpointContext is shared by every request thread; all it refers to is
// immutable (config, models) or thread-safe (GroupLink, metrics, Admission, PrefixRouter). A
// Response and its stream belong to the thread of their request.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/openai_error.h"
#include "config/cluster_config.h"
#include "coordinator/group_link.h"
#include "coordinator/metrics/server_metrics.h"
#include "coordinator/serving/admission.h"
#include "coordinator/serving/prefix_router.h"
#include "coordinator/serving/served_model.h"

namespace shardserve {
namespace knowledge {
class KnowledgeBase;
}

// What endpoints serve from. References: the HttpServer that owns the context outlives them.
struct EndpointContext {
  const ServerConfig& config;
  GroupLink& link;
  const std::vector<std::unique_ptr<ServedModel>>& models;
  metrics::ServerMetrics& metrics;
  Admission& admission;
  PrefixRouter& router;
  knowledge::KnowledgeBase* knowledge = nullptr;  // the knowledge base; nullptr: turned off
};

// Where a streamed body goes: the client's connection.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Sends `data` as the next chunk; false when the connection is gone.
  virtual bool write(std::string_view data) = 0;
  // False once the client has gone away.
  virtual bool writable() = 0;
  // Ends the body.
  virtual void done() = 0;
};

// Writes a streamed body: called once on the request's thread after the headers are sent.
// Returns true after writing the body and calling done(), false to drop the connection (the
// client went away).
using StreamWriter = std::function<bool(StreamSink&)>;

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
  StreamWriter stream;  // set: the body is streamed (status 200) and `body` is unused

  static Response json(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static Response error(const api::ApiError& e) {
    Response r = json(e.status, e.to_body());
    if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
    return r;
  }
};

// Seconds from `t` to now, for the latency metrics.
inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace shardserve
