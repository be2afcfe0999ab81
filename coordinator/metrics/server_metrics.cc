// The coordinator's metric definitions (see server_metrics.h).
#include "coordinator/metrics/server_metrics.h"

namespace shardserve::metrics {

namespace {

// From 1 ms (a cached prompt on a GPU) to 80 s (a long prompt on a busy CPU group).
std::vector<double> ttft_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
          0.75,  1,     2.5,  5,    7.5,  10,   20,   40,  80};
}

// From 1 ms (a small model on a GPU) to 2.5 s (an overloaded group).
std::vector<double> itl_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
          0.15,  0.2,    0.3,   0.4,  0.5,   0.75, 1,     2.5};
}

std::vector<double> duration_buckets() {
  return {0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960};
}

// 1, 2, 5, 10, 20, 50, ... up to 100000 tokens.
std::vector<double> token_buckets() {
  std::vector<double> b;
  for (double scale = 1; scale <= 1e5; scale *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m * scale <= 1e5) b.push_back(m * scale);
    }
  }
  return b;
}

}  // namespace

ServerMetrics::ServerMetrics(Registry& r)
    : requests(r.counter("shardserve_requests_total", "HTTP requests by endpoint and status.",
                         {"endpoint", "status"})),
      prompt_tokens(
          r.counter("shardserve_prompt_tokens_total", "Prompt tokens processed.", {"model"})),
      generation_tokens(
          r.counter("shardserve_generation_tokens_total", "Tokens generated.", {"model"})),
      queue_depth(r.gauge("shardserve_queue_depth",
                          "Requests waiting in the coordinator for a worker group.")),
      requests_running(r.gauge("shardserve_requests_running",
                               "Requests submitted to a worker group and not finished.")),
      group_running_sequences(r.gauge("shardserve_group_running_sequences",
                                      "Sequences a worker group is generating.", {"group"})),
      group_kv_cache_usage(r.gauge("shardserve_group_kv_cache_usage_ratio",
                                   "Fraction of a worker group's KV-cache blocks in use.",
                                   {"group"})),
      group_up(r.gauge("shardserve_group_up",
                       "1 if the worker group is registered and its heartbeats arrive, else 0.",
                       {"group"})),
      group_job_exits(r.counter("shardserve_group_job_exits_total",
                                "Worker group jobs (mpirun) of `shardserve up` that ended, by how.",
                                {"group", "reason"})),
      group_job_restarts(r.counter("shardserve_group_job_restarts_total",
                                   "Worker group jobs `shardserve up` started again.", {"group"})),
      prefix_cache_queries(r.counter("shardserve_prefix_cache_queries_total",
                                     "Prompt tokens a worker group looked up in its prefix cache.",
                                     {"group"})),
      prefix_cache_hits(r.counter("shardserve_prefix_cache_hits_total",
                                  "Prompt tokens a worker group found in its prefix cache.",
                                  {"group"})),
      group_kv_cached_blocks(r.gauge("shardserve_group_kv_cached_blocks",
                                     "KV-cache blocks of a worker group holding a cached prefix.",
                                     {"group"})),
      spec_draft_tokens(r.counter("shardserve_spec_decode_draft_tokens_total",
                                  "Draft tokens proposed by speculative decoding.", {"group"})),
      spec_accepted_tokens(r.counter("shardserve_spec_decode_accepted_tokens_total",
                                     "Draft tokens speculative decoding accepted.", {"group"})),
      router_decisions(r.counter("shardserve_router_decisions_total",
                                 "Generation requests routed to a worker group, by why: prefix "
                                 "(it holds the prompt's start), cache_key (prompt_cache_key) or "
                                 "load (the least busy).",
                                 {"group", "reason"})),
      failovers(r.counter("shardserve_request_failovers_total",
                          "Generations whose worker group died while they ran, by outcome: "
                          "resumed (continued on another replica or the restarted group from "
                          "the tokens already sent) or failed (no replica within "
                          "server.failover_timeout_s).",
                          {"model", "outcome"})),
      time_to_first_token(r.histogram("shardserve_time_to_first_token_seconds",
                                      "Time from request arrival to the first token.",
                                      ttft_buckets(), {"model"})),
      inter_token_latency(r.histogram("shardserve_inter_token_latency_seconds",
                                      "Time between consecutive tokens of a sequence.",
                                      itl_buckets(), {"model"})),
      request_duration(r.histogram("shardserve_request_duration_seconds",
                                   "Time from request arrival to its last byte.",
                                   duration_buckets(), {"model"})),
      request_prompt_tokens(r.histogram("shardserve_request_prompt_tokens",
                                        "Prompt tokens per finished request.", token_buckets(),
                                        {"model"})),
      request_generation_tokens(r.histogram("shardserve_request_generation_tokens",
                                            "Generated tokens per finished request.",
                                            token_buckets(), {"model"})),
      http_connections(r.gauge("shardserve_http_connections",
                               "Open HTTP connections of the coordinator (idle ones included).")),
      http_connections_refused(
          r.counter("shardserve_http_connections_refused_total",
                    "HTTP connections answered 503 because server.max_connections were open.")),
      knowledge_uploads(r.counter("shardserve_knowledge_uploads_total",
                                  "Files uploaded to the knowledge base, by outcome: stored, "
                                  "refused (the file or a limit: 4xx) or failed (5xx).",
                                  {"outcome"})),
      knowledge_chunks(r.counter("shardserve_knowledge_chunks_embedded_total",
                                 "Chunks of uploaded files embedded and stored.")),
      knowledge_upload_time(r.histogram("shardserve_knowledge_upload_duration_seconds",
                                        "Time to extract, chunk, embed and store an upload.",
                                        duration_buckets())),
      knowledge_search_time(r.histogram("shardserve_knowledge_search_duration_seconds",
                                        "Time of a knowledge-base search (query embedding "
                                        "included), from the API or a file_search tool.",
                                        ttft_buckets())) {}

}  // namespace shardserve::metrics
