#include "api/json_schema_grammar.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/json_grammar_text.h"

namespace shardserve::api {
namespace {

using nlohmann::ordered_json;

// ---- A small backtracking GBNF recognizer, for these tests only ----
//
// It reads the subset of GBNF the compiler writes (one rule per line; literals, classes,
// groups, rule references, * + ? {m} {m,} {m,n}) and tells whether a rule matches a whole
// input. Exponential in the worst case, fine for the short JSON texts below. It is not the
// production matcher (model/grammar/); it only lets the tests check what a grammar means.
class Recognizer {
 public:
  explicit Recognizer(const std::string& grammar) {
    size_t start = 0;
    while (start < grammar.size()) {
      size_t end = grammar.find('\n', start);
      if (end == std::string::npos) end = grammar.size();
      const std::string line = grammar.substr(start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      const size_t sep = line.find(" ::= ");
      if (sep == std::string::npos) {
        error_ = "no ' ::= ' in line: " + line;
        return;
      }
      const std::string name = line.substr(0, sep);
      if (rules_.count(name)) error_ = "rule defined twice: " + name;
      text_ = *json_grammar::decode_utf8(line.substr(sep + 5));
      pos_ = 0;
      rules_[name] = parse_alt();
      skip_space();
      if (pos_ != text_.size() && error_.empty()) error_ = "trailing text in rule " + name;
    }
    for (const auto& name : refs_) {
      if (!rules_.count(name) && error_.empty()) error_ = "undefined rule: " + name;
    }
  }

  const std::string& error() const { return error_; }

  bool matches(const std::string& input, const std::string& rule = "root") const {
    if (!error_.empty() || !rules_.count(rule)) return false;
    input_ = *json_grammar::decode_utf8(input);
    steps_ = 0;
    return match(rules_.at(rule), 0, [&](size_t end) { return end == input_.size(); });
  }

 private:
  struct Node {
    enum Kind { kAlt, kSeq, kLiteral, kClass, kRef, kRepeat } kind = kSeq;
    std::vector<Node> kids;
    std::u32string literal;
    std::vector<std::pair<char32_t, char32_t>> ranges;
    bool negated = false;
    std::string ref;
    uint64_t min = 0, max = 0;
    bool unbounded = false;
  };
  using Next = std::function<bool(size_t)>;

  void skip_space() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }

  char32_t escaped() {  // after '\'
    const char32_t c = text_[pos_++];
    auto hex = [&](int n) {
      char32_t v = 0;
      for (int i = 0; i < n; ++i) {
        const char32_t h = text_[pos_++];
        v = v * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
      }
      return v;
    };
    switch (c) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'x':
        return hex(2);
      case 'u':
        return hex(4);
      default:
        return c;  // \" \\ \] \[
    }
  }

  Node parse_alt() {
    Node alt{Node::kAlt};
    alt.kids.push_back(parse_seq());
    skip_space();
    while (pos_ < text_.size() && text_[pos_] == '|') {
      ++pos_;
      alt.kids.push_back(parse_seq());
      skip_space();
    }
    return alt;
  }

  Node parse_seq() {
    Node seq{Node::kSeq};
    while (true) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] == '|' || text_[pos_] == ')') break;
      Node item = parse_primary();
      if (!error_.empty()) break;
      seq.kids.push_back(parse_postfix(std::move(item)));
    }
    if (seq.kids.empty() && error_.empty()) error_ = "empty alternative";
    return seq;
  }

  Node parse_primary() {
    const char32_t c = text_[pos_];
    Node node;
    if (c == '"') {
      node.kind = Node::kLiteral;
      ++pos_;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        node.literal += text_[pos_] == '\\' ? (++pos_, escaped()) : text_[pos_++];
      }
      ++pos_;
    } else if (c == '[') {
      node.kind = Node::kClass;
      ++pos_;
      if (text_[pos_] == '^') {
        node.negated = true;
        ++pos_;
      }
      while (pos_ < text_.size() && text_[pos_] != ']') {
        const char32_t lo = text_[pos_] == '\\' ? (++pos_, escaped()) : text_[pos_++];
        char32_t hi = lo;
        if (text_[pos_] == '-' && text_[pos_ + 1] != ']') {
          ++pos_;
          hi = text_[pos_] == '\\' ? (++pos_, escaped()) : text_[pos_++];
        }
        node.ranges.emplace_back(lo, hi);
      }
      ++pos_;
    } else if (c == '(') {
      ++pos_;
      node = parse_alt();
      if (text_[pos_] != ')') error_ = "missing ')'";
      ++pos_;
    } else {
      node.kind = Node::kRef;
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<int>(text_[pos_])) || text_[pos_] == '-')) {
        node.ref += static_cast<char>(text_[pos_++]);
      }
      if (node.ref.empty()) error_ = "unexpected character in grammar";
      refs_.push_back(node.ref);
    }
    return node;
  }

  Node parse_postfix(Node item) {
    if (pos_ >= text_.size()) return item;
    Node rep{Node::kRepeat};
    const char32_t c = text_[pos_];
    if (c == '*' || c == '+' || c == '?') {
      rep.min = c == '+' ? 1 : 0;
      rep.max = 1;
      rep.unbounded = c != '?';
      ++pos_;
    } else if (c == '{') {
      ++pos_;
      auto number = [&] {
        uint64_t v = 0;
        while (text_[pos_] >= '0' && text_[pos_] <= '9') v = v * 10 + (text_[pos_++] - '0');
        return v;
      };
      rep.min = rep.max = number();
      if (text_[pos_] == ',') {
        ++pos_;
        rep.unbounded = text_[pos_] == '}';
        if (!rep.unbounded) rep.max = number();
      }
      ++pos_;
    } else {
      return item;
    }
    rep.kids.push_back(std::move(item));
    return rep;
  }

  bool match(const Node& node, size_t pos, const Next& next) const {
    if (++steps_ > 20'000'000) return false;
    switch (node.kind) {
      case Node::kAlt:
        for (const auto& kid : node.kids) {
          if (match(kid, pos, next)) return true;
        }
        return false;
      case Node::kSeq:
        return match_seq(node, 0, pos, next);
      case Node::kLiteral:
        if (input_.compare(pos, node.literal.size(), node.literal) != 0) return false;
        return next(pos + node.literal.size());
      case Node::kClass: {
        if (pos >= input_.size()) return false;
        bool in = false;
        for (const auto& [lo, hi] : node.ranges)
          in = in || (lo <= input_[pos] && input_[pos] <= hi);
        return in != node.negated && next(pos + 1);
      }
      case Node::kRef:
        return match(rules_.at(node.ref), pos, next);
      case Node::kRepeat:
        return match_repeat(node, 0, pos, next);
    }
    return false;
  }

  bool match_seq(const Node& node, size_t i, size_t pos, const Next& next) const {
    if (i == node.kids.size()) return next(pos);
    return match(node.kids[i], pos, [&](size_t p) { return match_seq(node, i + 1, p, next); });
  }

  bool match_repeat(const Node& node, uint64_t count, size_t pos, const Next& next) const {
    if ((node.unbounded || count < node.max) && match(node.kids[0], pos, [&](size_t p) {
          return p != pos && match_repeat(node, count + 1, p, next);
        })) {
      return true;
    }
    return count >= node.min && next(pos);
  }

  std::map<std::string, Node> rules_;
  std::vector<std::string> refs_;
  std::string error_;
  std::u32string text_;
  size_t pos_ = 0;
  mutable std::u32string input_;
  mutable uint64_t steps_ = 0;
};

