#include "worker/scheduler.h"

#include <algorithm>
#include <string>

#include "base/check.h"

namespace shardserve {

Scheduler::Scheduler(const SchedulerLimits& limits, GrammarConstraints* grammars)
    : limits_(limits),
      grammars_(grammars),
      blocks_(limits.kv_blocks, limits.block_size, limits.prefix_caching) {
  SS_CHECK(limits.max_batch > 0 && limits.max_batch_tokens > 0 && limits.block_size > 0 &&
           limits.n_vocab > 0);
}

Status Scheduler::submit(SequenceRequest request) {
  const int64_t n = static_cast<int64_t>(request.prompt.size());
  if (n == 0) return Error::invalid_input("the prompt is empty");
  if (n + 1 > limits_.context_length)
    return Error::invalid_input("the prompt has " + std::to_string(n) +
                                " tokens; with at least one token to generate it needs " +
                                std::to_string(n + 1) + ", but the context holds " +
                                std::to_string(limits_.context_length));
  if (blocks_for(n + 1) > limits_.kv_blocks)
    return Error::invalid_input("the prompt needs " + std::to_string(blocks_for(n + 1)) +
                                " KV-cache blocks, but the group has " +
                                std::to_string(limits_.kv_blocks));
  auto outside = [&](TokenId t) { return t < 0 || t >= limits_.n_vocab; };
  auto check_tokens = [&](auto&& ids, const char* what) -> Status {
    for (TokenId t : ids)
      if (outside(t))
        return Error::invalid_input(std::string(what) + " token id " + std::to_string(t) +
                                    " is outside the vocabulary (" +
                                    std::to_string(limits_.n_vocab) + " tokens)");
    return {};
  };
  std::vector<TokenId> biased;
  for (const auto& [token, bias] : request.sampling.logit_bias) biased.push_back(token);
  for (Status s :
       {check_tokens(request.prompt, "prompt"), check_tokens(request.stop_tokens, "stop"),
        check_tokens(biased, "logit_bias"), check_tokens(request.resume_tokens, "resume")})
    if (!s) return s;
  const auto n_resume = static_cast<int64_t>(request.resume_tokens.size());
  if (n_resume > 0 &&
      (n_resume >= request.max_tokens || n + n_resume + 1 > limits_.context_length ||
       blocks_for(n + n_resume + 1) > limits_.kv_blocks))
    return Error::invalid_input("a request resumed after " + std::to_string(n_resume) +
                                " tokens has no room left to generate (max_tokens " +
                                std::to_string(request.max_tokens) + ", context " +
                                std::to_string(limits_.context_length) + ")");
  if (sequences_.count(request.id))
    return Error::invalid_input("sequence id " + std::to_string(request.id) + " is in use");
  const int64_t id = request.id;
  Sequence s;
  if (!request.grammar.empty()) {
    if (!grammars_) return Error::invalid_input("this group cannot constrain output to a grammar");
    auto grammar = grammars_->start(request.grammar);
    if (!grammar) return grammar.error();
    s.grammar = std::move(*grammar);
    for (TokenId t : request.resume_tokens)
      if (!s.grammar->accept(t))
        return Error::invalid_input("resumed token " + std::to_string(t) +
                                    " does not follow the request's grammar");
  }
  // Resumed tokens are the sequence's own: admission recomputes them after the prompt, as
  // after a preemption.
  s.generated = std::move(request.resume_tokens);
  request.resume_tokens.clear();
  s.sampler = std::make_unique<Sampler>(request.sampling);
  s.request = std::move(request);
  sequences_.emplace(id, std::move(s));
  waiting_.push_back(id);
  return {};
}

void Scheduler::cancel(int64_t id) {
  auto it = sequences_.find(id);
  if (it != sequences_.end()) it->second.cancelled = true;
}

bool Scheduler::grow(Sequence& s, int64_t positions) {
  const int64_t needed = blocks_for(positions) - blocks_held(s);
  if (needed <= 0) return true;
  auto fresh = blocks_.allocate(needed);
  if (!fresh) return false;
  s.table.insert(s.table.end(), fresh->begin(), fresh->end());
  s.unsent.insert(s.unsent.end(), fresh->begin(), fresh->end());
  return true;
}

bool Scheduler::admit(Sequence& s, int64_t outstanding) {
  BlockManager::PrefixMatch match;
  // A sequence that scores its prompt needs every position's logits: it computes them all.
  if (blocks_.prefix_caching() && !s.request.score_prompt) {
    std::vector<TokenId> context(s.request.prompt);
    context.insert(context.end(), s.generated.begin(), s.generated.end());
    // At least the last token is computed: its logits are the next token's.
    const int64_t max_blocks = (s.context() - 1) / limits_.block_size;
    match = blocks_.find_prefix(context, s.request.cache_salt, max_blocks);
  }
  const auto n_cached = static_cast<int64_t>(match.blocks.size());
  const int64_t need = blocks_for(s.context() + 1) - n_cached + match.unreferenced;
  if (need > free_blocks() - outstanding) return false;
  blocks_.acquire(match);
  s.table = match.blocks;
  s.unsent = std::move(match.blocks);
  s.hashes = std::move(match.hashes);
  s.computed = n_cached * limits_.block_size;
  if (!s.admitted) {
    const auto n_prompt = static_cast<int64_t>(s.request.prompt.size());
    s.cached_tokens = std::min(s.computed, n_prompt);
    s.admitted = true;
    prefix_prompt_tokens_ += n_prompt;
    prefix_hit_tokens_ += s.cached_tokens;
  }
  return true;
}

void Scheduler::publish_computed(Sequence& s) {
  if (!blocks_.prefix_caching()) return;
  const int64_t bs = limits_.block_size;
  std::vector<TokenId> tokens(static_cast<size_t>(bs));
  while (static_cast<int64_t>(s.hashes.size()) < std::min(s.computed / bs, blocks_held(s))) {
    const auto b = static_cast<int64_t>(s.hashes.size());
    for (int64_t i = 0; i < bs; ++i) tokens[i] = s.token_at(b * bs + i);
    const uint64_t parent = b == 0 ? s.request.cache_salt : s.hashes.back();
    s.hashes.push_back(blocks_.publish(s.table[b], parent, tokens));
  }
}

PrefixCacheStats Scheduler::prefix_cache_stats() const {
  return {.prompt_tokens = prefix_prompt_tokens_,
          .hit_tokens = prefix_hit_tokens_,
          .cached_blocks = blocks_.cached_blocks(),
          .evictions = blocks_.evictions()};
}

void Scheduler::release(int64_t id, std::vector<int64_t>& released) {
  Sequence& s = sequences_.at(id);
  if (!s.table.empty()) {
    blocks_.release(s.table);
    released.push_back(id);
  }
  s.table.clear();
  s.unsent.clear();
  s.hashes.clear();
  s.computed = 0;
}

void Scheduler::preempt(int64_t id, std::vector<int64_t>& released) {
  release(id, released);
  running_.erase(std::find(running_.begin(), running_.end(), id));
  waiting_.push_front(id);
}

StepPlan Scheduler::next_plan() {
  StepPlan plan;
  plan.step_id = next_step_++;
  plan.released = std::move(to_release_);
  to_release_.clear();

  // Cancelled sequences leave now, wherever they are.
  for (auto it = sequences_.begin(); it != sequences_.end();) {
    Sequence& s = it->second;
    if (!s.cancelled) {
      ++it;
      continue;
    }
    release(it->first, plan.released);
    running_.erase(std::remove(running_.begin(), running_.end(), it->first), running_.end());
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), it->first), waiting_.end());
    pending_.push_back({.id = it->first,
                        .finish = FinishReason::Cancelled,
                        .prompt_tokens = static_cast<int64_t>(s.request.prompt.size()),
                        .generated_tokens = static_cast<int64_t>(s.generated.size()),
                        .prompt_scores = {},
                        .cached_tokens = s.cached_tokens});
    it = sequences_.erase(it);
  }

  int64_t budget = limits_.max_batch_tokens;
  int64_t scored_rows = kMaxScoredRowsPerStep;
  // A chunk of s's next n context tokens, then the draft tokens to verify after them.
  auto schedule = [&](int64_t id, int64_t n, std::vector<TokenId> draft = {}) {
    Sequence& s = sequences_.at(id);
    PlannedChunk c{.seq = id, .start_pos = s.computed, .tokens = {}, .need_logits = false};
    c.blocks = std::move(s.unsent);
    s.unsent.clear();
    for (int64_t p = s.computed; p < s.computed + n; ++p) c.tokens.push_back(s.token_at(p));
    c.tokens.insert(c.tokens.end(), draft.begin(), draft.end());
    c.need_logits = s.computed + n == s.context();
    const bool scores = s.scores_in(s.computed, n);
    if (scores) scored_rows -= n;
    c.all_logits = scores || !draft.empty();
    budget -= static_cast<int64_t>(c.tokens.size());
    s.draft = std::move(draft);
    plan.chunks.push_back(std::move(c));
  };

  // 1. Decode: one token for every running sequence that has caught up with its context, and
  //    with few sequences running, draft tokens to verify in the same step (speculation).
  //    A decode that cannot get a block preempts the most recently admitted sequence.
  const bool speculate =
      limits_.spec_max_draft > 0 && static_cast<int64_t>(running_.size()) <= limits_.spec_max_batch;
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    const int64_t id = running_[i];
    Sequence& s = sequences_.at(id);
    if (s.context() - s.computed != 1) continue;
    bool preempted_self = false;
    while (!grow(s, s.computed + 1)) {
      const int64_t victim = running_.back();
      preempt(victim, plan.released);
      if (victim == id) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) break;  // it was the last one; nothing after it to schedule
    std::vector<TokenId> draft;
    if (speculate && budget > 1) draft = draft_for(s, budget - 1);
    schedule(id, 1, std::move(draft));
  }

  // 2. Prefill chunks of running sequences still consuming their prompt, oldest first, within
  //    a smaller budget when the step decodes.
  if (!plan.chunks.empty() && limits_.max_prefill_tokens_while_decoding > 0)
    budget = std::min(budget, limits_.max_prefill_tokens_while_decoding);
  auto prefill = [&](int64_t id) {
    Sequence& s = sequences_.at(id);
    int64_t n = std::min(s.context() - s.computed, budget);
    // Only as many positions as free blocks allow (no preemption for prefill).
    const int64_t room = (blocks_held(s) + free_blocks()) * limits_.block_size - s.computed;
    n = std::min(n, room);
    // A chunk that scores the prompt returns a row of logits per token: bound their memory.
    if (s.scores_in(s.computed, n)) n = std::min(n, scored_rows);
    if (n <= 0 || !grow(s, s.computed + n)) return;
    schedule(id, n);
  };
  for (int64_t id : running_) {
    if (budget <= 0) break;
    const Sequence& s = sequences_.at(id);
    if (s.context() - s.computed > 1) prefill(id);
  }

  // 3. Admit waiting sequences while the batch, the token budget and the KV cache allow:
  //    a sequence needs blocks for its whole context plus one token, beyond what running
  //    prefills still need.
  int64_t outstanding = 0;
  for (int64_t id : running_) {
    const Sequence& s = sequences_.at(id);
    outstanding += std::max<int64_t>(0, blocks_for(s.context() + 1) - blocks_held(s));
  }
  while (!waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < limits_.max_batch) {
    const int64_t id = waiting_.front();
    Sequence& s = sequences_.at(id);
    if (!admit(s, outstanding)) break;  // FCFS: nobody overtakes the head
    waiting_.pop_front();
    running_.push_back(id);
    outstanding += std::max<int64_t>(0, blocks_for(s.context() + 1) - blocks_held(s));
    prefill(id);
  }
  return plan;
}

