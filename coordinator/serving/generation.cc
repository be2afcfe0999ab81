#include "coordinator/serving/generation.h"

#include <cstdio>
#include <random>
#include <thread>

#include "base/hash.h"
#include "coordinator/serving/echo.h"

namespace shardserve {

struct Generation::Choice {
  int index = 0;
  SequenceRequest request;  // as first submitted (its id is the first group's)
  std::shared_ptr<RequestEvents> events;
  TextStream text;
  std::vector<TokenEvent> tokens;          // every token event received, by stream index
  std::vector<ScoredToken> prompt_scores;  // echo with logprobs: the group's, so far
  bool echo_pending = false;               // echo: the prompt's text is still to be sent
  int64_t text_base = 0;                   // bytes echoed before the generated text
  int64_t cached_tokens = 0;               // prompt tokens the group found in its cache
  int64_t emitted_bytes = 0;
  int64_t generated = 0;  // tokens counted as completion tokens
  bool finished = false;
  // Failover: the group died and the choice waits for another until `lost_until`.
  bool lost = false;
  std::chrono::steady_clock::time_point lost_until;
  std::string lost_reason;
  int failovers = 0;
  size_t skip_scores = 0;  // prompt scores a resumed group sends again, already received
  Choice(const Tokenizer& tokenizer, std::vector<std::string> stop, std::vector<TokenId> shown)
      : text(tokenizer, std::move(stop), std::move(shown)) {}
};

namespace {

// The group's salt for a request's cache_salt: 0 for none, else a 64-bit hash of it (FNV-1a,
// then mixed), never 0.
uint64_t salt_of(std::string_view cache_salt) {
  if (cache_salt.empty()) return 0;
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : cache_salt) h = (h ^ c) * 0x100000001b3ull;
  h = mix64(h);
  return h == 0 ? 1 : h;
}

api::FinishReason to_api(FinishReason r) {
  return r == FinishReason::Length ? api::FinishReason::Length : api::FinishReason::Stop;
}

SamplingParams sampling_for(const api::GenerationOptions& o, uint64_t seed) {
  SamplingParams p;
  p.temperature = static_cast<float>(o.temperature);
  p.top_k = o.top_k;
  p.top_p = static_cast<float>(o.top_p);
  p.min_p = static_cast<float>(o.min_p);
  p.repetition_penalty = static_cast<float>(o.repetition_penalty);
  p.presence_penalty = static_cast<float>(o.presence_penalty);
  p.frequency_penalty = static_cast<float>(o.frequency_penalty);
  for (auto [token, bias] : o.logit_bias)
    p.logit_bias.emplace_back(token, static_cast<float>(bias));
  p.seed = seed;
  p.logprobs = o.logprobs;
  p.top_logprobs = o.logprobs ? o.top_logprobs : 0;
  return p;
}

}  // namespace