// ---- helpers ----

std::string grammar_for(const std::string& schema) {
  auto gbnf = json_schema_to_gbnf(ordered_json::parse(schema), "schema");
  EXPECT_TRUE(gbnf.ok()) << schema << "\n -> " << (gbnf.ok() ? "" : gbnf.error().message);
  return gbnf.ok() ? *gbnf : "";
}

// A recognizer for the schema's grammar; fails the test when the grammar does not parse.
Recognizer recognizer_for(const std::string& schema) {
  const std::string gbnf = grammar_for(schema);
  Recognizer r(gbnf);
  EXPECT_EQ(r.error(), "") << gbnf;
  return r;
}

std::string error_for(const std::string& schema, const std::string& path = "schema") {
  auto gbnf = json_schema_to_gbnf(ordered_json::parse(schema), path);
  EXPECT_FALSE(gbnf.ok()) << schema << "\n -> compiled to\n" << (gbnf.ok() ? *gbnf : "");
  if (gbnf.ok()) return "";
  EXPECT_EQ(gbnf.error().code, ErrorCode::kInvalidInput);
  return gbnf.error().message;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void expect_accepts(const Recognizer& r, const std::vector<std::string>& texts) {
  for (const auto& text : texts) EXPECT_TRUE(r.matches(text)) << "should accept: " << text;
}

void expect_rejects(const Recognizer& r, const std::vector<std::string>& texts) {
  for (const auto& text : texts) EXPECT_FALSE(r.matches(text)) << "should reject: " << text;
}

// ---- the recognizer itself ----

TEST(JsonGrammarRecognizer, RejectsMalformedGrammarsAndMatchesWholeInput) {
  EXPECT_NE(Recognizer("root ::= missing\n").error(), "");
  EXPECT_NE(Recognizer("root \"x\"\n").error(), "");
  Recognizer r("root ::= \"a\" [b-d]{2} ( \"x\" | \"y\" )?\n");
  ASSERT_EQ(r.error(), "");
  EXPECT_TRUE(r.matches("abd"));
  EXPECT_TRUE(r.matches("accy"));
  EXPECT_FALSE(r.matches("ab"));
  EXPECT_FALSE(r.matches("abdz"));
}

// ---- builder ----

TEST(JsonGrammarBuilder, AnyValueAndAnyObject) {
  JsonGrammarBuilder builder;
  const std::string value = builder.add_any_json_value();
  const std::string object = builder.add_any_json_object();
  EXPECT_EQ(value, "value");
  EXPECT_EQ(object, "object");
  Recognizer any(builder.gbnf(value));
  ASSERT_EQ(any.error(), "");
  expect_accepts(any, {R"({"a": [1, -2.5e3, "x\n\u00e9", true, null], "b": {}})", "[]", "-0", "3"});
  // Surrogates are written as UTF-8, never as \u escapes (one code point per character).
  expect_rejects(any, {R"({"a" 1})", "[1,]", "01", "\"a\nb\"", "nul", "{'a': 1}", R"("\ud83d")"});
  Recognizer only_objects(builder.gbnf(object));
  expect_accepts(only_objects, {"{}", R"({"k": [1]})"});
  expect_rejects(only_objects, {"[1]", "\"s\"", "1"});
}

TEST(JsonGrammarBuilder, WhitespaceIsBounded) {
  JsonGrammarBuilder builder;
  const std::string gbnf = builder.gbnf(builder.add_any_json_value());
  EXPECT_TRUE(contains(gbnf, "ws ::= ( \" \" | \"\\n\" [ \\t]{0,20} )?\n")) << gbnf;
  Recognizer r(gbnf);
  expect_accepts(r, {"{\"a\":1}", "{ \"a\" : 1 }", "{\n  \"a\": [\n    1\n  ]\n}",
                     "{\n" + std::string(20, ' ') + "\"a\": 1}"});
  expect_rejects(r, {"{\"a\":  1}", "{\n" + std::string(21, ' ') + "\"a\": 1}", " {}", "{}\n",
                     "{\n\n\"a\": 1}"});
}

TEST(JsonGrammarBuilder, ComposesRulesAndNamesThemUniquely) {
  JsonGrammarBuilder builder;
  const auto schema = ordered_json::parse(
      R"({"title": "Person", "type": "object", "properties": {"name": {"type": "string"}},
          "required": ["name"], "additionalProperties": false})");
  auto first = builder.add_schema(schema, "tools[0].function.parameters");
  auto second = builder.add_schema(schema, "tools[1].function.parameters");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, "Person");
  EXPECT_EQ(*second, "Person-2");
  auto named = builder.add_schema(schema, "x", "get weather");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(*named, "get-weather");
  const std::string call =
      builder.add_rule("tool call", JsonGrammarBuilder::literal("<tool_call>") + " " + *first +
                                        " " + JsonGrammarBuilder::literal("</tool_call>"));
  EXPECT_EQ(call, "tool-call");
  EXPECT_EQ(builder.add_rule("string", "\"s\""), "string-2");  // shared names stay reserved
  const std::string gbnf = builder.gbnf(call);
  EXPECT_EQ(gbnf.find("root ::= tool-call\n"), 0u) << gbnf;
  EXPECT_TRUE(contains(gbnf, "tool-call ::= \"<tool_call>\" Person \"</tool_call>\"\n")) << gbnf;
  // Shared rules are written once.
  EXPECT_EQ(gbnf.find("\nstring ::= "), gbnf.rfind("\nstring ::= "));
  Recognizer r(gbnf);
  ASSERT_EQ(r.error(), "") << gbnf;
  expect_accepts(r, {R"(<tool_call>{"name": "Ada"}</tool_call>)"});
  expect_rejects(r, {R"(<tool_call>{"name": 1}</tool_call>)", R"({"name": "Ada"})"});
}

