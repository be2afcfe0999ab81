// GrammarMatcher tests: a JSON grammar over valid and invalid documents (byte by byte and
// in random chunkings, rejected at the right byte), UTF-8 split across accepts, can_end and
// is_finished, repetition bounds, negated classes with non-ASCII input, copies, and the
// bound on ambiguity.
#include "model/grammar/matcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "model/grammar/test_grammars.h"

namespace shardserve {
namespace {

using testing::compile;
using testing::json;

const std::vector<std::string> kValidJson = {
    R"({})",
    R"([])",
    R"( {"a": 1} )",
    R"({"key": "value", "n": -12.5e+3, "ok": true, "no": false, "x": null})",
    R"([1, 2.0, -0, 0.5E-2, "s", [[]], {"k": [{}]}])",
    R"("esc \" \\ \/ \b \f \n \r \t \u00e9 \uABCD")",
    "\"caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80\"",
    "{\n\t\"deep\": [[[[[[[[[[1]]]]]]]]]]\r\n}",
    R"(123)",
    R"(true)",
};

TEST(MatcherTest, JsonAcceptsValidDocumentsByteByByte) {
  for (const std::string& doc : kValidJson) {
    GrammarMatcher m(json());
    for (size_t i = 0; i < doc.size(); ++i) {
      ASSERT_TRUE(m.accept(doc.substr(i, 1))) << doc << " rejected at byte " << i;
    }
    EXPECT_TRUE(m.can_end()) << doc;
  }
}

TEST(MatcherTest, JsonAcceptsValidDocumentsInAnyChunking) {
  std::mt19937 rng(7);
  for (const std::string& doc : kValidJson) {
    for (int trial = 0; trial < 20; ++trial) {
      GrammarMatcher m(json());
      size_t i = 0;
      while (i < doc.size()) {
        const size_t n = std::uniform_int_distribution<size_t>(1, 6)(rng);
        ASSERT_TRUE(m.accept(doc.substr(i, n))) << doc << " chunk at " << i;
        i += n;
      }
      EXPECT_TRUE(m.can_end()) << doc;
    }
    GrammarMatcher whole(json());
    EXPECT_TRUE(whole.accept(doc));
    EXPECT_TRUE(whole.can_end());
  }
}

struct Invalid {
  std::string doc;
  size_t bad_byte;  // the first byte that cannot continue the grammar
};

TEST(MatcherTest, JsonRejectsInvalidDocumentsAtTheRightByte) {
  const std::vector<Invalid> cases = {
      {R"({"a":1,})", 7},
      {R"({"a" 1})", 5},
      {R"([1 2])", 3},
      {R"(01)", 1},
      {R"(-a)", 1},
      {R"(1.e5)", 2},
      {R"(tru3)", 3},
      {R"("\q")", 2},
      {R"("\u12G4")", 5},
      {"\"a\x01\"", 2},
      {R"({'a': 1})", 1},
      {R"({"a": 1}})", 8},
      {"\"\xC0\x80\"", 1},          // overlong lead byte
      {"\"\xED\xA0\x80\"", 2},      // surrogate
      {"\"\xF5\x80\x80\x80\"", 1},  // beyond U+10FFFF
      {"\"\xC3\xC3\"", 2},          // lead where a continuation must come
      {"\"\x80\"", 1},              // stray continuation byte
  };
  for (const Invalid& c : cases) {
    GrammarMatcher m(json());
    for (size_t i = 0; i < c.bad_byte; ++i) {
      ASSERT_TRUE(m.accept(c.doc.substr(i, 1))) << c.doc << " rejected early at byte " << i;
    }
    const GrammarMatcher before = m;
    EXPECT_FALSE(m.accept(c.doc.substr(c.bad_byte, 1))) << c.doc << " byte " << c.bad_byte;
    EXPECT_FALSE(m.ambiguity_exceeded());
    // The whole document at once is rejected too, and a failed accept changes nothing.
    GrammarMatcher whole(json());
    EXPECT_FALSE(whole.accept(c.doc)) << c.doc;
    EXPECT_EQ(m.can_end(), before.can_end());
    EXPECT_EQ(m.n_stacks(), before.n_stacks());
  }
}

TEST(MatcherTest, FailedAcceptLeavesStateUnchanged) {
  GrammarMatcher m(json());
  ASSERT_TRUE(m.accept(R"({"a": [1, 2)"));
  EXPECT_FALSE(m.accept(R"(, 3}})"));  // fails at the '}' after accepting ", 3"
  EXPECT_FALSE(
      m.accept("\xC3"
               "x"));  // a lead byte then junk
  ASSERT_TRUE(m.accept(R"(, 3]})"));
  EXPECT_TRUE(m.can_end());
}

TEST(MatcherTest, IncompleteDocumentsCannotEnd) {
  for (std::string doc : {R"({"a": 1)", R"([1, 2)", R"("abc)", R"(tru)", R"(-)", R"(1.)"}) {
    GrammarMatcher m(json());
    ASSERT_TRUE(m.accept(doc)) << doc;
    EXPECT_FALSE(m.can_end()) << doc;
  }
}

TEST(MatcherTest, Utf8SplitAcrossAccepts) {
  const Grammar g = compile(R"(root ::= "<" [^x>]* ">")");
  const std::string text = "<\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80>";
  GrammarMatcher m(g);
  for (size_t i = 0; i < text.size(); ++i) {
    ASSERT_TRUE(m.accept(text.substr(i, 1))) << "byte " << i;
  }
  EXPECT_TRUE(m.is_finished());

  // While a character is pending the input cannot end, even where the grammar could.
  const Grammar any = compile(R"(root ::= [^x]*)");
  GrammarMatcher a(any);
  EXPECT_TRUE(a.can_end());
  ASSERT_TRUE(a.accept("\xF0\x9F"));
  EXPECT_FALSE(a.can_end());
  ASSERT_TRUE(a.accept("\x98"));
  EXPECT_FALSE(a.can_end());
  ASSERT_TRUE(a.accept("\x80"));
  EXPECT_TRUE(a.can_end());
  EXPECT_FALSE(a.accept("\x80"));  // a continuation byte with nothing to continue
}

TEST(MatcherTest, NegatedClassWithNonAscii) {
  const Grammar g = compile("root ::= [^a-z\xC3\xA9]+");  // not a-z, not é
  GrammarMatcher m(g);
  EXPECT_TRUE(m.accept("\xC3\xBC"));          // ü
  EXPECT_TRUE(m.accept("\xE4\xB8\xAD"));      // 中
  EXPECT_TRUE(m.accept("\xF0\x9F\x98\x80"));  // 😀
  EXPECT_TRUE(m.accept("\xC3"));              // could still become ü
  EXPECT_FALSE(m.accept("\xA9"));             // but not é
  EXPECT_TRUE(m.accept("\xBC"));
  EXPECT_FALSE(m.accept("q"));
  EXPECT_TRUE(m.can_end());

  // A lead byte is rejected at once when no completion can match.
  const Grammar latin = compile("root ::= [\\u00e0-\\u00ff]");
  GrammarMatcher l(latin);
  EXPECT_FALSE(l.accept("\xE4"));  // 3-byte characters start at U+0800
  EXPECT_FALSE(l.accept("\xC2"));  // U+0080..U+00BF
  EXPECT_TRUE(l.accept("\xC3"));
  EXPECT_FALSE(l.accept("\x9F"));  // U+00DF
  EXPECT_TRUE(l.accept("\xA0"));   // U+00E0
  EXPECT_TRUE(l.is_finished());
}

TEST(MatcherTest, CanEndAndIsFinished) {
  const Grammar object = compile(R"(root ::= "{" [ ]* "}")");
  GrammarMatcher m(object);
  EXPECT_FALSE(m.can_end());
  EXPECT_FALSE(m.is_finished());
  ASSERT_TRUE(m.accept("{ "));
  EXPECT_FALSE(m.can_end());
  ASSERT_TRUE(m.accept("}"));
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(m.is_finished());
  EXPECT_FALSE(m.accept(" "));

  // With trailing whitespace allowed, a complete document can end but is not finished.
  GrammarMatcher j(json());
  ASSERT_TRUE(j.accept(R"({"a": 1})"));
  EXPECT_TRUE(j.can_end());
  EXPECT_FALSE(j.is_finished());
  ASSERT_TRUE(j.accept("\n"));
  EXPECT_TRUE(j.can_end());

  // A number can end but may also go on.
  GrammarMatcher n(json());
  ASSERT_TRUE(n.accept("12"));
  EXPECT_TRUE(n.can_end());
  EXPECT_TRUE(n.accept("3"));

  // A grammar that matches only the empty string is finished at once.
  const Grammar empty = compile(R"(root ::= "")");
  EXPECT_TRUE(GrammarMatcher(empty).is_finished());
}

TEST(MatcherTest, RepetitionBounds) {
  const Grammar g = compile(R"(root ::= "a"{2,4})");
  GrammarMatcher m(g);
  ASSERT_TRUE(m.accept("a"));
  EXPECT_FALSE(m.can_end());
  ASSERT_TRUE(m.accept("a"));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.is_finished());
  ASSERT_TRUE(m.accept("a"));
  EXPECT_TRUE(m.can_end());
  ASSERT_TRUE(m.accept("a"));
  EXPECT_TRUE(m.is_finished());
  EXPECT_FALSE(m.accept("a"));