api::ApiResult<std::unique_ptr<Generation>> Generation::start(
    GroupLink& link, PrefixRouter& router, const ServedModel& model, std::vector<TokenId> prompt,
    const api::GenerationOptions& options, int first_index, std::string_view prompt_param,
    ChoiceShape shape, Failover failover) {
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0)
    return api::ApiError::bad_request("the prompt is empty", std::string(prompt_param));
  if (n_prompt + 1 > model.context_length)
    return api::ApiError::bad_request(
        "This model's maximum context length is " + std::to_string(model.context_length) +
            " tokens. However, your prompt has " + std::to_string(n_prompt) +
            " tokens, which leaves no room for a completion.",
        std::string(prompt_param), "context_length_exceeded");
  for (auto [token, bias] : options.logit_bias)
    if (token >= model.tokenizer->n_vocab())
      return api::ApiError::bad_request("logit_bias names token " + std::to_string(token) +
                                            ", but the vocabulary has " +
                                            std::to_string(model.tokenizer->n_vocab()) + " tokens",
                                        "logit_bias");
  std::vector<GroupInfo> candidates;
  for (GroupInfo& info : link.groups())
    if (info.hello.model == model.name) candidates.push_back(std::move(info));
  auto route =
      router.route(candidates, prompt, salt_of(options.cache_salt), options.prompt_cache_key);
  if (!route)
    return api::ApiError::unavailable("no worker group is serving model '" + model.name +
                                      "' right now; try again shortly");

  std::unique_ptr<Generation> g(new Generation());
  g->link_ = &link;
  g->router_ = &router;
  g->model_ = &model;
  g->failover_ = failover;
  g->cache_salt_ = salt_of(options.cache_salt);
  g->prompt_cache_key_ = options.prompt_cache_key;
  g->logprobs_ = options.logprobs;
  g->echo_ = options.echo;
  if (g->echo_) g->echo_text_ = std::move(shape.echo_text);
  g->prompt_ = prompt;
  g->prompt_tokens_ = n_prompt;
  const GroupInfo& group = route->group;
  // Once this returns, the group's own in-flight count holds what was submitted.
  struct Submitted {
    PrefixRouter& router;
    uint64_t group_id;
    ~Submitted() { router.submitted(group_id); }
  } submitted{router, group.id};
  g->group_name_ = group.hello.group_name;
  g->route_reason_ = PrefixRouter::reason_name(route->reason);
  const int64_t room = model.context_length - n_prompt;
  const int64_t max_tokens = options.max_tokens ? std::min(*options.max_tokens, room) : room;
  const uint64_t seed =
      options.seed ? static_cast<uint64_t>(*options.seed) : std::random_device{}();
  for (int i = 0; i < options.n; ++i) {
    wire::Submit submit;
    submit.request.id = link.next_request_id();
    submit.request.prompt = prompt;
    submit.request.sampling = sampling_for(options, seed + static_cast<uint64_t>(i));
    submit.request.max_tokens = max_tokens;
    // A grammar ends the answer with an end-of-generation token, ignore_eos or not.
    if (!options.ignore_eos || !shape.grammar.empty())
      submit.request.stop_tokens = model.end_of_generation;
    submit.request.grammar = shape.grammar;
    submit.request.score_prompt = options.echo && options.logprobs;
    submit.request.cache_salt = g->cache_salt_;
    SequenceRequest request = submit.request;
    auto events = link.submit(group.id, std::move(submit));
    if (!events) {
      g->cancel();
      return api::ApiError::from(events.error().code, events.error().message);
    }
    auto choice = std::make_unique<Choice>(*model.tokenizer, options.stop, shape.shown_tokens);
    choice->index = first_index + i;
    choice->request = std::move(request);
    choice->echo_pending = options.echo;
    choice->events = std::move(*events);
    g->choices_.push_back(std::move(choice));
  }
  return g;
}

Generation::~Generation() {
  cancel();
}

void Generation::cancel() {
  for (auto& c : choices_)
    if (!c->finished && !c->lost) link_->cancel(c->events->group_id(), c->events->request_id());
}

bool Generation::resubmit(Choice& c) {
  std::vector<GroupInfo> candidates;
  for (GroupInfo& info : link_->groups())
    if (info.hello.model == model_->name) candidates.push_back(std::move(info));
  std::vector<TokenId> produced;
  produced.reserve(c.tokens.size());
  for (const TokenEvent& e : c.tokens) produced.push_back(e.token);
  std::vector<TokenId> context = prompt_;
  context.insert(context.end(), produced.begin(), produced.end());
  auto route = router_->route(candidates, context, cache_salt_, prompt_cache_key_);
  if (!route) return false;
  const GroupInfo& group = route->group;
  struct Submitted {
    PrefixRouter& router;
    uint64_t group_id;
    ~Submitted() { router.submitted(group_id); }
  } submitted{*router_, group.id};
  wire::Submit submit;
  submit.request = c.request;
  submit.request.id = link_->next_request_id();
  submit.request.resume_tokens = std::move(produced);
  auto events = link_->submit(group.id, std::move(submit));
  if (!events) return false;  // gone again: the next attempt routes anew
  std::fprintf(stderr,
               "shardserve coordinator: choice %d of a request on '%s' continues on group '%s' "
               "after %zu tokens (%s)\n",
               c.index, model_->name.c_str(), group.hello.group_name.c_str(), c.tokens.size(),
               c.lost_reason.c_str());
  c.events = std::move(*events);
  c.lost = false;
  c.skip_scores = c.prompt_scores.size();
  if (failover_.metrics) failover_.metrics->failovers.with({model_->name, "resumed"}).inc();
  return true;
}

api::ApiResult<bool> Generation::recover(Choice& c) {
  if (resubmit(c)) return true;
  if (std::chrono::steady_clock::now() < c.lost_until) return false;
  if (failover_.metrics) failover_.metrics->failovers.with({model_->name, "failed"}).inc();
  c.finished = true;
  return api::ApiError::unavailable("the request failed: " + c.lost_reason +
                                    "; no worker group "
                                    "serving model '" +
                                    model_->name + "' came back within " +
                                    std::to_string(failover_.wait.count()) + " s");
}

bool Generation::done() const {
  for (const auto& c : choices_)
    if (!c->finished) return false;
  return true;
}

