// TextStream tests: a synthetic byte-level vocabulary (any byte string can be cut into tokens
// at will) for UTF-8 splits, stop strings and token release; randomized comparison against a
// brute-force reference; the real SmolLM2 tokenizer when models/ has it; and speed.
#include "coordinator/stream/text_stream.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include "base/check.h"
#include "model/gguf/testing/gguf_builder.h"
#include "model/tokenizer/unicode.h"

namespace shardserve {
namespace {

using gguf::ValueType;
using gguf::testing::GgufBuilder;

constexpr const char* kSmolLM = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

// A byte-level BPE vocabulary: ids 0..255 are the single bytes, then `pieces` (raw bytes, in
// order), then the control token <|im_end|> (also eos).
class Vocab {
 public:
  explicit Vocab(const std::vector<std::string>& pieces = {}) {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.push_back(tok::byte_to_unicode(static_cast<uint8_t>(b)));
    for (const std::string& p : pieces) {
      std::string t;
      for (char c : p) t += tok::byte_to_unicode(static_cast<uint8_t>(c));
      ids_[p] = static_cast<TokenId>(tokens.size());
      tokens.push_back(t);
    }
    im_end_ = static_cast<TokenId>(tokens.size());
    tokens.push_back("<|im_end|>");
    std::vector<int32_t> types(tokens.size(), 1);
    types.back() = 3;
    GgufBuilder b;
    b.kv_string("tokenizer.ggml.model", "gpt2")
        .kv_string("tokenizer.ggml.pre", "gpt-2")
        .kv_strings("tokenizer.ggml.tokens", tokens)
        .kv_array("tokenizer.ggml.token_type", ValueType::I32, types)
        .kv_strings("tokenizer.ggml.merges", {"Ġ Ġ"})
        .kv_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(im_end_));
    image_ = b.build();
    auto f = gguf::File::parse(image_);
    SS_CHECK(f.ok());
    file_ = std::move(f).value();
    auto t = Tokenizer::from_gguf(*file_);
    if (!t.ok()) std::fprintf(stderr, "%s\n", t.error().message.c_str());
    SS_CHECK(t.ok());
    tok_ = std::move(t).value();
  }

  const Tokenizer& tok() const { return *tok_; }
  TokenId im_end() const { return im_end_; }

  // One token for `piece`: a listed piece or a single byte.
  TokenId id(std::string_view piece) const {
    auto it = ids_.find(std::string(piece));
    if (it != ids_.end()) return it->second;
    SS_CHECK(piece.size() == 1, "piece not in the test vocabulary");
    return static_cast<uint8_t>(piece[0]);
  }
  std::vector<TokenId> ids(const std::vector<std::string>& pieces) const {
    std::vector<TokenId> out;
    for (const std::string& p : pieces) out.push_back(id(p));
    return out;
  }
  std::vector<TokenId> bytes(std::string_view s) const {
    std::vector<TokenId> out;
    for (char c : s) out.push_back(static_cast<uint8_t>(c));
    return out;
  }
  bool has(const std::string& piece) const { return ids_.count(piece) > 0; }

 private:
  std::map<std::string, TokenId> ids_;
  TokenId im_end_ = 0;
  std::vector<uint8_t> image_;
  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Tokenizer> tok_;
};

bool is_valid_utf8(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    const tok::Utf8Seq seq = tok::next_utf8_sequence(s.substr(pos));
    if (seq.status != tok::Utf8Status::kComplete) return false;
    pos += seq.len;
  }
  return true;
}

// Everything a stream produced (fed until it stops), with checks of the invariants every
// stream must keep.
struct Output {
  std::vector<std::string> deltas;  // one per push, then finish()'s (if not stopped)
  std::string text;
  bool stopped = false;
  std::vector<size_t> released;  // token indices in release order
  std::vector<std::vector<size_t>> released_per_delta;
};

