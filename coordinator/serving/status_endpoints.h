// What the coordinator says about itself and its cluster: GET /ready, /metrics, /v1/models
// and /v1/models/{id}. (GET /health, 200 while HTTP is served, needs nothing from here.)
//
//   get_ready    200 {"status":"ready","models":{name:"ready"}} when every served model has a
//                live worker group; else 503, "not ready", and "no live worker group" by each
//                model without one.
//   get_models   the OpenAI model list; get_model one model object, 404 for an unknown id.
//   GroupRoster  the groups to report on: those the cluster description names and those that
//                were live once, each with its live state and the last Hello it said.
//   MetricsPage  the Prometheus text of the registry, after setting the per-group gauges
//                (up, running sequences, KV-cache use) and the queue depth from the live
//                groups' last heartbeats. Every group of its roster stays in the output, with
//                up 0 and nothing running while it is not live. Then the live groups' GPUs
//                (serving/gpu_metrics_text.h), which vanish with their group.
//                (GET /v1/cluster, serving/cluster_endpoint.h, reports the same roster.)
//
// Thread-safety: all may be called from any request thread (GroupLink and the metrics are
// thread-safe, the models immutable; GroupRoster and MetricsPage guard what they remember).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/group_link.h"
#include "coordinator/metrics/metrics.h"
#include "coordinator/metrics/server_metrics.h"
#include "coordinator/serving/endpoint.h"
#include "coordinator/serving/served_model.h"

namespace shardserve {

Response get_ready(const std::vector<std::unique_ptr<ServedModel>>& models, const GroupLink& link);
Response get_models(const std::vector<std::unique_ptr<ServedModel>>& models);
Response get_model(const std::vector<std::unique_ptr<ServedModel>>& models, std::string_view id);

class GroupRoster {
 public:
  // `configured`: the worker groups of the cluster description. `link` must outlive this.
  GroupRoster(const GroupLink& link, const std::vector<std::string>& configured);

  struct Entry {
    std::string name;
    std::optional<GroupInfo> live;     // the live group of this name (the newest, if several)
    std::optional<wire::Hello> hello;  // its Hello, or the last one seen: none if never live
  };
  // Every group: the configured ones in the description's order, then the others in the order
  // they were first seen live.
  std::vector<Entry> snapshot();

 private:
  const GroupLink& link_;
  std::mutex mu_;
  std::vector<std::string> names_;             // GUARDED_BY(mu_)
  std::map<std::string, wire::Hello> hellos_;  // GUARDED_BY(mu_): the last Hello by name
};

class MetricsPage {
 public:
  // `groups`: the worker groups of the cluster description. The references must outlive this.
  MetricsPage(const metrics::Registry& registry, metrics::ServerMetrics& metrics,
              const GroupLink& link, const std::vector<std::string>& groups);

  // The body of GET /metrics (Content-Type metrics::kContentType).
  std::string render();
  // The groups it reports on.
  GroupRoster& roster() { return roster_; }

 private:
  const metrics::Registry& registry_;
  metrics::ServerMetrics& metrics_;
  GroupRoster roster_;
  std::mutex mu_;
  // The totals each group reported last, to turn them into counter increments (a group that
  // restarts starts from zero again).
  std::map<std::string, wire::GroupHeartbeat> last_load_;  // GUARDED_BY(mu_)
};

}  // namespace shardserve