int64_t Generation::cached_tokens() const {
  int64_t n = 0;  // the prompt's tokens that every choice found in the cache
  for (size_t i = 0; i < choices_.size(); ++i)
    n = i == 0 ? choices_[i]->cached_tokens : std::min(n, choices_[i]->cached_tokens);
  return n;
}

int64_t Generation::completion_tokens() const {
  int64_t n = 0;
  for (const auto& c : choices_) n += c->generated;
  return n;
}

api::ApiResult<std::vector<ChoiceUpdate>> Generation::next(std::chrono::milliseconds timeout) {
  std::vector<ChoiceUpdate> updates;
  // Waiting is shared among the unfinished choices; the first one waits the longest.
  std::chrono::milliseconds wait = timeout;
  for (auto& c : choices_) {
    if (c->finished) continue;
    if (c->lost) {
      auto back = recover(*c);
      if (!back.ok()) return back.error();
      if (!*back) {  // no group yet: wait a little, as pop_all would have
        std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(50)));
        wait = std::chrono::milliseconds(0);
        continue;
      }
    }
    std::vector<RequestEvent> events = c->events->pop_all(wait);
    wait = std::chrono::milliseconds(0);
    ChoiceUpdate update{.index = c->index,
                        .text = {},
                        .logprobs = {},
                        .text_offset = c->emitted_bytes,
                        .finish = std::nullopt};
    // The echo goes first, once every prompt score it needs is in (they all come before the
    // first token).
    auto echo = [&] {
      if (!c->echo_pending) return;
      if (logprobs_ && c->prompt_scores.size() + 1 < prompt_.size()) return;
      c->echo_pending = false;
      update.text += echo_text_;
      c->text_base = static_cast<int64_t>(echo_text_.size());
      if (logprobs_)
        update.logprobs = echo_logprobs(*model_->tokenizer, prompt_, c->prompt_scores, echo_text_);
    };
    auto take = [&](Delta delta) {
      update.text += delta.text;
      if (!logprobs_) return;
      for (const TokenPiece& piece : delta.tokens) {
        if (piece.special) continue;
        const TokenEvent& e = c->tokens[piece.index];
        api::TokenLogprobs lp{
            .token = piece.bytes,
            .logprob = e.logprob,
            .top = {},
            .text_offset = c->text_base + static_cast<int64_t>(piece.text_offset)};
        for (const TokenLogprob& t : e.top)
          lp.top.push_back({model_->tokenizer->token_to_piece(t.token), t.logprob});
        update.logprobs.push_back(std::move(lp));
      }
    };
    echo();
    for (RequestEvent& e : events) {
      if (c->finished) break;
      if (e.kind == RequestEvent::Kind::Rejected)
        return api::ApiError::from(e.code, "the worker group refused the request: " + e.error);
      if (e.kind == RequestEvent::Kind::Failed) {
        const bool group_lost = e.code == ErrorCode::kUnavailable;
        if (!group_lost || failover_.wait.count() <= 0 || c->failovers >= kMaxFailovers) {
          if (group_lost && failover_.metrics)
            failover_.metrics->failovers.with({model_->name, "failed"}).inc();
          return api::ApiError::server_error("the request failed: " + e.error);
        }
        c->lost = true;
        c->lost_until = std::chrono::steady_clock::now() + failover_.wait;
        c->lost_reason = e.error;
        ++c->failovers;
        auto back = recover(*c);
        if (!back.ok()) return back.error();
        break;  // the events of the new group come with the next call
      }
      for (ScoredToken& score : e.token.prompt_scores) {
        if (c->skip_scores > 0) {
          --c->skip_scores;
          continue;
        }
        c->prompt_scores.push_back(std::move(score));
      }
      c->cached_tokens = std::max(c->cached_tokens, e.token.cached_tokens);
      echo();
      if (e.token.token >= 0) {
        c->tokens.push_back(e.token);
        ++c->generated;
        Delta delta = c->text.push(e.token.token);
        const bool stopped = delta.stopped;
        take(std::move(delta));
        if (stopped) {
          c->finished = true;
          update.finish = api::FinishReason::Stop;
          link_->cancel(c->events->group_id(), c->events->request_id());
          break;
        }
      }
      if (e.token.finish != FinishReason::None) {
        take(c->text.finish());
        c->finished = true;
        update.finish = e.token.finish == FinishReason::Cancelled ? api::FinishReason::Stop
                                                                  : to_api(e.token.finish);
      }
    }
    c->emitted_bytes += static_cast<int64_t>(update.text.size());
    if (!update.text.empty() || update.finish || !update.logprobs.empty())
      updates.push_back(std::move(update));
  }
  return updates;
}

}  // namespace shardserve