Output stream(const Tokenizer& tk, const std::vector<std::string>& stop,
              const std::vector<TokenId>& ids) {
  TextStream s(tk, stop);
  Output r;
  std::string released_bytes;
  auto take = [&](Delta d) {
    EXPECT_TRUE(is_valid_utf8(d.text)) << "delta " << r.deltas.size();
    r.deltas.push_back(d.text);
    r.text += d.text;
    std::vector<size_t> idx;
    for (const TokenPiece& p : d.tokens) {
      EXPECT_EQ(p.index, r.released.size()) << "tokens are released once, in order";
      EXPECT_EQ(p.id, ids[p.index]);
      EXPECT_EQ(p.bytes, tk.token_to_piece(p.id));
      EXPECT_LE(p.text_offset, r.text.size());
      r.released.push_back(p.index);
      idx.push_back(p.index);
    }
    r.released_per_delta.push_back(idx);
    if (d.stopped) {
      EXPECT_FALSE(r.stopped) << "stopped reported once";
      r.stopped = true;
    }
  };
  size_t fed = 0;
  for (; fed < ids.size() && !r.stopped; ++fed) take(s.push(ids[fed]));  // the caller aborts
  if (!r.stopped) {
    take(s.finish());
    EXPECT_EQ(r.released.size(), ids.size()) << "finish releases every token";
  } else {
    EXPECT_TRUE(s.finish().text.empty());
  }
  EXPECT_EQ(s.stopped(), r.stopped);
  EXPECT_EQ(s.text_emitted(), r.text.size());
  EXPECT_EQ(s.tokens_pushed(), fed);
  return r;
}

// Brute force: the text before the stop occurrence that ends first (longest on a tie).
std::pair<std::string, bool> reference(const std::string& text,
                                       const std::vector<std::string>& stop) {
  for (size_t end = 1; end <= text.size(); ++end) {
    size_t best = std::string::npos;
    for (const std::string& s : stop) {
      if (s.empty() || s.size() > end) continue;
      if (text.compare(end - s.size(), s.size(), s) == 0) best = std::min(best, end - s.size());
    }
    if (best != std::string::npos) return {text.substr(0, best), true};
  }
  return {text, false};
}

using Strings = std::vector<std::string>;
using Ids = std::vector<size_t>;

TEST(TextStream, EmojiSplitIntoBytesIsHeldUntilComplete) {
  Vocab v;
  const Output r = stream(v.tok(), {},
                          v.bytes("a\xF0\x9F\x98\x80"
                                  "b"));  // a😀b
  EXPECT_EQ(r.deltas, (Strings{"a", "", "", "", "\xF0\x9F\x98\x80", "b", ""}));
  EXPECT_FALSE(r.stopped);
  // The emoji's four tokens are released with the emoji.
  EXPECT_EQ(r.released_per_delta[4], (Ids{1, 2, 3, 4}));
}

TEST(TextStream, CjkSplitAcrossTokenBoundaries) {
  // 中 = E4 B8 AD, 文 = E6 96 87, cut as [E4 B8] [AD E6] [96 87].
  Vocab v({"\xE4\xB8", "\xAD\xE6", "\x96\x87"});
  TextStream s(v.tok(), {});
  Delta d0 = s.push(v.id("\xE4\xB8"));
  EXPECT_EQ(d0.text, "");
  EXPECT_TRUE(d0.tokens.empty());
  Delta d1 = s.push(v.id("\xAD\xE6"));
  EXPECT_EQ(d1.text, "\xE4\xB8\xAD");
  ASSERT_EQ(d1.tokens.size(), 1u);  // token 1 ends inside 文, which is not complete yet
  EXPECT_EQ(d1.tokens[0].index, 0u);
  EXPECT_EQ(d1.tokens[0].bytes, "\xE4\xB8");
  Delta d2 = s.push(v.id("\x96\x87"));
  EXPECT_EQ(d2.text, "\xE6\x96\x87");
  ASSERT_EQ(d2.tokens.size(), 2u);
  EXPECT_EQ(d2.tokens[0].bytes, "\xAD\xE6");
  EXPECT_EQ(d2.tokens[0].text_offset, 0u);  // its first byte is inside 中
  EXPECT_EQ(d2.tokens[1].text_offset, 3u);
  EXPECT_TRUE(s.finish().text.empty());
}