std::vector<TokenEvent> Scheduler::on_step_done(const StepPlan& plan,
                                                std::span<const float> logits) {
  const int64_t n_vocab = limits_.n_vocab;
  std::vector<TokenEvent> events = std::move(pending_);
  pending_.clear();
  size_t row = 0;
  for (const PlannedChunk& c : plan.chunks) {
    auto it = sequences_.find(c.seq);
    const auto n = static_cast<int64_t>(c.tokens.size());
    const int64_t rows = c.all_logits ? n : c.need_logits ? 1 : 0;
    const std::span<const float> chunk_logits = logits.subspan(row * n_vocab, rows * n_vocab);
    row += static_cast<size_t>(rows);
    if (it == sequences_.end()) continue;  // cancelled and gone
    Sequence& s = it->second;
    if (!s.draft.empty()) {
      verify_draft(c.seq, s, c.start_pos, chunk_logits, events);
      continue;
    }
    s.computed += n;
    publish_computed(s);
    if (s.cancelled) continue;  // its finish event comes with the next plan
    std::vector<ScoredToken> scores;
    if (c.all_logits) scores = score_prompt(s, c.start_pos, chunk_logits);
    if (!c.need_logits || s.request.max_tokens == 0) {
      // Still reading the prompt, or only scoring it.
      const bool done = c.need_logits;
      if (!scores.empty() || done)
        events.push_back({.id = c.seq,
                          .token = -1,
                          .finish = done ? FinishReason::Length : FinishReason::None,
                          .prompt_tokens = static_cast<int64_t>(s.request.prompt.size()),
                          .generated_tokens = 0,
                          .prompt_scores = std::move(scores),
                          .cached_tokens = s.cached_tokens});
      if (done) finish(c.seq);
      continue;
    }
    sample_next(c.seq, s, chunk_logits.last(n_vocab), std::move(scores), events);
  }
  return events;
}

