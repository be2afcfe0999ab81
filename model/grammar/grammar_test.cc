// Grammar tests: every piece of GBNF syntax, the compiled form (to_string), each error with
// its line:column message, left recursion, and the size of expanded repetitions.
#include "model/grammar/grammar.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "model/grammar/matcher.h"
#include "model/grammar/test_grammars.h"

namespace shardserve {
namespace {

Grammar parse_ok(std::string_view text) {
  Result<Grammar> g = Grammar::parse(text);
  EXPECT_TRUE(g.ok()) << text << "\n-> " << g.error().message;
  if (!g.ok()) return std::move(Grammar::parse("root ::= \"\"")).value();
  return std::move(g).value();
}

std::string parse_error(std::string_view text) {
  Result<Grammar> g = Grammar::parse(text);
  EXPECT_FALSE(g.ok()) << text << "\nparsed as:\n" << (g.ok() ? g->to_string() : "");
  if (g.ok()) return "";
  EXPECT_EQ(g.error().code, ErrorCode::kInvalidInput);
  return g.error().message;
}

// Whether the whole of `text` is a sentence of the grammar.
bool matches(const Grammar& g, std::string_view text) {
  GrammarMatcher m(g);
  return m.accept(text) && m.can_end();
}

TEST(GrammarTest, LiteralsAndEscapes) {
  const Grammar g = parse_ok(R"(root ::= "a\n\t\r\\\"\'\[\]\-\x41\u00e9\U0001F600")");
  EXPECT_TRUE(matches(g, "a\n\t\r\\\"'[]-A\xC3\xA9\xF0\x9F\x98\x80"));
  EXPECT_FALSE(matches(g, "a"));
  // Raw UTF-8 in a literal is code points, one element each.
  const Grammar u = parse_ok("root ::= \"h\xC3\xA9\xE4\xB8\xAD\"");
  EXPECT_EQ(u.n_elements(), 3u + 1u);  // h, é, 中, end
  EXPECT_TRUE(matches(u, "h\xC3\xA9\xE4\xB8\xAD"));
  EXPECT_TRUE(matches(parse_ok(R"(root ::= "")"), ""));
}

TEST(GrammarTest, ControlTokensByTheirText) {
  const Grammar g = parse_ok(
      R"(root ::= @"[TOOL_CALLS]" "[" | @"<|python_tag|>" x
x ::= @"[TOOL_CALLS]" .)");
  ASSERT_EQ(g.tokens().size(), 2u);
  EXPECT_EQ(g.tokens()[0], "[TOOL_CALLS]");
  EXPECT_EQ(g.tokens()[1], "<|python_tag|>");
  EXPECT_EQ(g.token_index("<|python_tag|>"), 1);
  EXPECT_EQ(g.token_index("[TOOL_CALLS"), -1);
  EXPECT_EQ(g.to_string(),
            "root ::= @\"[TOOL_CALLS]\" \"[\" | @\"<|python_tag|>\" x\n"
            "x ::= @\"[TOOL_CALLS]\" [\\x00-\\U0010FFFF]\n");
  // The text of a token is not the token, and '.' never matches one.
  EXPECT_FALSE(matches(g, "[TOOL_CALLS]["));
  GrammarMatcher m(g);
  EXPECT_TRUE(m.can_accept_token(0));
  EXPECT_FALSE(m.accept_token(2));  // not a token of this grammar
  ASSERT_TRUE(m.accept_token(1));
  ASSERT_TRUE(m.accept_token(0));
  EXPECT_FALSE(m.can_accept_token(0));
  EXPECT_TRUE(m.accept("\xC3"));
  EXPECT_FALSE(m.can_end());
  EXPECT_TRUE(m.accept("\xA9"));
  EXPECT_TRUE(m.is_finished());
  // No token while a character is pending.
  const Grammar t = parse_ok(R"(root ::= [^a]* @"<x>")");
  GrammarMatcher p(t);
  ASSERT_TRUE(p.accept("\xC3"));
  EXPECT_FALSE(p.accept_token(0));
  ASSERT_TRUE(p.accept("\xA9"));
  EXPECT_TRUE(p.accept_token(0));
  EXPECT_TRUE(p.is_finished());
  // Escapes and UTF-8 in token texts; one index per distinct text.
  const Grammar u = parse_ok("root ::= @\"<\\u00e9>\" @\"<\xC3\xA9>\"");
  ASSERT_EQ(u.tokens().size(), 1u);
  EXPECT_EQ(u.tokens()[0], "<\xC3\xA9>");
}

TEST(GrammarTest, CharacterClasses) {
  const Grammar g = parse_ok("root ::= [a-z0-9_]");
  EXPECT_EQ(g.to_string(), "root ::= [0-9_a-z]\n");
  for (std::string ok : {"a", "q", "z", "0", "9", "_"}) EXPECT_TRUE(matches(g, ok)) << ok;
  for (std::string bad : {"A", "-", " ", "\xC3\xA9"}) EXPECT_FALSE(matches(g, bad)) << bad;

  // Negation is over all code points; escapes work inside classes.
  const Grammar neg = parse_ok(R"(root ::= [^"\\])");
  EXPECT_EQ(neg.to_string(), "root ::= [\\x00-!#-[\\]-\\U0010FFFF]\n");
  EXPECT_TRUE(matches(neg, "a"));
  EXPECT_TRUE(matches(neg, "\xE4\xB8\xAD"));
  EXPECT_FALSE(matches(neg, "\""));
  EXPECT_FALSE(matches(neg, "\\"));

  // A '-' first or last is literal; \] and \- are escapes; ranges may use escapes.
  const Grammar dash = parse_ok(R"(root ::= [-a] [b-] [\]\-] [\x41-\x43] [\u00e0-\u00ff])");
  EXPECT_TRUE(matches(dash, "-b]B\xC3\xA9"));
  EXPECT_TRUE(matches(dash, "a--A\xC3\xA0"));
  EXPECT_FALSE(matches(dash, "a--D\xC3\xA0"));

  // Overlapping and adjacent ranges merge.
  EXPECT_EQ(parse_ok("root ::= [a-fd-kl]").to_string(), "root ::= [a-l]\n");
  EXPECT_EQ(parse_ok("root ::= [^]").to_string(), "root ::= [\\x00-\\U0010FFFF]\n");
}

TEST(GrammarTest, AnyCharacter) {
  const Grammar g = parse_ok("root ::= . \"!\"");
  EXPECT_TRUE(matches(g, "x!"));
  EXPECT_TRUE(matches(g, "\xF0\x9F\x98\x80!"));
  EXPECT_TRUE(matches(g, "\n!"));
  EXPECT_FALSE(matches(g, "xy!"));
}

TEST(GrammarTest, SequencesAlternativesAndGroups) {
  const Grammar g = parse_ok(R"(root ::= "a" ("b" | "c" "d") "e" | "f" | )");
  EXPECT_EQ(g.to_string(),
            "root ::= \"a\" root/1 \"e\" | \"f\" | \"\"\nroot/1 ::= \"b\" | \"cd\"\n");
  for (std::string ok : {"abe", "acde", "f", ""}) EXPECT_TRUE(matches(g, ok)) << ok;
  for (std::string bad : {"ae", "abde", "ff", "a"}) EXPECT_FALSE(matches(g, bad)) << bad;
  // A group with one alternative is spliced in.
  EXPECT_EQ(parse_ok(R"(root ::= "a" ("b" "c") "d")").to_string(), "root ::= \"abcd\"\n");
}

TEST(GrammarTest, Repetitions) {
  EXPECT_EQ(parse_ok(R"(root ::= "a"*)").to_string(),
            "root ::= root/1\nroot/1 ::= \"a\" root/1 | \"\"\n");
  EXPECT_EQ(parse_ok(R"(root ::= "ab"+)").to_string(),
            "root ::= root/1 root/2\nroot/1 ::= \"ab\"\nroot/2 ::= root/1 root/2 | \"\"\n");
  EXPECT_EQ(parse_ok(R"(root ::= ("a" | "b")?)").to_string(),
            "root ::= root/1\nroot/1 ::= \"a\" | \"b\" | \"\"\n");
  EXPECT_EQ(parse_ok(R"(root ::= ("a" | "b")*)").to_string(),
            "root ::= root/1\nroot/1 ::= \"a\" root/1 | \"b\" root/1 | \"\"\n");
  EXPECT_EQ(parse_ok(R"(root ::= "a"{3})").to_string(), "root ::= \"aaa\"\n");
  EXPECT_EQ(parse_ok(R"(root ::= "a"{2,})").to_string(),
            "root ::= \"aa\" root/1\nroot/1 ::= \"a\" root/1 | \"\"\n");
  // {m,n}: m copies, then a chain of n - m optional rules.
  EXPECT_EQ(parse_ok(R"(root ::= "a"{1,3})").to_string(),
            "root ::= \"a\" root/2\nroot/1 ::= \"a\" | \"\"\nroot/2 ::= \"a\" root/1 | \"\"\n");
  EXPECT_EQ(parse_ok(R"(root ::= "a"{ 0 , 2 } "b"{0})").to_string(),
            "root ::= root/2\nroot/1 ::= \"a\" | \"\"\nroot/2 ::= \"a\" root/1 | \"\"\n");

  const Grammar g = parse_ok(R"(root ::= "x" [0-9]{2,4} "y"+ "z"?)");
  for (std::string ok : {"x12y", "x123yy", "x1234yz"}) EXPECT_TRUE(matches(g, ok)) << ok;
  for (std::string bad : {"x1y", "x12345y", "x12", "x12yzz"}) EXPECT_FALSE(matches(g, bad)) << bad;
}

TEST(GrammarTest, LargeBoundedRepetitionStaysLinear) {
  const Grammar g = parse_ok(R"(root ::= ("ab" | "c"){0,5000} "!")");
  EXPECT_LT(g.n_elements(), 4u * 5000u + 100u);
  std::string text;
  for (int i = 0; i < 5000; ++i) text += i % 2 ? "ab" : "c";
  EXPECT_TRUE(matches(g, text + "!"));
  EXPECT_FALSE(matches(g, text + "c!"));
  // Nested counts multiply the work, not the size.
  const Grammar nested = parse_ok(R"(root ::= (("a"{100}){100}){100})");
  EXPECT_LT(nested.n_elements(), 1000u);
}

TEST(GrammarTest, CommentsMultiLineRulesAndNames) {
  const Grammar g = parse_ok(R"(# a comment line
root ::= item-list   # trailing comment
  | "empty"
item-list ::=
    item_2
    ("," item_2)*
item_2 ::= [0-9]+ # the rule ends where the next one starts
Rule3 ::= "unused")");
  EXPECT_TRUE(matches(g, "1,22,333"));
  EXPECT_TRUE(matches(g, "empty"));
  EXPECT_FALSE(matches(g, "1,"));
  EXPECT_EQ(g.rule_name(g.root()), "root");
}

TEST(GrammarTest, CustomStartRule) {
  Result<Grammar> g = Grammar::parse(R"(start ::= "s")", "start");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_TRUE(matches(*g, "s"));
}

TEST(GrammarTest, JsonGrammarParses) {
  const Grammar g = parse_ok(testing::kJsonGbnf);
  EXPECT_TRUE(matches(g, R"({"a": [1, -2.5e3, true, null, "x\n\u00e9"]})"));
}

TEST(GrammarTest, SemanticErrors) {
  EXPECT_EQ(parse_error("root ::= \"a\" foo\nfoo2 ::= bar"),
            "line 1:14: rule 'foo' is referenced but not defined");
  EXPECT_EQ(parse_error(R"(a ::= "x")"),
            "line 1:1: the grammar has no rule 'root' (the start rule)");
  EXPECT_EQ(parse_error(""), "line 1:1: the grammar has no rule 'root' (the start rule)");
  EXPECT_EQ(parse_error("root ::= \"a\"\nroot ::= \"b\""),
            "line 2:1: rule 'root' is defined twice (first at line 1:1)");
}

TEST(GrammarTest, SyntaxErrors) {
  EXPECT_EQ(parse_error(R"(root "a")"), "line 1:6: expected '::=' after rule name 'root'");
  EXPECT_EQ(parse_error(R"(::= "a")"), "line 1:1: expected a rule name, found ':'");
  EXPECT_EQ(parse_error("root ::= \"abc\nx ::= \"y\""), "line 1:10: unterminated string literal");
  EXPECT_EQ(parse_error("root ::= [a-z"), "line 1:10: unterminated character class");
  EXPECT_EQ(parse_error("root ::= []"), "line 1:10: empty character class");
  EXPECT_EQ(parse_error("root ::= [z-a]"), "line 1:11: character range ends before it starts");
  EXPECT_EQ(parse_error(R"(root ::= "a\q")"), "line 1:12: unknown escape '\\q'");
  EXPECT_EQ(parse_error(R"(root ::= "\x4")"), "line 1:11: expected 2 hex digits after '\\x'");
  EXPECT_EQ(parse_error(R"(root ::= "\U00110000")"), "line 1:11: code point beyond U+10FFFF");
  EXPECT_EQ(parse_error("root ::= ( \"a\" \n"),
            "line 2:1: expected ')' to close the '(' at line 1:10");
  EXPECT_EQ(parse_error("root ::= \"a\" )"), "line 1:14: unmatched ')'");
  EXPECT_EQ(parse_error("root ::= \"a\"\n  @"), "line 2:3: expected a quoted token text after '@'");
  EXPECT_EQ(parse_error("root ::= \"a\"\n  $"), "line 2:3: unexpected '$'");
  EXPECT_EQ(parse_error(R"(root ::= @"")"), "line 1:10: empty token text");
  EXPECT_EQ(parse_error("root ::= @\"[T"), "line 1:10: unterminated token text");
  EXPECT_EQ(parse_error("root ::= \"a\"{4,2}"), "line 1:13: repetition {m,n} with n < m");
  EXPECT_EQ(parse_error("root ::= \"a\"{x}"), "line 1:14: expected a repetition count");
  EXPECT_EQ(parse_error("root ::= \"a\"{2"),
            "line 1:15: expected '}' to close the '{' of a repetition");
  EXPECT_EQ(parse_error("root ::= \"a\"{1000000}"), "line 1:14: repetition count above 100000");
  EXPECT_EQ(parse_error("root ::= \"\xC3\""), "line 1:11: invalid UTF-8 in the grammar");
}

TEST(GrammarTest, DirectLeftRecursionIsAnError) {
  EXPECT_EQ(parse_error("root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]"),
            "line 2:1: left recursion: rule 'expr' can reach itself without consuming input "
            "(expr -> expr), which a top-down matcher cannot handle; write the recursion as "
            "repetition, e.g. list ::= item (\",\" item)*");
}

TEST(GrammarTest, IndirectLeftRecursionThroughNullableRulesIsAnError) {
  // a -> b (ws can be empty) -> a.
  const std::string msg = parse_error("root ::= a\na ::= b \"x\"\nb ::= ws a | \"y\"\nws ::= [ ]*");
  EXPECT_NE(msg.find("line 2:1: left recursion: rule 'a' can reach itself"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("(a -> b -> a)"), std::string::npos) << msg;
  // Through a group.
  EXPECT_NE(parse_error("root ::= (\"\" | root) \"x\"").find("left recursion"), std::string::npos);
}

TEST(GrammarTest, RepeatingSomethingNullableIsAnError) {
  EXPECT_EQ(parse_error("root ::= \"a\" (\"b\"?)*"),
            "line 1:14: left recursion: a repetition ('*', '+' or '{m,}') of an expression that "
            "can match the empty string would loop without consuming input");
  EXPECT_NE(parse_error("root ::= ws+\nws ::= [ ]*").find("repetition"), std::string::npos);
  // Bounded repetition of something nullable is fine.
  EXPECT_TRUE(Grammar::parse("root ::= (\"b\"?){0,3} \"c\"").ok());
  // Right recursion is fine.
  EXPECT_TRUE(matches(parse_ok("root ::= \"a\" root | \"\""), "aaaa"));
}

TEST(GrammarTest, IntervalsPartitionCodePoints) {
  const Grammar g = parse_ok("root ::= [a-c] [^b]");
  // Boundaries at a, b, c+1: [0,a) [a,b) [b,c] ... each with one membership pattern.
  EXPECT_EQ(g.interval_of(0), 0u);
  EXPECT_EQ(g.interval_of('a'), g.interval_of('a'));
  EXPECT_NE(g.interval_of('a'), g.interval_of('b'));
  EXPECT_EQ(g.interval_of('d'), g.interval_of(0x10FFFF));
  EXPECT_EQ(g.interval_start(g.interval_of('z')), static_cast<uint32_t>('d'));
}

// Random text from GBNF's alphabet: parse either fails with a located message or gives a
// grammar a matcher can run on (no crash, no hang).
TEST(GrammarTest, RandomTextParsesOrFailsCleanly) {
  const std::vector<std::string> atoms = {
      "root",    " ::= ", "a",     "b-c", " ",    "\n",         "|",        "(",
      ")",       "*",     "+",     "?",   "{2}",  "{1,3}",      "{2,}",     "\"x\"",
      "\"\\n\"", "[a-z]", "[^\"]", ".",   "#c\n", "\nb-c ::= ", "\na ::= ", "\"\xC3\xA9\"",
      "\"",      "[",     "]",     "{",   "}",    ":"};
  std::mt19937 rng(5);
  int parsed = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text = trial % 2 ? "root ::= " : "";
    const int n = std::uniform_int_distribution<int>(1, 14)(rng);
    for (int i = 0; i < n; ++i) {
      text += atoms[std::uniform_int_distribution<size_t>(0, atoms.size() - 1)(rng)];
    }
    Result<Grammar> g = Grammar::parse(text);
    if (!g.ok()) {
      EXPECT_EQ(g.error().message.rfind("line ", 0), 0u) << text << " -> " << g.error().message;
      continue;
    }
    ++parsed;
    GrammarMatcher m(*g);
    std::string input;
    for (int i = 0; i < 12; ++i)
      input += "axb\"-\xC3\xA9"[std::uniform_int_distribution<int>(0, 7)(rng)];
    for (char c : input) m.accept(std::string(1, c));
  }
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace shardserve
