#include "model/tokenizer/bpe.h"

#include <algorithm>
#include <queue>

#include "model/tokenizer/unicode.h"

namespace shardserve::tok {

namespace {

struct Symbol {
  int prev;
  int next;
  size_t start;  // byte offset in the encoded word
  size_t n;      // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  int rank;
  size_t left_n;  // sizes when queued, to detect outdated entries
  size_t right_n;
};

// Lowest rank first, then leftmost.
struct BigramAfter {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void BpeEncoder::encode_word(std::string_view word, std::vector<TokenId>& out) {
  std::string encoded;
  encoded.reserve(word.size() * 2);
  for (char c : word) encoded += byte_to_unicode(static_cast<uint8_t>(c));

  auto it = cache_.find(encoded);
  if (it == cache_.end()) {
    std::vector<TokenId> ids;
    merge(encoded, ids);
    it = cache_.emplace(std::move(encoded), std::move(ids)).first;
  }
  out.insert(out.end(), it->second.begin(), it->second.end());
}

void BpeEncoder::merge(const std::string& word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (vocab_.ignore_merges) {
    if (TokenId id = vocab_.find(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }

  std::vector<Symbol> symbols;
  for (size_t offset = 0; offset < word.size();) {
    const size_t len = std::min(word.size() - offset, utf8_len(word[offset]));
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, offset + len == word.size() ? -1 : index + 1, offset, len});
    offset += len;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramAfter> queue;
  auto text = [&](const Symbol& s) { return std::string_view(word).substr(s.start, s.n); };
  auto add_bigram = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    const int rank = vocab_.rank(text(symbols[left]), text(symbols[right]));
    if (rank < 0) return;
    queue.push({left, right, rank, symbols[left].n, symbols[right].n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_bigram(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.n == 0 || right.n == 0 || left.n != b.left_n || right.n != b.right_n) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    add_bigram(left.prev, b.left);
    add_bigram(b.left, left.next);
  }

  for (int i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.n == 0) continue;
    const std::string_view piece = text(s);
    if (TokenId id = vocab_.find(piece); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // No token for the symbol: llama.cpp looks each byte up as a one-byte token.
    for (char c : piece) {
      if (TokenId id = vocab_.find(std::string_view(&c, 1)); id != kNoToken) out.push_back(id);
    }
  }
}

}  // namespace shardserve::tok
