#include "model/tokenizer/spm.h"

#include <algorithm>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>

#include "model/tokenizer/unicode.h"

namespace shardserve::tok {

namespace {

struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t n;
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

// Highest score first, then leftmost.
struct BigramBefore {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

class Session {
 public:
  Session(const Vocab& vocab, std::string_view text) : vocab_(vocab), text_(text) {}

  void run(std::vector<TokenId>& out) {
    for (size_t offset = 0; offset < text_.size();) {
      const size_t len = std::min(text_.size() - offset, utf8_len(text_[offset]));
      const int index = static_cast<int>(symbols_.size());
      symbols_.push_back({index - 1, offset + len == text_.size() ? -1 : index + 1, offset, len});
      offset += len;
    }
    if (symbols_.empty()) return;
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add_bigram(i - 1, i);

    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& left = symbols_[b.left];
      Symbol& right = symbols_[b.right];
      if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;
      left.n += right.n;
      right.n = 0;
      left.next = right.next;
      if (right.next >= 0) symbols_[right.next].prev = b.left;
      try_add_bigram(left.prev, b.left);
      try_add_bigram(b.left, left.next);
    }
    for (int i = 0; i != -1; i = symbols_[i].next) resegment(symbols_[i], out);
  }

 private:
  std::string_view text(const Symbol& s) const { return text_.substr(s.start, s.n); }

  void try_add_bigram(int left, int right) {
    if (left == -1 || right == -1) return;
    const std::string_view joined =
        text_.substr(symbols_[left].start, symbols_[left].n + symbols_[right].n);
    const TokenId id = vocab_.find(joined);
    if (id == kNoToken) return;
    queue_.push({left, right, vocab_.score[id], joined.size()});
    rev_merge_[std::string(joined)] = {left, right};
  }

  void resegment(const Symbol& s, std::vector<TokenId>& out) {
    const std::string_view piece = text(s);
    if (TokenId id = vocab_.find(piece); id != kNoToken) {
      out.push_back(id);
      return;
    }
    auto it = rev_merge_.find(std::string(piece));
    if (it == rev_merge_.end()) {
      for (char c : piece) {
        TokenId id = vocab_.byte_to_token(static_cast<uint8_t>(c));
        if (id == kNoToken) id = vocab_.unk;  // llama.cpp would throw here
        if (id != kNoToken) out.push_back(id);
      }
      return;
    }
    const auto [l, r] = it->second;
    resegment(symbols_[l], out);
    resegment(symbols_[r], out);
  }

  const Vocab& vocab_;
  std::string_view text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramBefore> queue_;
  std::unordered_map<std::string, std::pair<int, int>> rev_merge_;
};

}  // namespace

void spm_encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out) {
  Session(vocab, text).run(out);
}

}  // namespace shardserve::tok