  const Grammar exact = compile(R"(root ::= [0-9]{3} "-" [0-9]{2,})");
  GrammarMatcher e(exact);
  EXPECT_FALSE(e.accept("12-"));
  ASSERT_TRUE(e.accept("123-4"));
  EXPECT_FALSE(e.can_end());
  ASSERT_TRUE(e.accept("56789"));
  EXPECT_TRUE(e.can_end());
}

TEST(MatcherTest, CopiesAreIndependent) {
  GrammarMatcher m(json());
  ASSERT_TRUE(m.accept(R"({"a": )"));
  GrammarMatcher trial = m;
  ASSERT_TRUE(trial.accept("true}"));
  EXPECT_TRUE(trial.can_end());
  EXPECT_FALSE(m.can_end());
  EXPECT_TRUE(m.can_accept("[1]}"));
  EXPECT_FALSE(m.can_accept("]"));
  ASSERT_TRUE(m.accept("null}"));
  EXPECT_TRUE(m.can_end());
  m.reset();
  EXPECT_FALSE(m.can_end());
  EXPECT_TRUE(m.accept("[]"));
}

TEST(MatcherTest, StacksStayFlatOnLongAndDeepInput) {
  GrammarMatcher m(json());
  ASSERT_TRUE(m.accept("["));
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(m.accept(std::to_string(i) + ", "));
  ASSERT_TRUE(m.accept("0]"));
  EXPECT_TRUE(m.can_end());
  EXPECT_LE(m.n_stacks(), 8u);

  GrammarMatcher deep(json());
  const int depth = 500;
  for (int i = 0; i < depth; ++i) ASSERT_TRUE(deep.accept("[{\"k\": "));
  ASSERT_TRUE(deep.accept("1"));
  for (int i = 0; i < depth; ++i) ASSERT_TRUE(deep.accept("}]"));
  EXPECT_TRUE(deep.can_end());
}