TEST(TextStream, IncompleteCharacterAtTheEndBecomesReplacement) {
  Vocab v;
  const Output r = stream(v.tok(), {}, v.bytes("ok\xF0\x9F"));
  EXPECT_EQ(r.text, "ok\xEF\xBF\xBD");
  EXPECT_EQ(r.deltas.back(), "\xEF\xBF\xBD");
}

TEST(TextStream, StopSpanningThreeTokens) {
  Vocab v({"xS", "TO", "Py"});
  const Output r = stream(v.tok(), {"STOP"}, v.ids({"xS", "TO", "Py"}));
  EXPECT_EQ(r.deltas, (Strings{"x", "", ""}));
  EXPECT_TRUE(r.stopped);
  // "xS" contributed the emitted "x"; "TO" and "Py" lie inside the stop (and after it).
  EXPECT_EQ(r.released, (Ids{0}));
  EXPECT_EQ(r.released_per_delta[2], (Ids{0}));
}

TEST(TextStream, StopThatOverlapsItself) {
  Vocab v({"aaa"});
  EXPECT_EQ(stream(v.tok(), {"aa"}, v.ids({"aaa"})).text, "");
  EXPECT_EQ(stream(v.tok(), {"aa"}, v.bytes("baaa")).deltas, (Strings{"b", "", ""}));
  EXPECT_EQ(stream(v.tok(), {"aab"}, v.bytes("xaaab")).text, "xa");
  EXPECT_EQ(stream(v.tok(), {"abab"}, v.bytes("abaababx")).text, "aba");
  const Output r = stream(v.tok(), {"aa"}, v.bytes("ababa"));
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "ababa");
  EXPECT_EQ(r.deltas, (Strings{"", "ab", "", "ab", "", "a"}));
}

TEST(TextStream, HeldPrefixThatIsNoStopIsReleased) {
  Vocab v({" E", "ND", "NO", "ugh"});
  const Output r = stream(v.tok(), {"END"}, v.ids({"a", " E", "NO", "ugh"}));
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.deltas, (Strings{"a", " ", "ENO", "ugh", ""}));
  EXPECT_TRUE(r.released_per_delta[1].empty());  // " E" is not complete: its E is held
  EXPECT_EQ(r.released_per_delta[2], (Ids{1, 2}));
  // A prefix still held when the sequence ends by length is flushed by finish().
  const Output tail = stream(v.tok(), {"END"}, v.ids({"a", " E", "N"}));
  EXPECT_EQ(tail.deltas, (Strings{"a", " ", "", "EN"}));
  EXPECT_EQ(tail.released_per_delta[3], (Ids{1, 2}));
}

TEST(TextStream, EarliestStopWins) {
  Vocab v({"hello world", "abc", "xabc"});
  Output r = stream(v.tok(), {"world", "lo"}, v.ids({"hello world"}));
  EXPECT_EQ(r.text, "hel");
  TextStream s(v.tok(), {"world", "lo"});
  EXPECT_TRUE(s.push(v.id("hello world")).stopped);
  EXPECT_EQ(s.matched_stop(), 1u);
  // Complete first wins, even inside one token: the same as one character at a time.
  EXPECT_EQ(stream(v.tok(), {"abc", "b"}, v.ids({"abc"})).text, "a");
  EXPECT_EQ(stream(v.tok(), {"abc", "b"}, v.bytes("abc")).text, "a");
  // Ending at the same byte: the longer (earlier) one.
  TextStream t(v.tok(), {"", "bc", "abc"});
  Delta d = t.push(v.id("xabc"));
  EXPECT_TRUE(d.stopped);
  EXPECT_EQ(d.text, "x");
  EXPECT_EQ(t.matched_stop(), 2u);
}

TEST(TextStream, StopAtTheVeryStart) {
  Vocab v({"Hi there"});
  const Output r = stream(v.tok(), {"Hi"}, v.ids({"Hi there"}));
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.deltas, (Strings{""}));
  EXPECT_TRUE(r.released.empty());
  // A special token before it is released (with empty text).
  const Output r2 = stream(v.tok(), {"Hi"}, {v.im_end(), v.id("Hi there")});
  EXPECT_EQ(r2.text, "");
  EXPECT_EQ(r2.released, (Ids{0}));
}

