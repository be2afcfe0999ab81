#include "coordinator/serving/echo.h"

#include <variant>

#include "base/check.h"

namespace shardserve {

std::string echo_text(const Tokenizer& tokenizer, const api::Prompt& prompt,
                      std::span<const TokenId> tokens) {
  if (const auto* text = std::get_if<std::string>(&prompt)) return *text;
  return tokenizer.decode(tokens, /*skip_special=*/false);
}

std::vector<api::TokenLogprobs> echo_logprobs(const Tokenizer& tokenizer,
                                              std::span<const TokenId> prompt,
                                              std::span<const ScoredToken> scores,
                                              std::string_view text) {
  SS_CHECK(scores.size() + 1 == prompt.size(), "a score for every prompt token but the first");
  std::vector<api::TokenLogprobs> out;
  out.reserve(prompt.size());
  size_t offset = 0;
  for (size_t i = 0; i < prompt.size(); ++i) {
    api::TokenLogprobs entry{.token = tokenizer.token_to_piece(prompt[i]),
                             .logprob = 0,
                             .top = {},
                             .text_offset = static_cast<int64_t>(offset)};
    if (i == 0) {
      entry.unscored = true;
    } else {
      const ScoredToken& s = scores[i - 1];
      entry.logprob = s.logprob;
      for (const TokenLogprob& t : s.top)
        entry.top.push_back({tokenizer.token_to_piece(t.token), t.logprob});
    }
    std::string_view piece = entry.token;
    const std::string_view rest = text.substr(offset);
    if (rest.starts_with(piece)) {
      offset += piece.size();
    } else if (piece.starts_with(' ') && rest.starts_with(piece.substr(1))) {
      offset += piece.size() - 1;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace shardserve