TEST(MatcherTest, AmbiguityIsBounded) {
  // After n a's there are 2^n ways to owe the closing letters: refused, not exponential.
  const Grammar g = compile(R"(root ::= e
e ::= "a" e "b" | "a" e "c" | "")");
  GrammarMatcher m(g);
  int accepted = 0;
  while (accepted < 64 && m.accept("a")) ++accepted;
  EXPECT_LT(accepted, 12);
  EXPECT_TRUE(m.ambiguity_exceeded());
  EXPECT_LE(m.n_stacks(), GrammarMatcher::kDefaultMaxStacks);
  // What was accepted still closes.
  EXPECT_TRUE(m.accept(std::string(static_cast<size_t>(accepted), 'b')));
  EXPECT_TRUE(m.can_end());

  // Linear ambiguity: about 3 (n + 1) stacks after n a's.
  const Grammar lin = compile(R"(root ::= e
e ::= "a" e "b" | "a" e | "")");
  GrammarMatcher small(lin, 8);
  EXPECT_TRUE(small.accept("a"));
  EXPECT_FALSE(small.accept("a"));
  EXPECT_TRUE(small.ambiguity_exceeded());
  GrammarMatcher roomy(lin);
  EXPECT_TRUE(roomy.accept("aaaaaaaaaaaaaaaaaaaa"));
  EXPECT_TRUE(roomy.accept("bbbbb"));
  EXPECT_TRUE(roomy.can_end());
  EXPECT_FALSE(roomy.ambiguity_exceeded());
}

TEST(MatcherTest, AcceptSpeed) {
  std::string doc = "[";
  for (int i = 0; i < 2000; ++i)
    doc += R"({"id": 12345, "name": "caf\u00e9 )" + std::to_string(i) + R"("}, )";
  doc += "null]";
  GrammarMatcher m(json());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < doc.size(); i += 4) ASSERT_TRUE(m.accept(doc.substr(i, 4)));
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(m.can_end());
  std::printf("[ timing ] matcher accept: %zu bytes in 4-byte chunks, %.3f us/byte\n", doc.size(),
              us / static_cast<double>(doc.size()));
}

}  // namespace
}  // namespace shardserve
