// Which tokens of a vocabulary a GrammarMatcher allows next: the vocabulary side of
// grammar-constrained decoding.
//
// Built once per model from each token's raw bytes (index = token id). Special / control
// tokens (flagged in `special`, or given as "") are never text: one is allowed only where the
// grammar names it by its text (@"TEXT", grammar.h) and the matcher can take it. Tokens longer
// than kMaxTokenBytes are never allowed. End-of-generation tokens are allowed exactly when the
// matcher can_end(), whatever their bytes; accepting one leaves the matcher as it is.
//
// A token is allowed when the matcher can accept all of its bytes (a token may end in the
// middle of a UTF-8 character; the matcher carries the partial character). The sampler's
// fast path checks only the token it drew (allows); when that one is rejected it asks for
// the whole mask (allowed_mask), which walks a byte trie of the vocabulary once from the
// matcher's state, so a shared prefix is matched once and a rejected prefix prunes its
// whole subtree. The walk memoizes steps: the state after each byte is looked up by
// (state, byte) and bytes the grammar cannot tell apart share one step, so most trie nodes
// cost a table lookup.
//
// Thread-safety: immutable after construction; any number of threads may use one filter,
// each with its own matchers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/token_id.h"
#include "model/grammar/matcher.h"

namespace shardserve {

class TokenFilter {
 public:
  // pieces[id]: the bytes token id stands for; for a control token, its text ("" for a token
  // that is never allowed). special: empty, or one flag per token (non-zero: a control token).
  // eog_tokens: ids of end-of-generation tokens (ids outside the vocabulary, e.g. -1, are ignored).
  TokenFilter(const std::vector<std::string>& pieces, const std::vector<TokenId>& eog_tokens,
              const std::vector<uint8_t>& special = {});

  int32_t n_vocab() const { return static_cast<int32_t>(kind_.size()); }
  bool is_eog(TokenId token) const { return in_vocab(token) && kind_[token] == Kind::kEog; }
  std::string_view token_bytes(TokenId token) const;
  // The control token whose text is `text` (the lowest id if several), or -1.
  TokenId control_token(std::string_view text) const;

  // Whether `m` allows `token` next (false for ids outside the vocabulary).
  bool allows(const GrammarMatcher& m, TokenId token) const;
  // allowed[id] = 1 if `m` allows token id next, else 0 (resized to n_vocab()).
  void allowed_mask(const GrammarMatcher& m, std::vector<uint8_t>& allowed) const;
  // Advances `m` over the token's bytes; false (and `m` unchanged) if it is not allowed.
  bool accept_token(GrammarMatcher& m, TokenId token) const;

  size_t n_trie_nodes() const { return nodes_.size() - 1; }

 private:
  enum class Kind : uint8_t { kText, kSpecial, kEog };
  // Trie nodes in depth-first preorder; the root (empty prefix) is implicit, and a last,
  // sentinel node closes the token list.
  struct Node {
    uint32_t end;           // index just past this node's subtree
    uint32_t tokens_begin;  // tokens ending here: node_tokens_[tokens_begin, next node's)
    uint16_t depth;         // length of the prefix, >= 1
    uint8_t byte;           // the prefix's last byte
  };
  static constexpr size_t kMaxTokenBytes = UINT16_MAX;  // longer tokens are never allowed

  bool in_vocab(TokenId token) const { return token >= 0 && token < n_vocab(); }
  // The index of control token `token` in m's grammar (Grammar::tokens()), or -1.
  static int32_t grammar_token(const GrammarMatcher& m, std::string_view text) {
    return m.grammar().tokens().empty() ? -1 : m.grammar().token_index(text);
  }

  std::vector<Kind> kind_;         // per token
  std::vector<uint32_t> offsets_;  // per token + 1: its bytes are bytes_[off, next off)
  std::string bytes_;              // all tokens' bytes, concatenated
  std::vector<TokenId> eog_;
  std::unordered_map<std::string_view, TokenId> control_;  // text -> control token; views of bytes_
  std::vector<Node> nodes_;                                // trie nodes + the sentinel
  std::vector<TokenId> node_tokens_;
  uint32_t max_depth_ = 0;
};

}  // namespace shardserve