TEST(TextStream, NoStopsPassesTextThrough) {
  Vocab v({"Hello", ",", " world", "!"});
  const Output r = stream(v.tok(), {}, v.ids({"Hello", ",", " world", "!"}));
  EXPECT_EQ(r.deltas, (Strings{"Hello", ",", " world", "!", ""}));
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(r.released_per_delta[i], (Ids{i}));
}

TEST(TextStream, SpecialTokensAreNotRendered) {
  Vocab v({"Hi"});
  TextStream s(v.tok(), {"<|im"});
  EXPECT_EQ(s.push(v.id("Hi")).text, "Hi");
  Delta d = s.push(v.im_end());
  EXPECT_EQ(d.text, "");
  EXPECT_FALSE(d.stopped);  // the stop string is text; a special token renders none
  ASSERT_EQ(d.tokens.size(), 1u);
  EXPECT_TRUE(d.tokens[0].special);
  EXPECT_EQ(d.tokens[0].bytes, "<|im_end|>");
  EXPECT_EQ(d.tokens[0].text_offset, 2u);
  EXPECT_TRUE(s.finish().text.empty());
}

TEST(TextStream, SpecialTokenInsideACharacterWaitsForIt) {
  Vocab v;
  TextStream s(v.tok(), {});
  EXPECT_TRUE(s.push(0xC3).tokens.empty());
  EXPECT_TRUE(s.push(v.im_end()).tokens.empty());  // released after the token before it
  Delta d = s.push(0xA9);
  EXPECT_EQ(d.text, "\xC3\xA9");
  ASSERT_EQ(d.tokens.size(), 3u);
  EXPECT_TRUE(d.tokens[1].special);
}

TEST(TextStream, PushesAfterAStopAreIgnored) {
  Vocab v({"ab"});
  TextStream s(v.tok(), {"b"});
  Delta d = s.push(v.id("ab"));
  EXPECT_TRUE(d.stopped);
  EXPECT_EQ(d.text, "a");
  Delta late = s.push('c');
  EXPECT_FALSE(late.stopped);
  EXPECT_TRUE(late.text.empty());
  EXPECT_TRUE(late.tokens.empty());
  EXPECT_TRUE(s.stopped());
  EXPECT_TRUE(s.done());
  EXPECT_TRUE(s.finish().text.empty());
}

TEST(TextStream, StopStringsAreWholeCharacters) {
  Vocab v;
  const std::string text = "ok\xF0\x9F\x98\x80!";  // ok😀!
  // An emoji stop split over four tokens.
  Output r = stream(v.tok(), {"\xF0\x9F\x98\x80"}, v.bytes(text));
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "ok");
  // A stop made of the emoji's first bytes is no character: it becomes U+FFFD and cannot
  // cut the emoji in two.
  r = stream(v.tok(), {"\xF0\x9F"}, v.bytes(text));
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, text);
  // ... but it does match the U+FFFD that an invalid byte decodes to.
  r = stream(v.tok(), {"\xF0\x9F"},
             v.bytes("a\xFF"
                     "b"));
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "a");
}

TEST(TextStream, AgreesWithIncrementalDecoderWithoutStops) {
  Vocab v({"\xE4\xB8", "\xAD\xE6", "\x96\x87", "ab", "\xF0\x9F\x98"});
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<TokenId> ids;
    const int n = static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      const uint32_t k = rng() % 10;
      if (k < 5)
        ids.push_back(static_cast<TokenId>(256 + k));  // the pieces
      else if (k == 5)
        ids.push_back(v.im_end());
      else
        ids.push_back(static_cast<TokenId>(rng() % 256));
    }
    IncrementalDecoder dec(v.tok());
    std::string expected;
    for (TokenId id : ids) expected += dec.push(id);
    expected += dec.flush();
    EXPECT_EQ(stream(v.tok(), {}, ids).text, expected) << "trial " << trial;
  }
}

