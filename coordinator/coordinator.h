// The coordinator process's parts, assembled once for `shardserve coordinator` and
// `shardserve up`: the served models (tokenizers and chat templates, loaded from the config's
// model files), the GroupLink that worker groups connect to (server.coordinator_endpoint) and
// the knowledge base under knowledge.data_dir when set (coordinator/knowledge/knowledge_base.h,
// embedding through the served embedding model) and the HTTP server on
// server.host:server.port (coordinator/serving/http_server.h).
//
// start() loads and binds everything, or returns an Error naming the model, endpoint or port
// that failed; then run() serves HTTP on the calling thread until stop(). Destruction stops the
// HTTP server, then the link (ending requests still in flight), then frees the models.
//
// Thread-safety: stop() and the accessors may be called from any thread while run() serves.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/cluster_config.h"
#include "coordinator/group_link.h"
#include "coordinator/knowledge/knowledge_base.h"
#include "coordinator/serving/http_server.h"
#include "coordinator/serving/served_model.h"

namespace shardserve {

class Coordinator {
 public:
  static Result<std::unique_ptr<Coordinator>> start(const ClusterConfig& config);
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Serves HTTP until stop(); blocks.
  void run();
  void stop();
  // Graceful shutdown: refuses new requests (503 with Retry-After; /health and /ready 503) and
  // waits until the requests in flight have ended or `deadline` passed. Returns how many were
  // still in flight at the end (0: all finished). Call stop() after.
  int drain(std::chrono::steady_clock::time_point deadline);

  // The HTTP port bound.
  int port() const { return server_->port(); }
  GroupLink& link() { return *link_; }
  const std::vector<std::unique_ptr<ServedModel>>& models() const { return models_; }
  // True when every chat model has a live worker group (embedding models are not waited for).
  bool chat_models_live() const;
  // For the launcher: a group's job ended (`reason`, e.g. "killed by signal 9 (Killed)"), or
  // was started again; counted in /metrics.
  void record_group_job_exit(const std::string& group, const std::string& reason);
  void record_group_job_restart(const std::string& group);

 private:
  Coordinator() = default;

  // In the order start() builds them, destroyed in reverse; constant after start().
  std::vector<std::unique_ptr<ServedModel>> models_;
  std::unique_ptr<GroupLink> link_;
  std::unique_ptr<knowledge::KnowledgeBase> knowledge_;  // null when knowledge.data_dir is unset
  std::unique_ptr<HttpServer> server_;
};

}  // namespace shardserve
