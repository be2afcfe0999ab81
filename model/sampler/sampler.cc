#include "model/sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/hash.h"

namespace shardserve {
namespace {

// log(sum(exp(x))) computed stably: float exponentials (the compiler vectorises the loop),
// summed in float over blocks of 256 and the block sums in double.
double log_sum_exp(std::span<const float> x) {
  const float max = *std::max_element(x.begin(), x.end());
  double sum = 0.0;
  for (size_t begin = 0; begin < x.size(); begin += 256) {
    const size_t end = std::min(x.size(), begin + 256);
    float block = 0.0f;
    for (size_t i = begin; i < end; ++i) block += std::exp(x[i] - max);
    sum += block;
  }
  return max + std::log(sum);
}

}  // namespace

ScoredToken score_token(std::span<const float> logits, TokenId token, int top_n) {
  const int64_t n_vocab = static_cast<int64_t>(logits.size());
  const double lse = log_sum_exp(logits);
  ScoredToken out{.token = token, .logprob = static_cast<float>(logits[token] - lse), .top = {}};
  if (top_n <= 0) return out;
  // The best k by one pass with a small sorted list: k <= 20, so far cheaper than sorting ids.
  const int64_t k = std::min<int64_t>(top_n, n_vocab);
  auto better = [&](TokenId a, TokenId b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  std::vector<TokenId> best;
  best.reserve(k + 1);
  for (int64_t i = 0; i < n_vocab; ++i) {
    const auto t = static_cast<TokenId>(i);
    if (static_cast<int64_t>(best.size()) == k && !better(t, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), t, better), t);
    if (static_cast<int64_t>(best.size()) > k) best.pop_back();
  }
  for (TokenId t : best) out.top.push_back({t, static_cast<float>(logits[t] - lse)});
  return out;
}

Sampler::Sampler(SamplingParams params) : params_(std::move(params)) {}

double Sampler::uniform(uint64_t seed, uint64_t position, uint32_t draw) {
  const uint64_t bits = mix64(mix64(seed + 0x9E3779B97F4A7C15ull) ^
                              mix64(position * 0xD1B54A32D192ED03ull + draw + 1));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;  // [0, 1), 53 random bits
}

void Sampler::apply_penalties(std::span<const TokenId> prompt, std::span<const TokenId> generated) {
  const int64_t n_vocab = static_cast<int64_t>(adjusted_.size());
  auto valid = [&](TokenId t) { return t >= 0 && t < n_vocab; };

  if (params_.repetition_penalty != 1.0f) {
    // The last penalty_last_n tokens of prompt + generated, each token penalised once.
    const size_t total = prompt.size() + generated.size();
    const size_t window = params_.penalty_last_n < 0
                              ? total
                              : std::min(total, static_cast<size_t>(params_.penalty_last_n));
    std::vector<TokenId> seen;
    for (size_t i = total - window; i < total; ++i) {
      TokenId t = i < prompt.size() ? prompt[i] : generated[i - prompt.size()];
      if (valid(t)) seen.push_back(t);
    }
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (TokenId t : seen) {
      float& l = adjusted_[t];
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    counts_.assign(n_vocab, 0);
    for (TokenId t : generated)
      if (valid(t)) ++counts_[t];
    for (TokenId t : generated) {
      if (!valid(t) || counts_[t] == 0) continue;
      adjusted_[t] -= params_.presence_penalty + params_.frequency_penalty * counts_[t];
      counts_[t] = 0;  // apply once per distinct token
    }
  }
}

TokenId Sampler::choose() {
  const int64_t n_vocab = static_cast<int64_t>(adjusted_.size());
  if (params_.temperature <= 0.0f)
    return static_cast<TokenId>(std::max_element(adjusted_.begin(), adjusted_.end()) -
                                adjusted_.begin());
  candidates_.resize(n_vocab);
  for (int64_t i = 0; i < n_vocab; ++i) candidates_[i] = {static_cast<TokenId>(i), adjusted_[i]};
  return draw();
}

Sample Sampler::sample(std::span<const float> logits, std::span<const TokenId> prompt,
                       std::span<const TokenId> generated, const TokenConstraint* constraint) {
  const int64_t n_vocab = static_cast<int64_t>(logits.size());
  adjusted_.assign(logits.begin(), logits.end());
  for (auto [token, bias] : params_.logit_bias)
    if (token >= 0 && token < n_vocab) adjusted_[token] += bias;
  apply_penalties(prompt, generated);

  position_ = generated.size();
  draws_ = 0;
  Sample out;
  out.token = choose();
  if (constraint && !constraint->allows(out.token)) {
    // The constraint rejects the model's choice: choose again among the tokens it allows.
    ++masked_samples_;
    constraint->allowed(allowed_, n_vocab);
    bool any = false;
    constexpr float kNever = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n_vocab; ++i) {
      if (allowed_[i]) {
        any = true;
        // A token the bias forbade stays possible when nothing else is: the grammar rules.
        if (adjusted_[i] == kNever) adjusted_[i] = std::numeric_limits<float>::lowest();
      } else {
        adjusted_[i] = kNever;
      }
    }
    if (!any) {
      out.token = -1;
      return out;
    }
    out.token = choose();
  }

  if (!params_.logprobs && params_.top_logprobs <= 0) return out;
  ScoredToken scored = score_token(logits, out.token, params_.top_logprobs);
  out.logprob = scored.logprob;
  out.top = std::move(scored.top);
  return out;
}

// Keeps the smallest prefix of the most likely candidates whose probability (at temperature
// 1, as llama.cpp cuts) reaches top_p, sorted by logit. Selects and sorts the next 64 most
// likely candidates, then eight times more at each round while the prefix holds too little
// mass: the unlikely tail is never sorted.
void Sampler::keep_top_p(float max_logit) {
  std::vector<Candidate>& c = candidates_;
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit != b.logit ? a.logit > b.logit : a.token < b.token;
  };
  auto weight = [&](const Candidate& x) {
    return std::exp(static_cast<double>(x.logit - max_logit));
  };
  double total = 0.0;
  for (const Candidate& x : c) total += weight(x);
  const double target = params_.top_p * total;
  double cum = 0.0;
  for (size_t done = 0, chunk = 64; done < c.size(); chunk *= 8) {
    const auto begin = c.begin() + static_cast<std::ptrdiff_t>(done);
    const auto end = c.begin() + static_cast<std::ptrdiff_t>(std::min(c.size(), done + chunk));
    if (end != c.end()) std::nth_element(begin, end, c.end(), by_logit);  // next most likely
    std::sort(begin, end, by_logit);
    for (auto it = begin; it != end; ++it) {
      cum += weight(*it);
      if (cum >= target) {
        c.erase(it + 1, c.end());
        return;
      }
    }
    done = static_cast<size_t>(end - c.begin());
  }
  // Rounding left the mass just short of the target: everything stays.
}

