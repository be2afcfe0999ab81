#include "worker/serve.h"

#include <chrono>
#include <variant>

namespace shardserve {

ServeStats serve(GroupMember& group, CoordinatorLink& link, const SchedulerLimits& limits,
                 const std::atomic<bool>& stop, GrammarConstraints* grammars) {
  using std::chrono::milliseconds;
  Scheduler scheduler(limits, grammars);
  ServeStats stats;
  std::vector<float> logits;
  bool shutdown = false;
  auto report_load = [&] {
    const PrefixCacheStats prefix = scheduler.prefix_cache_stats();
    const SpecStats spec = scheduler.spec_stats();
    link.report_load({.running = scheduler.running(),
                      .waiting = scheduler.waiting(),
                      .kv_used_blocks = scheduler.used_blocks(),
                      .kv_total_blocks = limits.kv_blocks,
                      .steps = stats.steps,
                      .prefix_prompt_tokens = prefix.prompt_tokens,
                      .prefix_hit_tokens = prefix.hit_tokens,
                      .kv_cached_blocks = prefix.cached_blocks,
                      .spec_proposed_tokens = spec.proposed,
                      .spec_accepted_tokens = spec.accepted});
  };

  while (!shutdown && !stop.load()) {
    const milliseconds wait = scheduler.has_work() ? milliseconds(0) : milliseconds(100);
    for (LinkCommand& command : link.poll_commands(wait)) {
      if (auto* submit = std::get_if<wire::Submit>(&command)) {
        const int64_t id = submit->request.id;
        if (Status s = scheduler.submit(std::move(submit->request)); !s) {
          link.send_rejected(id, s.error());
        } else {
          ++stats.requests;
        }
      } else if (auto* cancel = std::get_if<wire::Cancel>(&command)) {
        scheduler.cancel(cancel->request_id);
      } else if (auto* embed = std::get_if<wire::Embed>(&command)) {
        link.send_rejected(
            embed->request_id,
            Error::invalid_input("this group serves a chat model; it cannot compute embeddings"));
      } else {
        shutdown = true;
      }
    }
    if (!scheduler.has_work()) {
      report_load();
      continue;
    }
    StepPlan plan = scheduler.next_plan();
    group.lead(plan, logits);
    ++stats.steps;
    std::vector<TokenEvent> events = scheduler.on_step_done(plan, logits);
    for (const TokenEvent& e : events)
      if (e.token >= 0) ++stats.generated_tokens;
    if (!events.empty()) link.send_events({.step = plan.step_id, .events = std::move(events)});
    report_load();
  }

  // Tell the peers to stop; the scheduler's last plan releases what is still held.
  StepPlan last = scheduler.next_plan();
  last.chunks.clear();
  last.shutdown = true;
  group.lead(last, logits);
  return stats;
}

}  // namespace shardserve
