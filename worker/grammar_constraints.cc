#include "worker/grammar_constraints.h"

#include <utility>

namespace shardserve {
namespace {

TokenFilter filter_for(const Tokenizer& tokenizer) {
  const TokenId n_vocab = static_cast<TokenId>(tokenizer.n_vocab());
  std::vector<std::string> pieces(n_vocab);
  std::vector<uint8_t> special(n_vocab, 0);
  std::vector<TokenId> eog;
  for (TokenId t = 0; t < n_vocab; ++t) {
    if (tokenizer.is_end_of_generation(t)) eog.push_back(t);
    if (tokenizer.is_special(t)) special[t] = 1;
    pieces[t] = tokenizer.token_to_piece(t);
  }
  return TokenFilter(pieces, eog, special);
}

}  // namespace

SequenceGrammar::SequenceGrammar(std::shared_ptr<const Grammar> grammar, const TokenFilter& filter)
    : grammar_(std::move(grammar)), filter_(&filter), matcher_(*grammar_) {}

void SequenceGrammar::allowed(std::vector<uint8_t>& allowed, int64_t n_vocab) const {
  filter_->allowed_mask(matcher_, allowed);
  allowed.resize(n_vocab, 0);  // ids past the tokenizer's vocabulary (padded heads): never
}

GrammarConstraints::GrammarConstraints(const Tokenizer& tokenizer)
    : filter_(filter_for(tokenizer)) {}

Result<std::unique_ptr<SequenceGrammar>> GrammarConstraints::start(const std::string& gbnf) {
  auto it = cache_.find(gbnf);
  if (it != cache_.end()) {
    order_.splice(order_.end(), order_, it->second.position);
    return std::make_unique<SequenceGrammar>(it->second.grammar, filter_);
  }
  auto parsed = Grammar::parse(gbnf);
  if (!parsed) return Error::invalid_input("the request's grammar: " + parsed.error().message);
  ++compiled_;
  for (const std::string& token : parsed->tokens()) {
    if (filter_.control_token(token) < 0) {
      return Error::invalid_input("the request's grammar names the token \"" + token +
                                  "\", which is not a control token of the model's vocabulary");
    }
  }
  auto grammar = std::make_shared<const Grammar>(std::move(*parsed));
  if (cache_.size() >= kCachedGrammars) {
    cache_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(gbnf);
  cache_.emplace(gbnf, Entry{grammar, std::prev(order_.end())});
  return std::make_unique<SequenceGrammar>(std::move(grammar), filter_);
}

}  // namespace shardserve