TEST(JsonGrammarBuilder, LiteralEscapes) {
  EXPECT_EQ(JsonGrammarBuilder::literal("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\x01\"");
  EXPECT_EQ(JsonGrammarBuilder::literal("é"), "\"é\"");
}

TEST(JsonGrammarBuilder, FailedSchemaLeavesTheBuilderUnchanged) {
  JsonGrammarBuilder builder;
  ASSERT_TRUE(builder.add_schema(ordered_json::parse(R"({"type": "string"})"), "a").ok());
  const std::string before = builder.gbnf("string");
  auto bad = builder.add_schema(
      ordered_json::parse(R"({"type": "object", "properties": {"a": {"type": "integer"},
                              "b": {"type": "number", "multipleOf": 2}}})"),
      "b");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(builder.gbnf("string"), before);
}

// ---- types, enum, const ----

TEST(JsonSchemaGrammar, PrimitiveTypes) {
  auto s = recognizer_for(R"({"type": "string"})");
  expect_accepts(s, {R"("")", R"("a b")", R"("\"\\\/\b\f\n\r\t\u00e9")", "\"é\""});
  expect_rejects(s, {"\"a\nb\"", "\"a\\x\"", "\"\\ud800\"", "1", "\"a"});
  auto i = recognizer_for(R"({"type": "integer"})");
  expect_accepts(i, {"0", "-7", "1234567890123456"});
  expect_rejects(i, {"1.5", "01", "1e3", "+1", "12345678901234567", "\"1\""});
  auto n = recognizer_for(R"({"type": "number"})");
  expect_accepts(n, {"0", "-0.5", "1e10", "2.5E-3", "3"});
  expect_rejects(n, {".5", "1.", "01", "1e", "NaN"});
  auto b = recognizer_for(R"({"type": "boolean"})");
  expect_accepts(b, {"true", "false"});
  expect_rejects(b, {"True", "1", "null"});
  auto null = recognizer_for(R"({"type": "null"})");
  expect_accepts(null, {"null"});
  expect_rejects(null, {"\"null\"", "None"});
  auto any = recognizer_for(R"({"description": "anything"})");
  expect_accepts(any, {"1", "[]", R"({"a": null})"});
  EXPECT_EQ(grammar_for("true"), grammar_for("{}"));
}

TEST(JsonSchemaGrammar, TypeArraysAreUnions) {
  auto r = recognizer_for(R"({"type": ["string", "null"], "maxLength": 2, "minimum": 5})");
  expect_accepts(r, {"null", R"("ab")"});
  expect_rejects(r, {R"("abc")", "1", "false"});
  auto numbers = recognizer_for(R"({"type": ["integer", "number"], "minimum": 0})");
  expect_accepts(numbers, {"1", "1.5"});
  expect_rejects(numbers, {"-1"});
}

TEST(JsonSchemaGrammar, EnumAndConst) {
  auto e = recognizer_for(R"({"enum": ["red", "green", 1, null, {"a": [1]}]})");
  expect_accepts(e, {R"("red")", R"("green")", "1", "null", R"({"a":[1]})"});
  expect_rejects(e, {R"("blue")", "2", R"("Red")", R"({"a": [1]})"});
  auto typed = recognizer_for(R"({"type": "string", "enum": ["a", 1, "b\"c"]})");
  expect_accepts(typed, {R"("a")", R"("b\"c")"});
  expect_rejects(typed, {"1"});
  auto c = recognizer_for(R"({"const": "fixed"})");
  expect_accepts(c, {R"("fixed")"});
  expect_rejects(c, {R"("other")"});
  EXPECT_EQ(grammar_for(R"({"enum": ["x", "y"]})"),
            "root ::= schema\nschema ::= \"\\\"x\\\"\" | \"\\\"y\\\"\"\n");
  EXPECT_TRUE(contains(error_for(R"({"type": "integer", "enum": ["a"]})"), "keyword 'enum'"));
  EXPECT_EQ(error_for(R"({"enum": ["a"], "minLength": 1})"),
            "schema: keyword 'minLength' cannot be enforced: it cannot be combined with 'enum' or "
            "'const'");
}

// ---- objects ----

constexpr char kPerson[] = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer"},
    "nick": {"type": "string"}
  },
  "required": ["name", "age"]
})";

TEST(JsonSchemaGrammar, PropertiesInSchemaOrderRequiredAndOptional) {
  auto r = recognizer_for(kPerson);
  expect_accepts(r, {R"({"name": "Ada", "age": 36})", R"({"name":"Ada","age":36,"nick":"A"})"});
  expect_rejects(r, {R"({"age": 36, "name": "Ada"})", R"({"name": "Ada"})",
                     R"({"name": "Ada", "age": 36,})", R"({"name": "Ada", "age": 36, "x": 1})",
                     R"({"name": "Ada", "nick": "A", "age": 36})", "{}"});
  // All required: one flat rule, in order.
  EXPECT_TRUE(contains(grammar_for(kPerson),
                       "schema ::= \"{\" ws \"\\\"name\\\"\" ws \":\" ws string ws \",\" ws "
                       "\"\\\"age\\\"\" ws \":\" ws integer ( ws \",\" ws \"\\\"nick\\\"\" ws "
                       "\":\" ws string )? ws \"}\"\n"))
      << grammar_for(kPerson);
}

TEST(JsonSchemaGrammar, OptionalPropertiesBeforeTheFirstRequiredOne) {
  auto r = recognizer_for(R"({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"},
                              "c": {"type": "integer"}}, "required": ["b"]})");
  expect_accepts(r, {R"({"b": 1})", R"({"a": 1, "b": 2})", R"({"b": 1, "c": 2})",
                     R"({"a": 1, "b": 2, "c": 3})"});
  expect_rejects(r, {"{}", R"({"a": 1})", R"({"a": 1, "c": 3})", R"({"b": 1, "a": 2})"});
}

