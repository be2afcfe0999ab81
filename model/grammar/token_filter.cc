#include "model/grammar/token_filter.h"

#include <algorithm>
#include <span>

#include "base/check.h"
#include "model/grammar/stacks.h"

namespace shardserve {

using grammar::FramePool;
using grammar::StepResult;
using grammar::Utf8State;

namespace {

constexpr int32_t kUnknown = -1;  // transition not computed yet
constexpr int32_t kDead = -2;     // the byte is rejected

// A lazily built automaton over matcher states, for one mask computation: a state is a
// set of stacks (frame ids in one pool, so equal sets are equal lists) plus a pending
// UTF-8 prefix, and each (state, byte) step is computed once. Pending prefixes whose
// completions all fall in one interval of the grammar's code point partition are merged
// (Utf8State::by_interval), and so are ASCII bytes of one interval and continuation bytes
// of a merged prefix, because the grammar cannot tell them apart.
class MaskWalk {
 public:
  MaskWalk(const Grammar& grammar, size_t max_stacks)
      : grammar_(grammar), stepper_(grammar, pool_, max_stacks) {
    for (uint32_t b = 0; b < 128; ++b) ascii_interval_[b] = grammar.interval_of(b);
    trans_.reserve(256 * 64);
  }

  FramePool& pool() { return pool_; }

  int32_t state(std::span<const uint32_t> tops, const Utf8State& utf8) {
    uint64_t h = 0xcbf29ce484222325ull ^ utf8.code ^ (uint64_t{utf8.remaining} << 32) ^
                 (uint64_t{utf8.next_lo} << 40) ^ (uint64_t{utf8.next_hi} << 48) ^
                 (uint64_t{utf8.by_interval} << 56);
    for (uint32_t t : tops) h = (h ^ t) * 0x100000001b3ull;
    if (states_.size() * 2 >= slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = mix(h) & mask;; i = (i + 1) & mask) {
      const int32_t s = slots_[i];
      if (s == kUnknown) {
        slots_[i] = add(tops, utf8, h);
        return slots_[i];
      }
      if (hashes_[s] == h && equal(s, tops, utf8)) return s;
    }
  }

  // The state after `byte` from state `s`, or kDead.
  int32_t next(int32_t s, uint8_t byte) {
    const size_t at = static_cast<size_t>(s) * 256;
    if (trans_[at + byte] != kUnknown) return trans_[at + byte];
    const State from = states_[s];
    scratch_.assign(tops_.begin() + from.begin, tops_.begin() + from.end);
    Utf8State utf8 = from.utf8;
    int32_t result = kDead;
    if (stepper_.feed(scratch_, utf8, byte) == StepResult::kOk) {
      if (utf8.pending() && !utf8.by_interval) {
        uint32_t lo = 0;
        uint32_t hi = 0;
        grammar::utf8_pending_range(utf8, lo, hi);
        const uint32_t k = grammar_.interval_of(lo);
        if (k == grammar_.interval_of(hi)) {
          utf8.code = grammar_.interval_start(k);
          utf8.by_interval = 1;
        }
      }
      result = state(scratch_, utf8);
    }
    int32_t* row = trans_.data() + at;  // `state` may have grown trans_
    row[byte] = result;
    if (!from.utf8.pending() && byte < 0x80) {
      for (uint32_t b = 0; b < 0x80; ++b) {
        if (ascii_interval_[b] == ascii_interval_[byte]) row[b] = result;
      }
    } else if (from.utf8.by_interval && byte >= from.utf8.next_lo && byte <= from.utf8.next_hi) {
      for (uint32_t b = from.utf8.next_lo; b <= from.utf8.next_hi; ++b) row[b] = result;
    }
    return result;
  }

  // [state * 256 + byte]: the next state, kDead or kUnknown; valid until the next next().
  const int32_t* table() const { return trans_.data(); }

 private:
  struct State {
    uint32_t begin;  // tops_[begin, end)
    uint32_t end;
    Utf8State utf8;
  };

