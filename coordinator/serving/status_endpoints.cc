#include "coordinator/serving/status_endpoints.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "api/openai_response.h"
#include "coordinator/serving/gpu_metrics_text.h"

namespace shardserve {

Response get_ready(const std::vector<std::unique_ptr<ServedModel>>& models, const GroupLink& link) {
  nlohmann::ordered_json body = {{"status", "ready"}, {"models", nlohmann::ordered_json::object()}};
  bool all = true;
  for (const auto& m : models) {
    const bool live = link.least_loaded(m->name).has_value();
    body["models"][m->name] = live ? "ready" : "no live worker group";
    all = all && live;
  }
  if (!all) body["status"] = "not ready";
  return Response::json(all ? 200 : 503, body.dump());
}

Response get_models(const std::vector<std::unique_ptr<ServedModel>>& models) {
  std::vector<api::ModelInfo> list;
  for (const auto& m : models)
    list.push_back({m->name, m->created, "shardserve", m->context_length});
  return Response::json(200, api::dump_json(api::model_list(list)));
}

Response get_model(const std::vector<std::unique_ptr<ServedModel>>& models, std::string_view id) {
  const ServedModel* m = find_model(models, id);
  if (!m) return Response::error(api::ApiError::model_not_found(id));
  return Response::json(
      200,
      api::dump_json(api::model_object({m->name, m->created, "shardserve", m->context_length})));
}

GroupRoster::GroupRoster(const GroupLink& link, const std::vector<std::string>& configured)
    : link_(link), names_(configured) {}

std::vector<GroupRoster::Entry> GroupRoster::snapshot() {
  std::map<std::string, GroupInfo> live;  // by name: the newest (highest id) wins
  for (GroupInfo& g : link_.groups()) {
    auto it = live.find(g.hello.group_name);
    if (it == live.end() || g.id > it->second.id) live[g.hello.group_name] = std::move(g);
  }
  std::lock_guard lock(mu_);
  for (const auto& [name, g] : live) {
    if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
    hellos_[name] = g.hello;
  }
  std::vector<Entry> out;
  out.reserve(names_.size());
  for (const std::string& name : names_) {
    Entry e{.name = name};
    if (auto it = live.find(name); it != live.end()) e.live = it->second;
    if (auto it = hellos_.find(name); it != hellos_.end()) e.hello = it->second;
    out.push_back(std::move(e));
  }
  return out;
}

MetricsPage::MetricsPage(const metrics::Registry& registry, metrics::ServerMetrics& metrics,
                         const GroupLink& link, const std::vector<std::string>& groups)
    : registry_(registry), metrics_(metrics), roster_(link, groups) {}

std::string MetricsPage::render() {
  // Groups seen before and gone now stay in the output with up = 0 and nothing running.
  std::lock_guard lock(mu_);
  double waiting = 0;
  std::vector<GroupGpus> gpus;  // live groups only: a lost group's GPU series are dropped
  for (const GroupRoster::Entry& e : roster_.snapshot()) {
    const std::string& name = e.name;
    if (!e.live) {
      metrics_.group_up.with({name}).set(0);
      metrics_.group_running_sequences.with({name}).set(0);
      continue;
    }
    const GroupInfo& g = *e.live;
    if (!g.load.gpus.empty()) gpus.push_back({name, g.load.gpus});
    waiting += static_cast<double>(g.load.waiting);
    metrics_.group_up.with({name}).set(1);
    metrics_.group_running_sequences.with({name}).set(static_cast<double>(g.load.running));
    metrics_.group_kv_cache_usage.with({name}).set(
        g.load.kv_total_blocks > 0 ? static_cast<double>(g.load.kv_used_blocks) /
                                         static_cast<double>(g.load.kv_total_blocks)
                                   : 0.0);
    metrics_.group_kv_cached_blocks.with({name}).set(static_cast<double>(g.load.kv_cached_blocks));
    const wire::GroupHeartbeat last = last_load_[name];
    auto add = [&](metrics::CounterFamily& family, int64_t now, int64_t before) {
      const int64_t delta = now >= before ? now - before : now;  // restarted: from zero
      family.with({name}).inc(static_cast<uint64_t>(std::max<int64_t>(delta, 0)));
    };
    add(metrics_.prefix_cache_queries, g.load.prefix_prompt_tokens, last.prefix_prompt_tokens);
    add(metrics_.prefix_cache_hits, g.load.prefix_hit_tokens, last.prefix_hit_tokens);
    add(metrics_.spec_draft_tokens, g.load.spec_proposed_tokens, last.spec_proposed_tokens);
    add(metrics_.spec_accepted_tokens, g.load.spec_accepted_tokens, last.spec_accepted_tokens);
    last_load_[name] = g.load;
  }
  metrics_.queue_depth.get().set(waiting);
  return registry_.render() + render_gpu_metrics_text(gpus);
}

}  // namespace shardserve