TEST(JsonSchemaGrammar, EverySubsetOfOptionalPropertiesInOrder) {
  const std::vector<std::string> names = {"p", "q", "r", "s", "t"};
  auto r = recognizer_for(R"({"type": "object", "properties": {"p": {"type": "integer"},
      "q": {"type": "integer"}, "r": {"type": "integer"}, "s": {"type": "integer"},
      "t": {"type": "integer"}}})");
  for (int mask = 0; mask < 32; ++mask) {
    std::string text = "{";
    for (int i = 0; i < 5; ++i) {
      if (mask & (1 << i)) text += (text.size() > 1 ? ", \"" : "\"") + names[i] + "\": 1";
    }
    text += "}";
    EXPECT_TRUE(r.matches(text)) << text;
  }
  expect_rejects(r, {R"({"q": 1, "p": 1})", R"({, "p": 1})", R"({"p": 1 "q": 1})"});
}

TEST(JsonSchemaGrammar, AdditionalProperties) {
  constexpr char kBase[] = R"({"type": "object", "properties": {"name": {"type": "string"}},
                               "required": ["name"]%s})";
  auto with = [&](const std::string& extra) {
    std::string s = kBase;
    return s.replace(s.find("%s"), 2, extra);
  };
  // Absent and false: only the listed properties.
  for (const std::string extra : {"", R"(, "additionalProperties": false)"}) {
    auto r = recognizer_for(with(extra));
    expect_accepts(r, {R"({"name": "x"})"});
    expect_rejects(r, {R"({"name": "x", "other": 1})"});
  }
  // true: other keys after the listed ones, never a listed name again.
  auto open = recognizer_for(with(R"(, "additionalProperties": true)"));
  expect_accepts(open, {R"({"name": "x", "other": [1]})", R"({"name": "x", "nam": 1, "names": 2})",
                        R"({"name": "x", "": 1})", R"({"name": "x", "na\"me": 1})"});
  expect_rejects(open, {R"({"name": "x", "name": "y"})", R"({"name": "x", "n\u0061me": 1})",
                        R"({"other": 1, "name": "x"})"});
  // A schema for the other values.
  auto typed = recognizer_for(with(R"(, "additionalProperties": {"type": "integer"})"));
  expect_accepts(typed, {R"({"name": "x", "k": 1, "j": 2})"});
  expect_rejects(typed, {R"({"name": "x", "k": "v"})"});
  // A map: no properties, values typed.
  auto map = recognizer_for(R"({"type": "object", "additionalProperties": {"type": "number"}})");
  expect_accepts(map, {"{}", R"({"a": 1, "b": 2.5})"});
  expect_rejects(map, {R"({"a": "1"})"});
  // No "properties": any object. Empty "properties": only {} (tools without parameters).
  EXPECT_EQ(grammar_for(R"({"type": "object"})").find("root ::= object\n"), 0u);
  auto empty = recognizer_for(R"({"type": "object", "properties": {}})");
  expect_accepts(empty, {"{}", "{ }"});
  expect_rejects(empty, {R"({"a": 1})"});
}

TEST(JsonSchemaGrammar, RequiredNamesOutsideProperties) {
  auto r = recognizer_for(R"({"type": "object", "properties": {"a": {"type": "integer"}},
                              "required": ["a", "b"]})");
  expect_accepts(r, {R"({"a": 1, "b": [true]})"});
  expect_rejects(r, {R"({"a": 1})"});
  EXPECT_EQ(error_for(R"({"type": "object", "properties": {}, "required": ["b"],
                          "additionalProperties": false})"),
            "schema: keyword 'required' cannot be enforced: 'b' is not in 'properties' and "
            "additionalProperties is false");
}

// ---- arrays ----

TEST(JsonSchemaGrammar, ItemsWithMinAndMaxItems) {
  auto r = recognizer_for(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1,
                              "maxItems": 3})");
  expect_accepts(r, {"[1]", "[1, 2, 3]", "[ 1 ]"});
  expect_rejects(r, {"[]", "[1, 2, 3, 4]", "[1,]", "[\"a\"]"});
  auto any = recognizer_for(R"({"type": "array"})");
  expect_accepts(any, {"[]", R"([1, "a", {}])"});
  auto none = recognizer_for(R"({"type": "array", "maxItems": 0})");
  expect_accepts(none, {"[]"});
  expect_rejects(none, {"[1]"});
}

TEST(JsonSchemaGrammar, PrefixItemsAreTuples) {
  auto closed = recognizer_for(R"({"type": "array", "prefixItems": [{"type": "string"},
                                   {"type": "integer"}], "items": false})");
  expect_accepts(closed, {"[]", R"(["a"])", R"(["a", 1])"});
  expect_rejects(closed, {R"(["a", 1, 2])", "[1]", R"(["a", "b"])"});
  auto open = recognizer_for(R"({"prefixItems": [{"type": "string"}], "items": {"type": "null"},
                                 "minItems": 2, "maxItems": 3})");
  expect_accepts(open, {R"(["a", null])", R"(["a", null, null])"});
  expect_rejects(open, {R"(["a"])", R"(["a", null, null, null])", R"(["a", 1])"});
  auto draft7 = recognizer_for(R"({"items": [{"type": "boolean"}], "additionalItems": false})");
  expect_accepts(draft7, {"[]", "[true]"});
  expect_rejects(draft7, {"[true, false]"});
  EXPECT_EQ(error_for(R"({"prefixItems": [{}], "items": false, "minItems": 2})"),
            "schema: keyword 'minItems' cannot be enforced: at most 1 items are allowed by the "
            "schema");
}

// ---- anyOf, oneOf, allOf, $ref ----

TEST(JsonSchemaGrammar, AnyOfAndOneOf) {
  auto r =
      recognizer_for(R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]})");
  expect_accepts(r, {"1", R"("a")"});
  expect_rejects(r, {R"("ab")", "null"});
  // oneOf is compiled as anyOf (exclusivity is not checked), with its annotations ignored.
  auto one =
      recognizer_for(R"({"oneOf": [{"type": "object", "properties": {"kind": {"const": "cat"}},
      "required": ["kind"]}, {"type": "object", "properties": {"kind": {"const": "dog"}},
      "required": ["kind"]}], "discriminator": {"propertyName": "kind"}})");
  expect_accepts(one, {R"({"kind": "cat"})", R"({"kind": "dog"})"});
  expect_rejects(one, {R"({"kind": "cow"})"});
  // Sibling constraints apply to every alternative.
  auto merged = recognizer_for(R"({"type": "object", "properties": {"a": {"type": "integer"},
      "b": {"type": "integer"}}, "anyOf": [{"required": ["a"]}, {"required": ["b"]}]})");
  expect_accepts(merged, {R"({"a": 1})", R"({"b": 1})", R"({"a": 1, "b": 2})"});
  expect_rejects(merged, {"{}"});
}

