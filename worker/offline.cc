#include "worker/offline.h"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace shardserve {
namespace {

const char* finish_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::Cancelled:
      return "cancelled";
    default:
      return "none";
  }
}

// Parses one request line into a SequenceRequest; Error says what is wrong.
Result<SequenceRequest> parse_request(const std::string& line, int64_t fallback_id,
                                      const Tokenizer& tokenizer) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error{"not a JSON object"};
  SequenceRequest r;
  try {
    r.id = j.value("id", fallback_id);
    if (j.contains("prompt_tokens")) {
      r.prompt = j["prompt_tokens"].get<std::vector<TokenId>>();
    } else if (j.contains("prompt")) {
      r.prompt = tokenizer.encode(j["prompt"].get<std::string>(), true, true);
    } else {
      return Error{"needs \"prompt\" or \"prompt_tokens\""};
    }
    r.max_tokens = j.value("max_tokens", int64_t{16});
    if (r.max_tokens < 1) return Error{"max_tokens must be at least 1"};
    r.sampling.temperature = j.value("temperature", 1.0f);
    r.sampling.top_p = j.value("top_p", 1.0f);
    r.sampling.top_k = j.value("top_k", 0);
    r.sampling.min_p = j.value("min_p", 0.0f);
    r.sampling.seed = j.value("seed", uint64_t{0});
    r.grammar = j.value("grammar", std::string());
    if (!j.value("ignore_eos", false) || !r.grammar.empty())
      for (TokenId t = 0; t < tokenizer.n_vocab(); ++t)
        if (tokenizer.is_end_of_generation(t)) r.stop_tokens.push_back(t);
  } catch (const nlohmann::json::exception& e) {
    return Error{std::string("bad field: ") + e.what()};
  }
  return r;
}

}  // namespace

OfflineStats run_offline(GroupMember& group, const Tokenizer& tokenizer,
                         const SchedulerLimits& limits, std::istream& in, std::ostream& out) {
  GrammarConstraints grammars(tokenizer);
  Scheduler scheduler(limits, &grammars);
  std::map<int64_t, std::vector<TokenId>> tokens;
  OfflineStats stats;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto request = parse_request(line, n++, tokenizer);
    Status status = request ? scheduler.submit(*request) : Status(request.error());
    if (!status) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      out << nlohmann::json{{"id", j.is_object() ? j.value("id", n - 1) : n - 1},
                            {"error", status.message()}}
          << "\n";
      continue;
    }
    tokens[request->id];
    stats.prompt_tokens += static_cast<int64_t>(request->prompt.size());
  }

  const auto start = std::chrono::steady_clock::now();
  std::vector<float> logits;
  while (scheduler.has_work()) {
    StepPlan plan = scheduler.next_plan();
    group.lead(plan, logits);
    ++stats.steps;
    const auto sampling = std::chrono::steady_clock::now();
    std::vector<TokenEvent> events = scheduler.on_step_done(plan, logits);
    stats.sampling_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - sampling).count();
    for (const TokenEvent& e : events) {
      if (e.token >= 0) tokens[e.id].push_back(e.token);
      if (e.finish == FinishReason::None) continue;
      const auto& t = tokens[e.id];
      stats.generated_tokens += static_cast<int64_t>(t.size());
      out << nlohmann::json{{"id", e.id},
                            {"tokens", t},
                            {"text", tokenizer.decode(t, true)},
                            {"finish_reason", finish_name(e.finish)},
                            {"prompt_tokens", e.prompt_tokens},
                            {"completion_tokens", e.generated_tokens}}
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
          << "\n"
          << std::flush;
      tokens.erase(e.id);
    }
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.constrained_samples = scheduler.constrained_samples();
  stats.masked_samples = scheduler.masked_samples();
  stats.prefix = scheduler.prefix_cache_stats();
  stats.spec = scheduler.spec_stats();
  StepPlan stop = scheduler.next_plan();
  stop.shutdown = true;
  group.lead(stop, logits);
  return stats;
}

}  // namespace shardserve