std::optional<TokenId> Scheduler::sample_next(int64_t id, Sequence& s,
                                              std::span<const float> row_logits,
                                              std::vector<ScoredToken> scores,
                                              std::vector<TokenEvent>& events) {
  const auto prompt_tokens = static_cast<int64_t>(s.request.prompt.size());
  const int64_t masked_before = s.sampler->masked_samples();
  const Sample sample =
      s.sampler->sample(row_logits, s.request.prompt, s.generated, s.grammar.get());
  if (s.grammar) {
    ++constrained_samples_;
    masked_samples_ += s.sampler->masked_samples() - masked_before;
  }
  if (sample.token < 0) {  // the grammar allows nothing: the answer ends here
    events.push_back({.id = id,
                      .token = -1,
                      .finish = FinishReason::Stop,
                      .prompt_tokens = prompt_tokens,
                      .generated_tokens = static_cast<int64_t>(s.generated.size()),
                      .prompt_scores = std::move(scores),
                      .cached_tokens = s.cached_tokens});
    finish(id);
    return std::nullopt;
  }
  if (s.grammar) {
    const bool followed = s.grammar->accept(sample.token);
    SS_CHECK(followed, "the sampler chose a token the grammar does not allow");
  }
  s.generated.push_back(sample.token);
  TokenEvent e{.id = id,
               .token = sample.token,
               .logprob = sample.logprob,
               .top = sample.top,
               .finish = FinishReason::None,
               .prompt_tokens = prompt_tokens,
               .generated_tokens = static_cast<int64_t>(s.generated.size()),
               .prompt_scores = std::move(scores),
               .cached_tokens = s.cached_tokens};
  const auto& stops = s.request.stop_tokens;
  if (std::find(stops.begin(), stops.end(), sample.token) != stops.end()) {
    e.finish = FinishReason::Stop;
  } else if (e.generated_tokens >= s.request.max_tokens || s.context() >= limits_.context_length) {
    e.finish = FinishReason::Length;
  }
  const TokenId token = sample.token;
  const bool finished = e.finish != FinishReason::None;
  events.push_back(std::move(e));
  if (finished) {
    finish(id);
    return std::nullopt;
  }
  return token;
}