constexpr char kTree[] = R"({
  "$defs": {
    "Node": {
      "type": "object",
      "properties": {
        "value": {"type": "integer"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
      },
      "required": ["value", "children"]
    }
  },
  "$ref": "#/$defs/Node"
})";

TEST(JsonSchemaGrammar, RecursiveRefsBecomeRecursiveRules) {
  const std::string gbnf = grammar_for(kTree);
  EXPECT_EQ(gbnf.find("root ::= Node\n"), 0u) << gbnf;
  EXPECT_NE(gbnf.find("\nNode ::= "), std::string::npos);
  EXPECT_EQ(gbnf.find("\nNode ::= "), gbnf.rfind("\nNode ::= "));  // one rule, reused
  EXPECT_LT(std::count(gbnf.begin(), gbnf.end(), '\n'), 10) << gbnf;
  auto r = recognizer_for(kTree);
  expect_accepts(
      r,
      {R"({"value": 1, "children": []})",
       R"({"value": 1, "children": [{"value": 2, "children": [{"value": 3, "children": []}]}]})"});
  expect_rejects(r, {R"({"value": 1, "children": [{"value": 2}]})"});
  // "#" is the whole schema.
  auto list = recognizer_for(R"({"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"},
      {"type": "null"}]}}, "required": ["next"]})");
  expect_accepts(list, {R"({"next": null})", R"({"next": {"next": {"next": null}}})"});
  expect_rejects(list, {R"({"next": {}})"});
  // definitions (draft 7) and JSON pointer escapes.
  auto defs = recognizer_for(R"({"definitions": {"a/b": {"type": "integer"}},
                                 "$ref": "#/definitions/a~1b"})");
  expect_accepts(defs, {"5"});
}

TEST(JsonSchemaGrammar, LeftRecursiveRefsAreErrors) {
  EXPECT_EQ(
      error_for(R"({"$defs": {"A": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]}},
                    "$ref": "#/$defs/A"})"),
      "schema.$defs.A: keyword '$ref' cannot be enforced: the references 'A' -> 'A' come back "
      "before any JSON text (left recursion)");
  const std::string cycle = error_for(
      R"({"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"anyOf": [{"$ref": "#/$defs/A"},
          {"type": "string"}]}}, "$ref": "#/$defs/A"})");
  EXPECT_TRUE(contains(cycle, "'A' -> 'B' -> 'A'")) << cycle;
  EXPECT_TRUE(contains(error_for(R"({"anyOf": [{"$ref": "#"}, {"type": "null"}]})"), "'$ref'"));
  EXPECT_EQ(error_for(R"({"$ref": "https://example.com/s.json"})"),
            "schema: keyword '$ref' cannot be enforced: only local references (\"#/$defs/Name\") "
            "are supported");
  EXPECT_EQ(error_for(R"({"$ref": "#/$defs/Missing"})"),
            "schema: keyword '$ref' cannot be enforced: '#/$defs/Missing' does not point into "
            "the schema");
}

TEST(JsonSchemaGrammar, RecursionWithoutAnEndIsAnError) {
  EXPECT_EQ(
      error_for(R"({"$defs": {"A": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}},
                                          "required": ["a"]}}, "$ref": "#/$defs/A"})"),
      "schema.$defs.A: keyword '$ref' cannot be enforced: 'A' has no finite value: every "
      "match of it must contain another one");
  // Through another definition, and through minItems.
  EXPECT_TRUE(contains(
      error_for(R"({"$defs": {"A": {"properties": {"b": {"$ref": "#/$defs/B"}}, "required": ["b"]},
                              "B": {"prefixItems": [{"$ref": "#/$defs/A"}], "minItems": 1}},
                    "$ref": "#/$defs/A"})"),
      "has no finite value"));
  EXPECT_TRUE(contains(error_for(R"({"type": "array", "items": {"$ref": "#"}, "minItems": 1})"),
                       "'schema' has no finite value"));
  // Optional recursion ends: no property, an empty array, or another alternative.
  auto optional = recognizer_for(R"({"type": "object", "properties": {"a": {"$ref": "#"}}})");
  expect_accepts(optional, {"{}", R"({"a": {"a": {}}})"});
  auto arrays = recognizer_for(R"({"type": "array", "items": {"$ref": "#"}})");
  expect_accepts(arrays, {"[]", "[[], [[]]]"});
  expect_rejects(arrays, {"[1]"});
  auto either = recognizer_for(R"({"anyOf": [{"type": "null"}, {"type": "object",
      "properties": {"a": {"$ref": "#"}}, "required": ["a"]}]})");
  expect_accepts(either, {"null", R"({"a": {"a": null}})"});
}

TEST(JsonSchemaGrammar, AllOfIsMergedWhenPossible) {
  auto r = recognizer_for(R"({
    "$defs": {"Base": {"type": "object", "properties": {"id": {"type": "integer"}},
                       "required": ["id"]}},
    "allOf": [{"$ref": "#/$defs/Base"},
              {"properties": {"name": {"type": "string"}}, "required": ["name"]}]})");
  expect_accepts(r, {R"({"id": 1, "name": "a"})"});
  expect_rejects(r, {R"({"id": 1})", R"({"name": "a"})", R"({"name": "a", "id": 1})"});
  // Pydantic v1: a single $ref wrapped in allOf next to a description; $ref with siblings.
  auto single = recognizer_for(R"({"$defs": {"E": {"enum": ["a", "b"]}},
                                   "allOf": [{"$ref": "#/$defs/E"}], "description": "d"})");
  expect_accepts(single, {R"("a")"});
  auto bounded = recognizer_for(R"({"$defs": {"N": {"type": "integer", "minimum": 0}},
                                    "$ref": "#/$defs/N", "maximum": 9})");
  expect_accepts(bounded, {"0", "9"});
  expect_rejects(bounded, {"-1", "10"});
  // A property forbidden by one part is left out.
  auto closed =
      recognizer_for(R"({"allOf": [{"properties": {"a": {}}, "additionalProperties": false},
                                             {"properties": {"b": {}}}]})");
  expect_accepts(closed, {R"({"a": 1})"});
  expect_rejects(closed, {R"({"b": 1})"});
  EXPECT_EQ(error_for(R"({"allOf": [{"pattern": "^a"}, {"pattern": "b$"}]})"),
            "schema: keyword 'allOf' cannot be enforced: the parts have different 'pattern' "
            "values");
  EXPECT_TRUE(contains(error_for(R"({"allOf": [{"type": "string"}, {"type": "integer"}]})"),
                       "no common 'type'"));
  EXPECT_EQ(
      error_for(R"({"$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}]}}, "$ref": "#/$defs/A"})"),
      "schema.$defs.A: keyword 'allOf' cannot be enforced: allOf and $ref nest more than 32 "
      "deep (a $ref cycle?)");
}

