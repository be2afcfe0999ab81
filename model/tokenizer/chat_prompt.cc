#include "model/tokenizer/chat_prompt.h"

namespace shardserve {

std::string chat_bos_token(const Tokenizer& tokenizer) {
  return tokenizer.bos_id() >= 0 ? tokenizer.token_to_piece(tokenizer.bos_id()) : std::string();
}

std::string chat_eos_token(const Tokenizer& tokenizer) {
  return tokenizer.eos_id() >= 0 ? tokenizer.token_to_piece(tokenizer.eos_id()) : std::string();
}

std::string_view strip_added_special_texts(std::string_view rendered, const Tokenizer& tokenizer) {
  if (tokenizer.add_bos()) {
    const std::string bos = chat_bos_token(tokenizer);
    if (!bos.empty() && rendered.starts_with(bos)) rendered.remove_prefix(bos.size());
  }
  if (tokenizer.add_eos()) {
    const std::string eos = chat_eos_token(tokenizer);
    if (!eos.empty() && rendered.ends_with(eos)) rendered.remove_suffix(eos.size());
  }
  return rendered;
}

std::vector<TokenId> encode_chat_prompt(const Tokenizer& tokenizer, std::string_view rendered) {
  return tokenizer.encode(strip_added_special_texts(rendered, tokenizer), /*add_special=*/true,
                          /*parse_special=*/true);
}

}  // namespace shardserve