void Scheduler::verify_draft(int64_t id, Sequence& s, int64_t start_pos,
                             std::span<const float> chunk_logits, std::vector<TokenEvent>& events) {
  const std::vector<TokenId> draft = std::move(s.draft);
  s.draft.clear();
  const auto k = static_cast<int64_t>(draft.size());
  // Sample position by position, as plain decoding would: a draft token is kept while it is
  // exactly the token sampled before it, and the first sample that differs (or the one after
  // the last draft) is the step's bonus.
  int64_t accepted = 0;
  if (!s.cancelled) {
    for (int64_t i = 0; i <= k; ++i) {
      const auto row_logits = chunk_logits.subspan(i * limits_.n_vocab, limits_.n_vocab);
      const std::optional<TokenId> token = sample_next(id, s, row_logits, {}, events);
      if (!token) break;  // finished (and forgotten)
      if (i == k || *token != draft[i]) break;
      ++accepted;
    }
  }
  spec_proposed_ += k;
  spec_accepted_ += accepted;
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return;
  // The last generated token and the accepted drafts have their K/V; the rest is overwritten.
  s.computed = start_pos + 1 + accepted;
  publish_computed(s);
  // Adapt: longer drafts while they are taken whole, shorter ones and pauses while they are not.
  if (accepted == k) {
    s.spec_k = std::min(s.spec_k + 2, limits_.spec_max_draft);
    s.spec_misses = 0;
  } else if (accepted == 0) {
    s.spec_k = std::max<int64_t>(1, s.spec_k / 2);
    s.spec_misses = std::min<int64_t>(s.spec_misses + 1, 5);
    s.spec_pause = int64_t{1} << s.spec_misses;
  } else {
    s.spec_k = std::max<int64_t>(2, accepted + 1);
    s.spec_misses = 0;
  }
}