// ---- errors: every keyword that cannot be enforced, with its path ----

TEST(JsonSchemaGrammar, UnsupportedKeywordsAreErrorsNamingKeywordAndPath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("multipleOf": 2)", "multipleOf"},
      {R"("patternProperties": {"^a": {}})", "patternProperties"},
      {R"("propertyNames": {"maxLength": 3})", "propertyNames"},
      {R"("if": {}, "then": {})", "if"},
      {R"("not": {"type": "null"})", "not"},
      {R"("dependentRequired": {"a": ["b"]})", "dependentRequired"},
      {R"("uniqueItems": true)", "uniqueItems"},
      {R"("contains": {"type": "integer"})", "contains"},
      {R"("minProperties": 1)", "minProperties"},
      {R"("maxProperties": 1)", "maxProperties"},
      {R"("unevaluatedProperties": false)", "unevaluatedProperties"},
      {R"("contentEncoding": "base64")", "contentEncoding"},
      {R"("$dynamicRef": "#x")", "$dynamicRef"},
  };
  for (const auto& [fragment, keyword] : cases) {
    const std::string schema = R"({"type": "object", "properties": {"age": {)" + fragment + "}}}";
    EXPECT_EQ(error_for(schema, "response_format.json_schema.schema"),
              "response_format.json_schema.schema.properties.age: keyword '" + keyword +
                  "' cannot be enforced" +
                  (keyword == "uniqueItems" ? ": items cannot be kept unique" : ""));
  }
  EXPECT_EQ(error_for(R"({"type": "string", "requierd": true})"),
            "schema: unknown keyword 'requierd' cannot be enforced");
  // Paths through items, anyOf, prefixItems and $defs.
  EXPECT_EQ(error_for(R"({"type": "array", "items": {"type": "integer", "multipleOf": 3}})"),
            "schema.items: keyword 'multipleOf' cannot be enforced");
  EXPECT_EQ(error_for(R"({"anyOf": [{"type": "null"}, {"not": {}}]})"),
            "schema.anyOf[1]: keyword 'not' cannot be enforced");
  EXPECT_EQ(error_for(R"({"prefixItems": [{}, {"format": "duration"}]})"),
            "schema.prefixItems[1]: keyword 'format' cannot be enforced: format 'duration' is not "
            "supported (supported: date, time, date-time, uuid, ipv4, hostname, email, uri)");
  EXPECT_EQ(error_for(R"({"$defs": {"P": {"minProperties": 2}}, "$ref": "#/$defs/P"})"),
            "schema.$defs.P: keyword 'minProperties' cannot be enforced");
  EXPECT_EQ(error_for("false"), "schema: the schema 'false' matches no value");
  EXPECT_EQ(error_for(R"({"type": "strng"})"),
            "schema: keyword 'type' must be one of string, number, integer, boolean, null, "
            "object, array (got 'strng')");
  EXPECT_EQ(error_for(R"({"type": "string", "minLength": -1})"),
            "schema: keyword 'minLength' must be a non-negative integer");
}

TEST(JsonSchemaGrammar, AnnotationsAreIgnored) {
  const std::string plain = grammar_for(kPerson);
  auto annotated = ordered_json::parse(kPerson);
  annotated["title"] = "schema";
  annotated["description"] = "A person";
  annotated["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  annotated["$id"] = "urn:person";
  annotated["$comment"] = "c";
  annotated["examples"] = {{{"name", "Ada"}, {"age", 36}}};
  annotated["properties"]["name"]["default"] = "x";
  annotated["properties"]["name"]["deprecated"] = true;
  annotated["properties"]["age"]["readOnly"] = true;
  annotated["properties"]["nick"]["writeOnly"] = false;
  annotated["properties"]["nick"]["x-order"] = 3;
  auto gbnf = json_schema_to_gbnf(annotated, "schema");
  ASSERT_TRUE(gbnf.ok()) << gbnf.error().message;
  EXPECT_EQ(*gbnf, plain);
}

// ---- strings ----

TEST(JsonSchemaGrammar, StringLengthCountsCharacters) {
  auto r = recognizer_for(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  expect_accepts(r, {R"("ab")", R"("abc")", R"("a\"c")", "\"éé\"", R"("\u00e9x")"});
  expect_rejects(r, {R"("a")", R"("abcd")", "\"\""});
  EXPECT_EQ(error_for(R"({"type": "string", "minLength": 3, "maxLength": 2})"),
            "schema: keyword 'minLength' cannot be enforced: it is larger than maxLength");
  EXPECT_EQ(error_for(R"({"type": "string", "pattern": "^a+$", "maxLength": 2})"),
            "schema: keyword 'maxLength' cannot be enforced: it cannot be combined with 'pattern'");
}

struct PatternCase {
  std::string pattern;
  std::vector<std::string> accepted;  // JSON string texts
  std::vector<std::string> rejected;
};

TEST(JsonSchemaGrammar, PatternsTranslateExactly) {
  const std::vector<PatternCase> cases = {
      {R"(^\\d{3}-\\d{4}$)",
       {R"("555-1234")"},
       {R"("5555-1234")", R"("55-1234")", R"("555-12345")"}},
      {"^[A-Z][a-z]+$", {R"("Ada")"}, {R"("ada")", R"("A")", R"("AdA")"}},
      {"^(foo|bar)+$", {R"("foo")", R"("barfoo")"}, {R"("")", R"("fo")", R"("foox")"}},
      {"abc", {R"("abc")", R"("xxabcyy")", R"("a\"abc")"}, {R"("ab")", R"("acb")"}},
      {"^a.c$", {R"("abc")", R"("a\"c")", R"("a\\c")", R"("aéc")"}, {R"("a\nc")", R"("ac")"}},
      {R"(^[^\"]*$)", {R"("")", R"("a\\b")", R"("x\ty")"}, {R"("a\"b")"}},
      {R"(^\\w+@\\w+\\.com$)", {R"("a_1@b.com")"}, {R"("a@b.org")", R"("a@b-c.com")"}},
      {R"(^(?:\\+1)?\\s?\\d{3}$)", {R"("+1 555")", R"("555")", R"("+1\t555")"}, {R"("+2 555")"}},
      {"^[a-c]{2,3}$", {R"("ab")", R"("cab")"}, {R"("a")", R"("abca")", R"("ad")"}},
      {"^colou?r$", {R"("color")", R"("colour")"}, {R"("colouur")"}},
      {"^(a|)$", {R"("a")", R"("")"}, {R"("b")"}},
      {R"(^\\x41\\u0042\\.$)", {R"("AB.")"}, {R"("ABx")"}},
      {R"(^[\\d\\-]+$)", {R"("12-3")"}, {R"("12+3")"}},
      {"^.{2,}$", {R"("ab")", R"("abc")"}, {R"("a")"}},
      {"^a$|^b$", {R"("a")", R"("b")"}, {R"("ab")", R"("xa")"}},
      {"^a*?b+?$", {R"("b")", R"("aabb")"}, {R"("a")"}},
      {"^[\\n]$", {R"("\n")"}, {"\"\n\""}},
  };
  for (const auto& c : cases) {
    const std::string schema = R"({"type": "string", "pattern": ")" + c.pattern + "\"}";
    SCOPED_TRACE(schema);
    auto r = recognizer_for(schema);
    expect_accepts(r, c.accepted);
    expect_rejects(r, c.rejected);
  }
}

TEST(JsonSchemaGrammar, UnsupportedPatternsAreErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"(?=a)b", "lookahead '(?=' is not supported (at offset 0)"},
      {"(?<!a)b", "lookbehind '(?<!' is not supported (at offset 0)"},
      {R"((a)\\1)", "backreferences are not supported (at offset 3)"},
      {R"(\\bfoo)", "word boundary '\\b' is not supported (at offset 0)"},
      {"a^b", "'^' is supported only at the start of the pattern (at offset 1)"},
      {"a$b", "'$' is supported only at the end of the pattern (at offset 1)"},
      {"[z-a]", "range out of order in character class (at offset 1)"},
      {"(a", "missing ')' (at offset 2)"},
      {"a)", "unbalanced ')' (at offset 1)"},
      {R"(\\p{L})", "unicode property escapes are not supported (at offset 0)"},
      {"*a", "nothing to repeat before '*' (at offset 0)"},
      {"[]", "an empty character class matches nothing (at offset 0)"},
  };
  for (const auto& [pattern, why] : cases) {
    EXPECT_EQ(error_for(R"({"type": "string", "pattern": ")" + pattern + "\"}"),
              "schema: keyword 'pattern' cannot be enforced: " + why)
        << pattern;
  }
}

TEST(JsonSchemaGrammar, Formats) {
  auto date = recognizer_for(R"({"type": "string", "format": "date"})");
  expect_accepts(date,
                 {R"("2024-02-29")", R"("2000-02-29")", R"("2023-12-31")", R"("1999-04-30")"});
  expect_rejects(date, {R"("2023-02-29")", R"("1900-02-29")", R"("2023-04-31")", R"("2023-13-01")",
                        R"("2023-00-10")", R"("2023-1-01")", R"("2023-01-00")"});
  auto time = recognizer_for(R"({"type": "string", "format": "time"})");
  expect_accepts(time, {R"("12:34:56Z")", R"("23:59:59.123+05:30")"});
  expect_rejects(time, {R"("24:00:00Z")", R"("12:34:56")", R"("12:60:00Z")"});
  auto date_time = recognizer_for(R"({"type": "string", "format": "date-time"})");
  expect_accepts(date_time, {R"("2024-05-01T08:00:00Z")"});
  expect_rejects(date_time, {R"("2024-05-01 08:00:00Z")"});
  auto uuid = recognizer_for(R"({"type": "string", "format": "uuid"})");
  expect_accepts(uuid, {R"("123e4567-e89b-12d3-a456-426614174000")"});
  expect_rejects(
      uuid, {R"("123e4567e89b12d3a456426614174000")", R"("123e4567-e89b-12d3-a456-42661417400g")"});
  auto ipv4 = recognizer_for(R"({"type": "string", "format": "ipv4"})");
  expect_accepts(ipv4, {R"("192.168.0.255")", R"("0.0.0.0")"});
  expect_rejects(ipv4, {R"("256.1.1.1")", R"("01.1.1.1")", R"("1.1.1")"});
  auto email = recognizer_for(R"({"type": "string", "format": "email"})");
  expect_accepts(email, {R"("john.doe@example.com")", R"("a+b@mail.example.org")"});
  expect_rejects(email, {R"("a@b")", R"("a..b@example.com")", R"("@example.com")"});
  auto host = recognizer_for(R"({"type": "string", "format": "hostname"})");
  expect_accepts(host, {R"("localhost")", R"("api.example.com")"});
  expect_rejects(host, {R"("-bad.com")", R"("a..b")", R"("example.123")"});
  auto uri = recognizer_for(R"({"type": "string", "format": "uri"})");
  expect_accepts(uri, {R"("https://example.com/a/b?x=1#f")", R"("http://localhost:8080")"});
  expect_rejects(uri, {R"("example.com")", R"("https://exa mple.com")"});
}

// ---- numbers ----

TEST(JsonSchemaGrammar, IntegerRangesAreExact) {
  struct Range {
    std::string keywords;
    int64_t lo, hi;  // the integers allowed within [-1200, 1200]
  };
  const std::vector<Range> ranges = {
      {R"("minimum": 0)", 0, 1200},
      {R"("minimum": 1)", 1, 1200},
      {R"("exclusiveMinimum": 0)", 1, 1200},
      {R"("minimum": 0, "maximum": 100)", 0, 100},
      {R"("minimum": -5, "maximum": 5)", -5, 5},
      {R"("minimum": -100, "maximum": -7)", -100, -7},
      {R"("minimum": 13, "maximum": 987)", 13, 987},
      {R"("maximum": 10)", -1200, 10},
      {R"("maximum": -10)", -1200, -10},
      {R"("exclusiveMaximum": 1000, "minimum": -1000)", -1000, 999},
      {R"("minimum": 7.5, "maximum": 20.5)", 8, 20},
      {R"("minimum": 5, "exclusiveMinimum": true, "maximum": 9)", 6, 9},
      {R"("minimum": 42, "maximum": 42)", 42, 42},
  };
  for (const auto& range : ranges) {
    const std::string schema = R"({"type": "integer", )" + range.keywords + "}";
    SCOPED_TRACE(schema);
    auto r = recognizer_for(schema);
    for (int64_t v = -1200; v <= 1200; ++v) {
      ASSERT_EQ(r.matches(std::to_string(v)), v >= range.lo && v <= range.hi) << v;
    }
    expect_rejects(r, {"-0", "007", "1.0", "+5"});
  }
  auto wide = recognizer_for(
      R"({"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807})");
  expect_accepts(wide, {"-9223372036854775808", "9223372036854775807", "0"});
  expect_rejects(wide, {"9223372036854775808", "-9223372036854775809"});
  EXPECT_EQ(error_for(R"({"type": "integer", "minimum": 5, "maximum": 3})"),
            "schema: keyword 'minimum' cannot be enforced: no integer lies within the bounds");
}

TEST(JsonSchemaGrammar, NumberRangesWithWholeBounds) {
  auto non_negative = recognizer_for(R"({"type": "number", "minimum": 0})");
  expect_accepts(non_negative, {"0", "0.5", "12.25", "3"});
  expect_rejects(non_negative, {"-1", "-0.5", "1e3"});
  auto positive = recognizer_for(R"({"type": "number", "exclusiveMinimum": 0})");
  expect_accepts(positive, {"0.01", "1", "7.0"});
  expect_rejects(positive, {"0", "0.0", "-1"});
  auto unit = recognizer_for(R"({"type": "number", "minimum": 0, "maximum": 1})");
  expect_accepts(unit, {"0", "1", "1.0", "0.999", "0.5"});
  expect_rejects(unit, {"1.01", "1.5", "2", "-0.1"});
  auto latitude = recognizer_for(R"({"type": "number", "minimum": -90, "maximum": 90})");
  expect_accepts(latitude, {"-90", "-89.5", "90", "0", "-0.5", "45.25"});
  expect_rejects(latitude, {"-90.5", "90.01", "91", "-100"});
  auto below = recognizer_for(R"({"type": "number", "exclusiveMaximum": 10})");
  expect_accepts(below, {"9.99", "-5", "-1000.5"});
  expect_rejects(below, {"10", "10.0", "10.5"});
  auto negative = recognizer_for(R"({"type": "number", "exclusiveMaximum": -2, "minimum": -3})");
  expect_accepts(negative, {"-2.5", "-3", "-2.01"});
  expect_rejects(negative, {"-2", "-3.5", "0"});
  EXPECT_EQ(error_for(R"({"type": "number", "minimum": 0.5})"),
            "schema: keyword 'minimum' cannot be enforced: only whole-number bounds (like 0 or "
            "100) are supported for type 'number', got 0.5");
  EXPECT_EQ(error_for(R"({"type": "number", "minimum": 1, "exclusiveMaximum": 1})"),
            "schema: keyword 'minimum' cannot be enforced: no number lies within the bounds");
}

// ---- a Pydantic model ----

constexpr char kPydantic[] = R"({
  "$defs": {
    "Address": {
      "properties": {
        "street": {"title": "Street", "type": "string"},
        "zip": {"title": "Zip", "type": "string", "pattern": "^\\d{5}$"}
      },
      "required": ["street", "zip"],
      "title": "Address",
      "type": "object",
      "additionalProperties": false
    },
    "Role": {"enum": ["admin", "user"], "title": "Role", "type": "string"}
  },
  "properties": {
    "name": {"title": "Name", "type": "string", "minLength": 1},
    "age": {"title": "Age", "type": "integer", "minimum": 0, "maximum": 150},
    "role": {"$ref": "#/$defs/Role"},
    "address": {"$ref": "#/$defs/Address"},
    "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null,
                 "title": "Nickname"}
  },
  "required": ["name", "age", "role", "address"],
  "title": "User",
  "type": "object",
  "additionalProperties": false
})";

TEST(JsonSchemaGrammar, PydanticModelWithDefsAndNestedObject) {
  const std::string gbnf = grammar_for(kPydantic);
  EXPECT_EQ(gbnf.find("root ::= User\n"), 0u) << gbnf;
  EXPECT_TRUE(contains(gbnf, "\nRole ::= \"\\\"admin\\\"\" | \"\\\"user\\\"\"\n")) << gbnf;
  EXPECT_TRUE(contains(gbnf, "\nUser-nickname ::= string | null\n")) << gbnf;
  auto r = recognizer_for(kPydantic);
  expect_accepts(
      r,
      {R"({"name": "Ada", "age": 36, "role": "admin", "address": {"street": "Main St 1", "zip": "12345"}})",
       R"({"name": "Ada", "age": 36, "role": "user", "address": {"street": "", "zip": "00000"}, "nickname": null})",
       "{\n  \"name\": \"A\",\n  \"age\": 0,\n  \"role\": \"user\",\n  \"address\": {\n    "
       "\"street\": \"s\",\n    \"zip\": \"99999\"\n  },\n  \"nickname\": \"Al\"\n}"});
  expect_rejects(
      r,
      {R"({"name": "", "age": 36, "role": "admin", "address": {"street": "s", "zip": "12345"}})",
       R"({"name": "Ada", "age": 151, "role": "admin", "address": {"street": "s", "zip": "12345"}})",
       R"({"name": "Ada", "age": 36, "role": "root", "address": {"street": "s", "zip": "12345"}})",
       R"({"name": "Ada", "age": 36, "role": "admin", "address": {"street": "s", "zip": "1234"}})",
       R"({"name": "Ada", "age": 36, "role": "admin", "address": {"street": "s"}})"});
}

}  // namespace
}  // namespace shardserve::api
