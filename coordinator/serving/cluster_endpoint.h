// GET /v1/cluster (a shardserve extension): the cluster's state as JSON, for the chat page's
// Cluster view and for operators' scripts. Cheap: read from memory, answered on the polling
// thread like /metrics; it is behind the API keys like every /v1 route.
//
//   {"object": "cluster",
//    "time": 1765000000.123,                 // Unix seconds (ms precision) of this answer
//    "groups": [{                            // every group of the roster (status_endpoints.h)
//      "name": "smollm2-tp2", "up": true,
//      "model": "smollm2-135m-instruct",     // from its Hello (the last one when down); null
//      "tp": 2, "max_batch": 32,             //   for a group never seen live, as these three
//      "context_length": 8192,
//      "running": 1, "waiting": 0,           // sequences, from its last heartbeat
//      "in_flight": 1,                       // requests the coordinator has open on it
//      "kv_used_blocks": 12, "kv_total_blocks": 2048, "kv_usage": 0.0059,
//      "kv_cached_blocks": 3,
//      "steps_total": 5120,                  // totals since the group (re)started: rates come
//      "prompt_tokens_total": 830,           //   from two answers (a restart starts from 0)
//      "prefix_hit_tokens_total": 64,
//      "generation_tokens_total": 412,       // tokens it sent back, counted as they arrive
//      "embedded_tokens_total": 0,           // input tokens of the texts it embedded
//      "uptime_s": 73.2,                     // since it registered; null when down
//      "last_seen_s": 0.4,                   // since its last message; null when down
//      "restarts": 0, "job_exits": 0,        // shardserve_group_job_restarts_total, ..._exits_
//      "gpus": [{"device": 0, "name": "NVIDIA H200", "memory_used_bytes": 1073741824,
//                "memory_total_bytes": 151397597184, "utilization": 0.75,
//                "memory_utilization": 0.25, "temperature_celsius": 61, "power_watts": 312.5,
//                "power_limit_watts": 700}]  // a figure the device did not report is absent
//    }],
//    "models": [{"name": "smollm2-135m-instruct", "task": "chat", "groups_up": 1,
//                "prompt_tokens_total": 830,      // shardserve_prompt_tokens_total{model} and
//                "generation_tokens_total": 412}]}  // ..._generation_tokens_total{model}
//
// A group's generated and embedded tokens are counted by the link as its messages arrive
// (GroupInfo), so its tokens/s is live; the models' totals are the /metrics counters, counted
// when a request ends.
//
// Thread-safety: as GroupRoster and the metrics: any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/metrics/server_metrics.h"
#include "coordinator/serving/endpoint.h"
#include "coordinator/serving/served_model.h"
#include "coordinator/serving/status_endpoints.h"

namespace shardserve {

// What one answer is made of, gathered by get_cluster(); cluster_json() only formats it.
struct ClusterState {
  double time_s = 0;                          // Unix seconds
  std::chrono::steady_clock::time_point now;  // against GroupInfo's registered_at, last_seen
  std::vector<GroupRoster::Entry> groups;
  std::map<std::string, uint64_t> restarts;   // by group name; absent: 0
  std::map<std::string, uint64_t> job_exits;  // by group name, all reasons; absent: 0
  struct Model {
    std::string name;
    std::string task;  // "chat" or "embed"
    uint64_t prompt_tokens = 0, generation_tokens = 0;
  };
  std::vector<Model> models;
};

// The JSON body described above.
std::string cluster_json(const ClusterState& state);

// GET /v1/cluster: gathers the state from the roster, the metrics and the models; 200 always.
Response get_cluster(GroupRoster& roster, const metrics::ServerMetrics& metrics,
                     const std::vector<std::unique_ptr<ServedModel>>& models);

}  // namespace shardserve