std::vector<TokenId> Scheduler::draft_for(Sequence& s, int64_t max_tokens) {
  if (s.spec_pause > 0) {
    --s.spec_pause;
    return {};
  }
  std::vector<TokenId> draft = propose_draft(s);
  // Room: the step's budget, the context, max_tokens (the step samples one more than the
  // draft), and blocks beyond one kept free for every running sequence's next decode.
  const auto left = std::min({max_tokens, limits_.context_length - s.context() - 1,
                              s.request.max_tokens - static_cast<int64_t>(s.generated.size()) - 1});
  if (static_cast<int64_t>(draft.size()) > left)
    draft.resize(static_cast<size_t>(std::max<int64_t>(left, 0)));
  if (draft.empty()) return draft;
  const int64_t end = s.computed + 1 + static_cast<int64_t>(draft.size());
  const int64_t more = blocks_for(end) - blocks_held(s);
  if (more > 0 && (more > free_blocks() - static_cast<int64_t>(running_.size()) || !grow(s, end)))
    return {};
  return draft;
}

std::vector<TokenId> Scheduler::propose_draft(const Sequence& s) const {
  std::vector<TokenId> draft;
  const int64_t length = s.context();
  // The longest n-gram (kMaxNgram down to kMinNgram tokens) that ends the context and occurred
  // before: the tokens that followed its latest earlier occurrence.
  for (int64_t n = std::min(kMaxNgram, length - 1); n >= kMinNgram && draft.empty(); --n) {
    for (int64_t start = length - n - 1; start >= 0; --start) {
      bool same = true;
      for (int64_t i = 0; i < n && same; ++i)
        same = s.token_at(start + i) == s.token_at(length - n + i);
      if (!same) continue;
      const int64_t k = std::min(s.spec_k, limits_.spec_max_draft);
      for (int64_t p = start + n; p < length && static_cast<int64_t>(draft.size()) < k; ++p)
        draft.push_back(s.token_at(p));
      break;
    }
  }
  return draft;
}

std::vector<ScoredToken> Scheduler::score_prompt(Sequence& s, int64_t start_pos,
                                                 std::span<const float> chunk_logits) {
  const int64_t n_vocab = limits_.n_vocab;
  const auto n_prompt = static_cast<int64_t>(s.request.prompt.size());
  const auto rows = static_cast<int64_t>(chunk_logits.size()) / n_vocab;
  std::vector<ScoredToken> scores;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t predicted = start_pos + i + 1;  // the position row i predicts
    if (predicted < s.scored || predicted >= n_prompt) continue;
    scores.push_back(score_token(chunk_logits.subspan(i * n_vocab, n_vocab),
                                 s.request.prompt[predicted], s.request.sampling.top_logprobs));
    s.scored = predicted + 1;
  }
  return scores;
}

void Scheduler::finish(int64_t id) {
  release(id, to_release_);
  running_.erase(std::remove(running_.begin(), running_.end(), id), running_.end());
  sequences_.erase(id);
}

}  // namespace shardserve
