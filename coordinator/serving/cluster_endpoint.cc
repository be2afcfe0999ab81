#include "coordinator/serving/cluster_endpoint.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace shardserve {
namespace {

using Json = nlohmann::ordered_json;

double seconds_between(std::chrono::steady_clock::time_point from,
                       std::chrono::steady_clock::time_point to) {
  const double s = std::chrono::duration<double>(to - from).count();
  return std::round(std::max(s, 0.0) * 1000.0) / 1000.0;  // ms are plenty
}

uint64_t lookup(const std::map<std::string, uint64_t>& by_group, const std::string& name) {
  auto it = by_group.find(name);
  return it == by_group.end() ? 0 : it->second;
}

Json gpu_json(const wire::GpuReading& r) {
  Json j = {{"device", r.device}, {"name", r.name}};
  auto put = [&](const char* key, const auto& value) {
    if (value) j[key] = *value;
  };
  put("memory_used_bytes", r.memory_used_bytes);
  put("memory_total_bytes", r.memory_total_bytes);
  put("utilization", r.utilization);
  put("memory_utilization", r.memory_utilization);
  put("temperature_celsius", r.temperature_celsius);
  put("power_watts", r.power_watts);
  put("power_limit_watts", r.power_limit_watts);
  return j;
}

Json group_json(const ClusterState& state, const GroupRoster::Entry& e) {
  const wire::GroupHeartbeat load = e.live ? e.live->load : wire::GroupHeartbeat{};
  Json j = {{"name", e.name}, {"up", e.live.has_value()}};
  j["model"] = e.hello ? Json(e.hello->model) : Json(nullptr);
  j["tp"] = e.hello ? Json(e.hello->tp) : Json(nullptr);
  j["max_batch"] = e.hello ? Json(e.hello->max_batch) : Json(nullptr);
  j["context_length"] = e.hello ? Json(e.hello->context_length) : Json(nullptr);
  j["running"] = load.running;
  j["waiting"] = load.waiting;
  j["in_flight"] = e.live ? e.live->in_flight : 0;
  j["kv_used_blocks"] = load.kv_used_blocks;
  j["kv_total_blocks"] = load.kv_total_blocks;
  j["kv_usage"] = load.kv_total_blocks > 0 ? static_cast<double>(load.kv_used_blocks) /
                                                 static_cast<double>(load.kv_total_blocks)
                                           : 0.0;
  j["kv_cached_blocks"] = load.kv_cached_blocks;
  j["steps_total"] = load.steps;
  j["prompt_tokens_total"] = load.prefix_prompt_tokens;
  j["prefix_hit_tokens_total"] = load.prefix_hit_tokens;
  j["generation_tokens_total"] = e.live ? e.live->generated_tokens : 0;
  j["embedded_tokens_total"] = e.live ? e.live->embedded_tokens : 0;
  j["uptime_s"] = e.live ? Json(seconds_between(e.live->registered_at, state.now)) : Json(nullptr);
  j["last_seen_s"] = e.live ? Json(seconds_between(e.live->last_seen, state.now)) : Json(nullptr);
  j["restarts"] = lookup(state.restarts, e.name);
  j["job_exits"] = lookup(state.job_exits, e.name);
  Json gpus = Json::array();
  for (const wire::GpuReading& r : load.gpus) gpus.push_back(gpu_json(r));
  j["gpus"] = std::move(gpus);
  return j;
}

}  // namespace

std::string cluster_json(const ClusterState& state) {
  Json groups = Json::array();
  for (const GroupRoster::Entry& e : state.groups) groups.push_back(group_json(state, e));
  Json models = Json::array();
  for (const ClusterState::Model& m : state.models) {
    int64_t up = 0;
    for (const GroupRoster::Entry& e : state.groups)
      if (e.live && e.live->hello.model == m.name) ++up;
    models.push_back({{"name", m.name},
                      {"task", m.task},
                      {"groups_up", up},
                      {"prompt_tokens_total", m.prompt_tokens},
                      {"generation_tokens_total", m.generation_tokens}});
  }
  Json body = {{"object", "cluster"},
               {"time", std::round(state.time_s * 1000.0) / 1000.0},
               {"groups", std::move(groups)},
               {"models", std::move(models)}};
  // Group and model names come from the config and the groups' Hellos: replace, not throw,
  // should one not be UTF-8.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Response get_cluster(GroupRoster& roster, const metrics::ServerMetrics& metrics,
                     const std::vector<std::unique_ptr<ServedModel>>& models) {
  ClusterState state;
  state.time_s =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  state.now = std::chrono::steady_clock::now();
  state.groups = roster.snapshot();
  for (const auto& [labels, counter] : metrics.group_job_restarts.children())
    state.restarts[labels.at(0)] += counter->value();
  for (const auto& [labels, counter] : metrics.group_job_exits.children())
    state.job_exits[labels.at(0)] += counter->value();  // {group, reason}: all reasons
  auto by_model = [](const metrics::CounterFamily& family) {
    std::map<std::string, uint64_t> out;
    for (const auto& [labels, counter] : family.children()) out[labels.at(0)] += counter->value();
    return out;
  };
  const auto prompt = by_model(metrics.prompt_tokens);
  const auto generated = by_model(metrics.generation_tokens);
  for (const auto& m : models) {
    state.models.push_back({.name = m->name,
                            .task = std::string(model_task_name(m->task)),
                            .prompt_tokens = lookup(prompt, m->name),
                            .generation_tokens = lookup(generated, m->name)});
  }
  return Response::json(200, cluster_json(state));
}

}  // namespace shardserve
