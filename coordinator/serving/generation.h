// The choices of one request, run on a worker group and turned into text.
//
// start() picks the least-loaded live group serving the model, submits one sequence per
// choice (choice i of a seeded request uses seed + i, so choices differ but reproduce) and
// returns. next() waits for progress and returns what each choice has to say: text safe to
// send (UTF-8 complete, stop strings held back and cut), its tokens' log-probabilities when
// asked, and the finish reason at the end. A stop string ends its choice and cancels the
// sequence in the group; cancel() (client gone, timeout) cancels every unfinished choice.
// A group that refuses the request ends it with an ApiError (4xx / 5xx).
//
// Failover: when the group dies mid-request, each unfinished choice is resubmitted, through
// the router, to another live group serving the model (or to the same group once it is
// restarted and registers again) with its prompt and the tokens it has produced so far
// (SequenceRequest::resume_tokens). The new group recomputes them and goes on, and next()
// continues the choice's text where it stopped: the sampler's draws are keyed by seed and
// position and the model is batch-invariant, so greedy and seeded choices get exactly the
// tokens of an undisturbed run. A choice waits for a group up to Failover::wait, then fails
// with 503; a choice whose groups die kMaxFailovers times fails at once (a request that kills
// every group it reaches must not take down every replica in turn).
//
// One thread uses a Generation (the HTTP thread of its request); GroupLink is thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/openai_error.h"
#include "api/openai_request.h"
#include "api/openai_response.h"
#include "coordinator/group_link.h"
#include "coordinator/metrics/server_metrics.h"
#include "coordinator/serving/prefix_router.h"
#include "coordinator/serving/served_model.h"
#include "coordinator/stream/text_stream.h"

namespace shardserve {

struct ChoiceUpdate {
  int index = 0;
  std::string text;                          // may be empty
  std::vector<api::TokenLogprobs> logprobs;  // for the tokens of `text`, when requested
  int64_t text_offset = 0;                   // byte offset of `text` in the choice's text
  std::optional<api::FinishReason> finish;   // set on the choice's last update
};

// What shapes a request's choices besides its options.
struct ChoiceShape {
  // GBNF every choice's tokens must follow (structured_output.h, tool_calls.h); "": none.
  std::string grammar;
  // With options.echo, each choice's first update is this text (echo.h) and, with logprobs,
  // the prompt tokens' logprobs, scored by the group; text offsets of the generated tokens
  // then count from the start of the echo.
  std::string echo_text;
  // Control tokens whose text the choices show (a tool format's opener, for its parser).
  std::vector<TokenId> shown_tokens;
};

// What happens to a choice whose group dies (server.failover_timeout_s).
struct Failover {
  std::chrono::seconds wait{0};               // 0: fail at once
  metrics::ServerMetrics* metrics = nullptr;  // shardserve_request_failovers_total, if set
};

class Generation {
 public:
  static constexpr int kMaxFailovers = 3;

  // `first_index`: the index of this request's first choice in the response (completions
  // with several prompts give each prompt n consecutive indices). `prompt_param` names the
  // request field the prompt came from ("messages" or "prompt") in errors about it.
  // The group is chosen by `router` among the live groups serving the model.
  static api::ApiResult<std::unique_ptr<Generation>> start(
      GroupLink& link, PrefixRouter& router, const ServedModel& model, std::vector<TokenId> prompt,
      const api::GenerationOptions& options, int first_index, std::string_view prompt_param,
      ChoiceShape shape = {}, Failover failover = {});
  ~Generation();

  // Progress since the last call, waiting up to `timeout` for some. Empty on timeout.
  api::ApiResult<std::vector<ChoiceUpdate>> next(std::chrono::milliseconds timeout);
  bool done() const;
  void cancel();
  int64_t prompt_tokens() const { return prompt_tokens_; }
  int64_t completion_tokens() const;
  // Prompt tokens the group found in its prefix cache (for every choice), so far.
  int64_t cached_tokens() const;
  const std::string& group_name() const { return group_name_; }
  // Why the router chose the group (PrefixRouter::reason_name).
  const char* route_reason() const { return route_reason_; }

 private:
  struct Choice;
  Generation() = default;
  // A choice whose group died: submits it, with the tokens it produced, to a group the router
  // picks among the live ones serving the model. False if there is none (yet).
  bool resubmit(Choice& c);
  // The failover of a choice whose group died: resubmitted now, or waiting for a group until
  // its deadline (an error after it).
  api::ApiResult<bool> recover(Choice& c);

  GroupLink* link_ = nullptr;
  PrefixRouter* router_ = nullptr;
  const ServedModel* model_ = nullptr;
  Failover failover_;
  uint64_t cache_salt_ = 0;
  std::string prompt_cache_key_;
  bool logprobs_ = false;
  bool echo_ = false;
  std::vector<TokenId> prompt_;
  std::string echo_text_;
  int64_t prompt_tokens_ = 0;
  std::string group_name_;
  const char* route_reason_ = "load";
  std::vector<std::unique_ptr<Choice>> choices_;
};

}  // namespace shardserve
