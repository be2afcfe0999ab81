// Grammar-constrained decoding on a group's leader: the model's vocabulary as a TokenFilter
// (built once) and the grammars of requests (SequenceRequest::grammar, GBNF) compiled once each
// and kept in a small cache, so that a schema sent with every request of a workload is parsed
// once, at submit time, never during a step.
//
// SequenceGrammar is one sequence's constraint: the sampler asks it whether the token it drew
// is allowed (most are) and only for a rejected token the full mask over the vocabulary; the
// scheduler then advances it by the chosen token. Stop tokens are allowed exactly where the
// grammar may end, and once it is complete nothing else is, so a constrained answer always
// parses.
//
// Not thread-safe: the leader's step loop owns both.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/status.h"
#include "model/grammar/grammar.h"
#include "model/grammar/matcher.h"
#include "model/grammar/token_filter.h"
#include "model/sampler/sampler.h"
#include "model/tokenizer/tokenizer.h"

namespace shardserve {

class SequenceGrammar final : public TokenConstraint {
 public:
  SequenceGrammar(std::shared_ptr<const Grammar> grammar, const TokenFilter& filter);

  bool allows(TokenId token) const override { return filter_->allows(matcher_, token); }
  void allowed(std::vector<uint8_t>& allowed, int64_t n_vocab) const override;
  // Advances over a sampled token; false if the grammar does not allow it (then unchanged).
  bool accept(TokenId token) { return filter_->accept_token(matcher_, token); }

 private:
  std::shared_ptr<const Grammar> grammar_;  // outlives matcher_
  const TokenFilter* filter_;
  GrammarMatcher matcher_;
};

class GrammarConstraints {
 public:
  static constexpr size_t kCachedGrammars = 64;

  // The filter over `tokenizer`'s vocabulary: text tokens by their bytes, control tokens only
  // where a grammar names them (@"TEXT"), end-of-generation tokens where the grammar may end.
  explicit GrammarConstraints(const Tokenizer& tokenizer);

  // A constraint following `gbnf`; an Error (kInvalidInput) naming the line and column of a
  // grammar that does not parse, or a token it names that is not a control token here.
  Result<std::unique_ptr<SequenceGrammar>> start(const std::string& gbnf);

  size_t cached() const { return cache_.size(); }
  int64_t compiled() const { return compiled_; }  // grammars parsed (cache misses)

 private:
  TokenFilter filter_;
  // Least recently used last: the list holds the texts, the map points into it.
  std::list<std::string> order_;
  struct Entry {
    std::shared_ptr<const Grammar> grammar;
    std::list<std::string>::iterator position;
  };
  std::unordered_map<std::string, Entry> cache_;
  int64_t compiled_ = 0;
};

}  // namespace shardserve