// Random texts over {a, b, c, é}, random stops, random token cuts (also inside é): the
// stream's text equals the brute-force reference, for every way of cutting.
TEST(TextStream, MatchesBruteForceForAnyTokenization) {
  const std::vector<std::string> alphabet = {"a", "b", "c", "\xC3\xA9"};
  std::vector<std::string> pieces;
  const std::string bytes = "abc\xC3\xA9";
  for (char x : bytes)
    for (char y : bytes) {
      pieces.push_back({x, y});
      for (char z : bytes) pieces.push_back({x, y, z});
    }
  Vocab v(pieces);
  std::mt19937 rng(42);
  auto random_text = [&](size_t max_chars) {
    std::string s;
    const size_t n = rng() % (max_chars + 1);
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int trial = 0; trial < 3000; ++trial) {
    const std::string text = random_text(24);
    std::vector<std::string> stop;
    const size_t n_stop = rng() % 4;
    for (size_t i = 0; i < n_stop; ++i) stop.push_back(random_text(4));
    const auto [want, want_stop] = reference(text, stop);
    for (int cut = 0; cut < 3; ++cut) {
      std::vector<TokenId> ids;
      size_t pos = 0;
      while (pos < text.size()) {
        const size_t len = std::min<size_t>(1 + rng() % 3, text.size() - pos);
        ids.push_back(v.id(text.substr(pos, len)));
        pos += len;
      }
      const Output r = stream(v.tok(), stop, ids);
      ASSERT_EQ(r.text, want) << "trial " << trial << " text '" << text << "'";
      ASSERT_EQ(r.stopped, want_stop) << "trial " << trial;
      if (!want_stop) continue;
      // Released tokens are exactly those that start before the cut.
      size_t offset = 0, n_before = 0;
      for (TokenId id : ids) {
        if (offset < want.size()) ++n_before;
        offset += v.tok().token_to_piece(id).size();
      }
      ASSERT_EQ(r.released.size(), n_before) << "trial " << trial;
    }
  }
}

TEST(TextStream, LongGenerationsStayLinear) {
  Vocab v({"lorem", " ipsum", " dolor", "\xE4\xB8", "\xAD", "a"});
  const std::vector<TokenId> cycle = v.ids({"lorem", " ipsum", " dolor", "\xE4\xB8", "\xAD"});
  // A long stop string whose prefixes keep matching: 999 bytes are held at every step.
  const std::string long_stop = std::string(999, 'a') + "b";
  const auto start = std::chrono::steady_clock::now();
  {
    TextStream s(v.tok(), {"</answer>", "lorem ipsum dolor sit", long_stop});
    size_t total = 0;
    for (int i = 0; i < 20000; ++i) {
      Delta d = s.push(cycle[i % cycle.size()]);
      ASSERT_FALSE(d.stopped);
      total += d.text.size();
    }
    total += s.finish().text.size();
    EXPECT_EQ(total, 4000u * (5 + 6 + 6 + 3));
  }
  {
    TextStream s(v.tok(), {long_stop});
    size_t total = 0;
    for (int i = 0; i < 20000; ++i) total += s.push(v.id("a")).text.size();
    EXPECT_EQ(total, 20000u - 999u);
    EXPECT_EQ(s.finish().text.size(), 999u);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Linear work here is a few milliseconds (more under sanitizers); rescanning the text or
  // the held suffix per token would take far longer.
  EXPECT_LT(seconds, 2.0);
}

// --- The real tokenizer -------------------------------------------------------------------

struct Loaded {
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<Tokenizer> tok;
};

Loaded load_smollm() {
  Loaded l;
  if (!std::filesystem::exists(kSmolLM)) return l;
  auto file = gguf::File::open(kSmolLM);
  EXPECT_TRUE(file.ok()) << file.error().message;
  if (!file.ok()) return l;
  l.file = std::move(file).value();
  auto tok = Tokenizer::from_gguf(*l.file);
  EXPECT_TRUE(tok.ok()) << tok.error().message;
  if (tok.ok()) l.tok = std::move(tok).value();
  return l;
}

TEST(TextStreamSmolLM, EmojiCjkAndStopAcrossRealTokens) {
  const Loaded l = load_smollm();
  if (!l.tok) GTEST_SKIP() << kSmolLM << " not found (run scripts to fetch models)";
  const Tokenizer& tk = *l.tok;
  const std::string answer = "Sure! \xF0\x9F\x98\x80 \xE4\xB8\x96\xE7\x95\x8C means world.\n";
  const std::string text = answer + "User: thanks";
  const std::vector<TokenId> ids = tk.encode(text, false, false);
  // The emoji and the CJK characters take more than one byte-level token each.
  size_t partial = 0;
  for (TokenId id : ids) partial += !is_valid_utf8(tk.token_to_piece(id));
  EXPECT_GE(partial, 2u);

  const Output plain = stream(tk, {}, ids);
  EXPECT_EQ(plain.text, text);
  const Output stopped = stream(tk, {"\nUser:"}, ids);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.text, answer.substr(0, answer.size() - 1));
  // Every cut of the same text gives the same output: one byte-level token per byte.
  std::vector<TokenId> byte_ids;
  for (char c : text) {
    const std::optional<TokenId> id = tk.find(tok::byte_to_unicode(static_cast<uint8_t>(c)));
    ASSERT_TRUE(id.has_value());
    ASSERT_EQ(tk.token_to_piece(*id), std::string(1, c));
    byte_ids.push_back(*id);
  }
  EXPECT_EQ(stream(tk, {"\nUser:"}, byte_ids).text, stopped.text);
  EXPECT_EQ(stream(tk, {}, byte_ids).text, text);
}

