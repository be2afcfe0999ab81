#include "worker/serve_embed.h"

#include <chrono>
#include <variant>

namespace shardserve {

ServeStats serve_embeddings(GroupMember& group, CoordinatorLink& link, const EmbedLimits& limits,
                            const std::atomic<bool>& stop) {
  using std::chrono::milliseconds;
  EmbedBatcher batcher(limits);
  ServeStats stats;
  std::vector<float> outputs;
  const int64_t dim = group.model().output_width();
  bool shutdown = false;
  auto report_load = [&] {
    link.report_load({.running = 0, .waiting = batcher.waiting(), .steps = stats.steps});
  };

  while (!shutdown && !stop.load()) {
    const milliseconds wait = batcher.has_work() ? milliseconds(0) : milliseconds(100);
    for (LinkCommand& command : link.poll_commands(wait)) {
      if (auto* embed = std::get_if<wire::Embed>(&command)) {
        const int64_t id = embed->request_id;
        if (Status s = batcher.submit({.id = id, .tokens = std::move(embed->tokens)}); !s) {
          link.send_rejected(id, s.error());
        } else {
          ++stats.requests;
        }
      } else if (auto* cancel = std::get_if<wire::Cancel>(&command)) {
        if (batcher.cancel(cancel->request_id))
          link.send_rejected(cancel->request_id, Error{"cancelled before it was encoded"});
      } else if (auto* submit = std::get_if<wire::Submit>(&command)) {
        link.send_rejected(
            submit->request.id,
            Error::invalid_input("this group serves an embedding model; it cannot generate text"));
      } else {
        shutdown = true;
      }
    }
    if (!batcher.has_work()) {
      report_load();
      continue;
    }
    StepPlan plan = batcher.next_plan();
    group.lead(plan, outputs);
    ++stats.steps;
    wire::Embeddings message{.step = plan.step_id, .dim = dim, .results = {}};
    for (EncodedInput& r : batcher.on_step_done(plan, outputs, dim)) {
      stats.prompt_tokens += r.n_tokens;
      message.results.push_back(
          {.id = r.id, .n_tokens = r.n_tokens, .embedding = std::move(r.embedding)});
    }
    link.send_embeddings(std::move(message));
    report_load();
  }

  group.lead(batcher.shutdown_plan(), outputs);
  return stats;
}

}  // namespace shardserve