  static size_t mix(uint64_t h) { return static_cast<size_t>((h * 0x9E3779B97F4A7C15ull) >> 20); }

  bool equal(int32_t s, std::span<const uint32_t> tops, const Utf8State& utf8) const {
    const State& st = states_[s];
    return st.utf8 == utf8 && st.end - st.begin == tops.size() &&
           std::equal(tops.begin(), tops.end(), tops_.begin() + st.begin);
  }

  int32_t add(std::span<const uint32_t> tops, const Utf8State& utf8, uint64_t h) {
    const auto id = static_cast<int32_t>(states_.size());
    const auto begin = static_cast<uint32_t>(tops_.size());
    tops_.insert(tops_.end(), tops.begin(), tops.end());
    states_.push_back({begin, static_cast<uint32_t>(tops_.size()), utf8});
    hashes_.push_back(h);
    trans_.resize(trans_.size() + 256, kUnknown);
    return id;
  }

  void grow() {
    slots_.assign(std::max<size_t>(64, slots_.size() * 2), kUnknown);
    const size_t mask = slots_.size() - 1;
    for (size_t s = 0; s < states_.size(); ++s) {
      size_t i = mix(hashes_[s]) & mask;
      while (slots_[i] != kUnknown) i = (i + 1) & mask;
      slots_[i] = static_cast<int32_t>(s);
    }
  }