// Truncates candidates_ by top-k, top-p and min-p, applies the temperature and draws.
TokenId Sampler::draw() {
  std::vector<Candidate>& c = candidates_;
  // Drop tokens a bias of -inf (or a penalty) made impossible.
  c.erase(std::remove_if(c.begin(), c.end(),
                         [](const Candidate& x) { return std::isinf(x.logit) && x.logit < 0; }),
          c.end());
  if (c.empty()) return 0;

  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < c.size()) {
    std::partial_sort(c.begin(), c.begin() + params_.top_k, c.end(),
                      [](const Candidate& a, const Candidate& b) {
                        return a.logit != b.logit ? a.logit > b.logit : a.token < b.token;
                      });
    c.resize(params_.top_k);
  }
  float max = c[0].logit;
  for (const Candidate& x : c) max = std::max(max, x.logit);
  if (params_.top_p < 1.0f) keep_top_p(max);
  if (params_.min_p > 0.0f) {
    // Keep tokens whose probability is at least min_p times the most likely one's.
    const float floor = max + std::log(params_.min_p);
    c.erase(std::remove_if(c.begin(), c.end(), [&](const Candidate& x) { return x.logit < floor; }),
            c.end());
  }

  // Temperature, then a draw from the renormalised distribution.
  weights_.resize(c.size());
  const float inv_t = 1.0f / params_.temperature;
  for (size_t i = 0; i < c.size(); ++i) weights_[i] = std::exp((c[i].logit - max) * inv_t);
  double total = 0.0;
  for (float w : weights_) total += w;
  double r = uniform(params_.seed, position_, draws_++) * total;
  for (size_t i = 0; i < c.size(); ++i) {
    if (r < weights_[i]) return c[i].token;
    r -= weights_[i];
  }
  return c.back().token;
}

}  // namespace shardserve
