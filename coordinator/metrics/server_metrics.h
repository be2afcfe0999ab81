// The coordinator's metrics, named in one place: names, labels, units and buckets.
//
// Units follow Prometheus conventions (seconds, ratios 0..1, plain counts). Label values:
//   endpoint  the route, e.g. "/v1/chat/completions" (never the raw URL: bounded cardinality)
//   status    the HTTP status code as text, e.g. "200", "429"
//   model     the served model name
//   group     the worker group's name from the cluster config
// Histograms: time_to_first_token from request arrival to the first content token;
// inter_token_latency between consecutive tokens of one sequence; request_duration from
// arrival to the last byte; prompt/generation tokens per finished request.
//
// Thread-safety and lifetime: as metrics::Registry; the families live as long as `registry`.
#pragma once

#include "coordinator/metrics/metrics.h"

namespace shardserve::metrics {

struct ServerMetrics {
  explicit ServerMetrics(Registry& registry);

  CounterFamily& requests;               // shardserve_requests_total{endpoint,status}
  CounterFamily& prompt_tokens;          // shardserve_prompt_tokens_total{model}
  CounterFamily& generation_tokens;      // shardserve_generation_tokens_total{model}
  GaugeFamily& queue_depth;              // shardserve_queue_depth: waiting for a group
  GaugeFamily& requests_running;         // shardserve_requests_running: being served
  GaugeFamily& group_running_sequences;  // shardserve_group_running_sequences{group}
  GaugeFamily& group_kv_cache_usage;     // shardserve_group_kv_cache_usage_ratio{group}
  GaugeFamily& group_up;                 // shardserve_group_up{group}: 1 healthy, 0 not
  // `shardserve up`'s group jobs: how each ended, and restarts.
  CounterFamily& group_job_exits;     // shardserve_group_job_exits_total{group,reason}
  CounterFamily& group_job_restarts;  // shardserve_group_job_restarts_total{group}
  // Prefix caching and speculative decoding, from the groups' heartbeats (counts in tokens).
  CounterFamily& prefix_cache_queries;  // shardserve_prefix_cache_queries_total{group}
  CounterFamily& prefix_cache_hits;     // shardserve_prefix_cache_hits_total{group}
  GaugeFamily& group_kv_cached_blocks;  // shardserve_group_kv_cached_blocks{group}
  CounterFamily& spec_draft_tokens;     // shardserve_spec_decode_draft_tokens_total{group}
  CounterFamily& spec_accepted_tokens;  // shardserve_spec_decode_accepted_tokens_total{group}
  CounterFamily& router_decisions;      // shardserve_router_decisions_total{group,reason}
  // Choices whose group died mid-request, by outcome: resumed (continued on a replica or the
  // restarted group) or failed (none came back within server.failover_timeout_s).
  CounterFamily& failovers;                    // shardserve_request_failovers_total{model,outcome}
  HistogramFamily& time_to_first_token;        // shardserve_time_to_first_token_seconds{model}
  HistogramFamily& inter_token_latency;        // shardserve_inter_token_latency_seconds{model}
  HistogramFamily& request_duration;           // shardserve_request_duration_seconds{model}
  HistogramFamily& request_prompt_tokens;      // shardserve_request_prompt_tokens{model}
  HistogramFamily& request_generation_tokens;  // shardserve_request_generation_tokens{model}
  // The HTTP front's connections: open now, and refused past server.max_connections (503).
  GaugeFamily& http_connections;            // shardserve_http_connections
  CounterFamily& http_connections_refused;  // shardserve_http_connections_refused_total

  // The knowledge base (coordinator/knowledge).
  CounterFamily& knowledge_uploads;        // shardserve_knowledge_uploads_total{outcome}
  CounterFamily& knowledge_chunks;         // shardserve_knowledge_chunks_embedded_total
  HistogramFamily& knowledge_upload_time;  // shardserve_knowledge_upload_duration_seconds
  HistogramFamily& knowledge_search_time;  // shardserve_knowledge_search_duration_seconds
};

}  // namespace shardserve::metrics