  const Grammar& grammar_;
  FramePool pool_;
  grammar::Stepper stepper_;
  uint32_t ascii_interval_[128];
  std::vector<State> states_;
  std::vector<uint64_t> hashes_;  // per state
  std::vector<uint32_t> tops_;    // all states' tops, concatenated
  std::vector<int32_t> slots_;    // open addressing of state ids; kUnknown: free
  std::vector<int32_t> trans_;    // [state * 256 + byte]: a state, kDead or kUnknown
  std::vector<uint32_t> scratch_;
};

}  // namespace

TokenFilter::TokenFilter(const std::vector<std::string>& pieces,
                         const std::vector<TokenId>& eog_tokens,
                         const std::vector<uint8_t>& special) {
  SS_CHECK(special.empty() || special.size() == pieces.size(),
           "special flags must be empty or one per token");
  const size_t n = pieces.size();
  kind_.assign(n, Kind::kText);
  offsets_.reserve(n + 1);
  for (size_t id = 0; id < n; ++id) {
    offsets_.push_back(static_cast<uint32_t>(bytes_.size()));
    bytes_ += pieces[id];
    SS_CHECK(bytes_.size() < UINT32_MAX, "vocabulary too large");
    const bool never = pieces[id].empty() || pieces[id].size() > kMaxTokenBytes ||
                       (!special.empty() && special[id]);
    if (never) kind_[id] = Kind::kSpecial;
  }
  offsets_.push_back(static_cast<uint32_t>(bytes_.size()));
  for (size_t id = 0; id < n; ++id) {
    const std::string_view text = token_bytes(static_cast<TokenId>(id));
    if (kind_[id] == Kind::kSpecial && !text.empty())
      control_.emplace(text, static_cast<TokenId>(id));  // keeps the lowest id
  }
  for (TokenId t : eog_tokens) {
    if (!in_vocab(t) || kind_[t] == Kind::kEog) continue;
    kind_[t] = Kind::kEog;
    eog_.push_back(t);
  }

  // The trie, in preorder: tokens sorted by bytes share prefixes with their neighbours.
  std::vector<TokenId> order;
  for (size_t id = 0; id < n; ++id) {
    if (kind_[id] == Kind::kText) order.push_back(static_cast<TokenId>(id));
  }
  std::sort(order.begin(), order.end(), [&](TokenId a, TokenId b) {
    const std::string_view sa = token_bytes(a);
    const std::string_view sb = token_bytes(b);
    return sa != sb ? sa < sb : a < b;
  });
  std::vector<uint32_t> path;  // open nodes, by depth - 1
  std::string_view prev;
  for (TokenId id : order) {
    const std::string_view s = token_bytes(id);
    size_t common = 0;
    while (common < prev.size() && common < s.size() && prev[common] == s[common]) ++common;
    while (path.size() > common) {
      nodes_[path.back()].end = static_cast<uint32_t>(nodes_.size());
      path.pop_back();
    }
    for (size_t d = common; d < s.size(); ++d) {
      path.push_back(static_cast<uint32_t>(nodes_.size()));
      nodes_.push_back({0, static_cast<uint32_t>(node_tokens_.size()), static_cast<uint16_t>(d + 1),
                        static_cast<uint8_t>(s[d])});
    }
    node_tokens_.push_back(id);
    max_depth_ = std::max<uint32_t>(max_depth_, static_cast<uint32_t>(s.size()));
    prev = s;
  }
  for (uint32_t i : path) nodes_[i].end = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back({static_cast<uint32_t>(nodes_.size() + 1),
                    static_cast<uint32_t>(node_tokens_.size()), 0, 0});  // sentinel
}

std::string_view TokenFilter::token_bytes(TokenId token) const {
  if (!in_vocab(token)) return {};
  return std::string_view(bytes_).substr(offsets_[token], offsets_[token + 1] - offsets_[token]);
}

TokenId TokenFilter::control_token(std::string_view text) const {
  auto it = control_.find(text);
  return it == control_.end() ? -1 : it->second;
}

bool TokenFilter::allows(const GrammarMatcher& m, TokenId token) const {
  if (!in_vocab(token)) return false;
  switch (kind_[token]) {
    case Kind::kSpecial: {
      const int32_t k = grammar_token(m, token_bytes(token));
      return k >= 0 && control_token(token_bytes(token)) == token &&
             m.can_accept_token(static_cast<uint32_t>(k));
    }
    case Kind::kEog:
      return m.can_end();
    case Kind::kText:
      break;
  }
  return m.can_accept(token_bytes(token));
}

bool TokenFilter::accept_token(GrammarMatcher& m, TokenId token) const {
  if (!in_vocab(token)) return false;
  switch (kind_[token]) {
    case Kind::kSpecial: {
      const int32_t k = grammar_token(m, token_bytes(token));
      return k >= 0 && control_token(token_bytes(token)) == token &&
             m.accept_token(static_cast<uint32_t>(k));
    }
    case Kind::kEog:
      return m.can_end();
    case Kind::kText:
      break;
  }
  return m.accept(token_bytes(token));
}

void TokenFilter::allowed_mask(const GrammarMatcher& m, std::vector<uint8_t>& allowed) const {
  allowed.assign(kind_.size(), 0);
  if (m.can_end()) {
    for (TokenId t : eog_) allowed[t] = 1;
  }
  if (m.tops_.empty() || m.is_finished()) return;
  const auto tokens = m.grammar().tokens();
  for (size_t k = 0; k < tokens.size(); ++k) {
    const TokenId id = control_token(tokens[k]);
    if (id >= 0 && m.can_accept_token(static_cast<uint32_t>(k))) allowed[id] = 1;
  }
  MaskWalk walk(m.grammar(), m.max_stacks());
  m.load(walk.pool());
  std::vector<int32_t> at_depth(max_depth_ + 1);  // the state of each prefix of the current path
  at_depth[0] = walk.state(m.tops_, m.utf8_);
  // The hot loop: one table lookup per node in the common case.
  const int32_t* table = walk.table();
  const size_t n = nodes_.size() - 1;
  for (size_t i = 0; i < n;) {
    const Node& node = nodes_[i];
    const int32_t parent = at_depth[node.depth - 1];
    int32_t s = table[static_cast<size_t>(parent) * 256 + node.byte];
    if (s == kUnknown) {
      s = walk.next(parent, node.byte);
      table = walk.table();
    }
    if (s < 0) {
      i = node.end;
      continue;
    }
    at_depth[node.depth] = s;
    for (uint32_t k = node.tokens_begin; k < nodes_[i + 1].tokens_begin; ++k) {
      allowed[node_tokens_[k]] = 1;
    }
    ++i;
  }
}

}  // namespace shardserve