TEST(TextStreamSmolLM, EndOfTurnIsNotRendered) {
  const Loaded l = load_smollm();
  if (!l.tok) GTEST_SKIP() << kSmolLM << " not found";
  const Tokenizer& tk = *l.tok;
  const std::optional<TokenId> im_end = tk.find("<|im_end|>");
  ASSERT_TRUE(im_end.has_value());
  std::vector<TokenId> ids = tk.encode("Hello there.", false, false);
  ids.push_back(*im_end);
  if (tk.eos_id() >= 0) ids.push_back(tk.eos_id());
  const Output r = stream(tk, {"<|im_end|>"}, ids);
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "Hello there.");
}

}  // namespace
}  // namespace shardserve

namespace shardserve {
namespace {

TEST(TextStreamSmolLM, ShownControlTokensRenderTheirText) {
  const Loaded l = load_smollm();
  if (!l.tok) GTEST_SKIP() << kSmolLM << " not found";
  const Tokenizer& tk = *l.tok;
  const std::optional<TokenId> im_start = tk.find("<|im_start|>");
  ASSERT_TRUE(im_start.has_value());
  ASSERT_TRUE(tk.is_special(*im_start));
  std::vector<TokenId> ids = tk.encode("Hi", false, false);
  ids.push_back(*im_start);
  const std::vector<TokenId> tail = tk.encode("x", false, false);
  ids.insert(ids.end(), tail.begin(), tail.end());
  EXPECT_EQ(stream(tk, {}, ids).text, "Hix");

  TextStream shown(tk, {}, {*im_start});
  std::string text;
  std::vector<TokenPiece> pieces;
  for (TokenId id : ids) {
    Delta d = shown.push(id);
    text += d.text;
    for (auto& p : d.tokens) pieces.push_back(std::move(p));
  }
  text += shown.finish().text;
  EXPECT_EQ(text, "Hi<|im_start|>x");
  ASSERT_EQ(pieces.size(), ids.size());
  EXPECT_FALSE(pieces[ids.size() - 2].special);
  EXPECT_EQ(pieces[ids.size() - 2].text_offset, 2u);
  // Its text counts for stop strings like any text.
  TextStream stopped(tk, {"<|im_start"}, {*im_start});
  std::string cut;
  for (TokenId id : ids) cut += stopped.push(id).text;
  EXPECT_TRUE(stopped.stopped());
  EXPECT_EQ(cut, "Hi");
}

}  // namespace
}  // namespace shardserve
