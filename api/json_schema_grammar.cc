// JsonGrammarBuilder: the rule table, shared rules, and the schema compiler.
#include "api/json_schema_grammar.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "api/json_grammar_text.h"
#include "api/json_schema_merge.h"
#include "api/json_schema_pattern.h"
#include "base/check.h"

namespace shardserve::api {

namespace json_grammar {
namespace {

constexpr int kMaxDepth = 128;   // nested schemas (through $ref too) compiled at once
constexpr size_t kMaxHint = 48;  // characters of a rule name taken from a hint

constexpr std::string_view kFormats[] = {"date", "time",     "date-time", "uuid",
                                         "ipv4", "hostname", "email",     "uri"};

// Shared rules: body and the shared rules it refers to.
struct Builtin {
  std::string body;
  std::vector<std::string> deps;
};

std::optional<Builtin> builtin_rule(std::string_view name) {
  const std::string int_part =
      cat({"( \"0\" | [1-9] ", repeat("[0-9]", 0, kMaxIntegerDigits - 1), " )"});
  if (name == "ws") return Builtin{R"g(( " " | "\n" [ \t]{0,20} )?)g", {}};
  if (name == "value") {
    return Builtin{"object | array | string | number | boolean | null",
                   {"object", "array", "string", "number", "boolean", "null"}};
  }
  if (name == "object") {
    return Builtin{
        R"g("{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}")g",
        {"ws", "string", "value"}};
  }
  if (name == "array") {
    return Builtin{R"g("[" ws ( value ( ws "," ws value )* )? ws "]")g", {"ws", "value"}};
  }
  if (name == "string") return Builtin{R"g("\"" char* "\"")g", {"char"}};
  if (name == "char") {  // any JSON string character; \u escapes of surrogates excluded
    return Builtin{
        R"g([^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" ( [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) ))g",
        {}};
  }
  if (name == "char-escape") {  // the canonical escapes: \" \\ \b \f \n \r \t \u00xx
    CharSet escaped = CharSet::range(0, 0x1F);
    escaped.add('"', '"');
    escaped.add('\\', '\\');
    return Builtin{json_string_chars(escaped), {}};
  }
  if (name == "integer") return Builtin{"\"-\"? " + int_part, {}};
  if (name == "number") {
    return Builtin{
        cat({"\"-\"? ", int_part, " ( \".\" ", repeat("[0-9]", 1, kMaxFractionDigits),
             " )? ( [eE] ( \"+\" | \"-\" )? ", repeat("[0-9]", 1, kMaxExponentDigits), " )?"}),
        {}};
  }
  if (name == "boolean") return Builtin{R"g("true" | "false")g", {}};
  if (name == "null") return Builtin{R"g("null")g", {}};
  if (auto format = format_body(name)) return Builtin{*format, {}};
  return std::nullopt;
}

constexpr std::string_view kReservedNames[] = {
    "root",        "ws",      "value",  "object",   "array", "string", "char",
    "char-escape", "integer", "number", "boolean",  "null",  "date",   "time",
    "date-time",   "uuid",    "ipv4",   "hostname", "email", "uri"};

// Rule names: letters, digits and '-' (others become '-'), no leading/trailing '-'.
std::string sanitize(std::string_view hint) {
  std::string out;
  for (const char c : hint) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (keep) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
    if (out.size() >= kMaxHint) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "schema" : out;
}

bool is_rule_name(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

template <typename List>
bool has(const List& list, std::string_view key) {
  return std::find(std::begin(list), std::end(list), key) != std::end(list);
}

// clang-format off
constexpr std::string_view kSupported[] = {
    "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref",
    "properties", "required", "additionalProperties",
    "items", "prefixItems", "additionalItems", "minItems", "maxItems",
    "minLength", "maxLength", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
// JSON Schema keywords that cannot be enforced (named as such in errors; unknown keys are
// errors too). uniqueItems is checked on its own: false is accepted.
constexpr std::string_view kUnsupported[] = {
    "multipleOf", "patternProperties", "propertyNames", "if", "then", "else", "not",
    "dependentRequired", "dependentSchemas", "dependencies", "contains", "minContains",
    "maxContains", "minProperties", "maxProperties", "unevaluatedProperties", "unevaluatedItems",
    "contentEncoding", "contentMediaType", "contentSchema", "$dynamicRef", "$recursiveRef"};
// clang-format on

constexpr std::string_view kObjectKeywords[] = {"properties", "required", "additionalProperties"};
constexpr std::string_view kArrayKeywords[] = {"items", "prefixItems", "additionalItems",
                                               "minItems", "maxItems"};
constexpr std::string_view kStringKeywords[] = {"minLength", "maxLength", "pattern", "format"};
constexpr std::string_view kNumberKeywords[] = {"minimum", "maximum", "exclusiveMinimum",
                                                "exclusiveMaximum"};
constexpr std::string_view kTypes[] = {"string", "number", "integer", "boolean",
                                       "null",   "object", "array"};

Error keyword_error(const std::string& path, std::string_view keyword,
                    const std::string& why = {}) {
  return Error::invalid_input(path + ": keyword '" + std::string(keyword) + "' cannot be enforced" +
                              (why.empty() ? "" : ": " + why));
}

Error invalid_keyword(const std::string& path, std::string_view keyword, const std::string& what) {
  return Error::invalid_input(path + ": keyword '" + std::string(keyword) + "' must be " + what);
}

std::string value_text(const ordered_json& value) {
  return value.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

// A lower or upper bound read from minimum/exclusiveMinimum (or the maximums).
struct Bound {
  double value = 0;
  std::optional<int64_t> exact;  // the value when the keyword held an integer
  bool exclusive = false;
  std::string keyword;
};

}  // namespace

// Compiles one schema document (one add_schema call) into the builder's rules.
class SchemaCompiler {
 public:
  SchemaCompiler(JsonGrammarBuilder& builder, const ordered_json& root, std::string root_path)
      : b_(builder), root_(root), root_path_(std::move(root_path)) {}

  Result<std::string> compile_root(std::string_view name_hint) {
    std::string hint(name_hint);
    if (hint.empty()) {
      hint = root_.is_object() && root_.contains("title") && root_["title"].is_string()
                 ? root_["title"].get<std::string>()
                 : "schema";
    }
    const std::string name = b_.reserve(hint);
    refs_["#"] = name;
    auto body = compile(root_, root_path_, name, 0);
    if (!body.ok()) return body.error();
    std::string result = name;
    if (!root_referenced_ && is_rule_name(body->text)) {
      b_.release(name);  // the schema is just another rule: no alias
      result = body->text;
    } else {
      b_.define(name, body->text, body->heads, root_path_, body->needs);
    }
    Status status = check_left_recursion();
    if (status.ok()) status = check_finite();
    if (!status.ok()) return status.error();
    return result;
  }

  Status check_left_recursion() const {
    std::map<std::string, const JsonGrammarBuilder::Rule*> by_name;
    for (const auto& rule : b_.rules_) by_name[rule.name] = &rule;
    std::map<std::string, int> state;  // 0 new, 1 on the stack, 2 done
    std::vector<std::string> stack;
    std::optional<Error> error;
    std::function<void(const std::string&)> visit = [&](const std::string& name) {
      if (error || state[name] == 2) return;
      if (state[name] == 1) {
        const auto start = std::find(stack.begin(), stack.end(), name);
        std::string cycle;
        std::string path;
        for (auto it = start; it != stack.end(); ++it) {
          cycle += "'" + *it + "' -> ";
          if (path.empty() && by_name.count(*it)) path = by_name[*it]->path;
        }
        error = keyword_error(path.empty() ? root_path_ : path, "$ref",
                              "the references " + cycle + "'" + name +
                                  "' come back before any JSON text (left recursion)");
        return;
      }
      state[name] = 1;
      stack.push_back(name);
      if (by_name.count(name)) {
        for (const auto& head : by_name[name]->heads) visit(head);
      }
      stack.pop_back();
      state[name] = 2;
    };
    for (const auto& rule : b_.rules_) visit(rule.name);
    if (error) return *error;
    return Status::Ok();
  }

  // Every rule must match some finite text: a rule is finite when one of its ways of matching
  // needs only finite rules. What is left after the fixpoint recurses forever.
  Status check_finite() const {
    std::set<std::string> finite;
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& rule : b_.rules_) {
        if (finite.count(rule.name)) continue;
        const bool ends = std::any_of(rule.needs.begin(), rule.needs.end(), [&](const auto& way) {
          return std::all_of(way.begin(), way.end(),
                             [&](const std::string& n) { return finite.count(n) > 0; });
        });
        if (ends) changed = finite.insert(rule.name).second;
      }
    }
    for (const auto& rule : b_.rules_) {
      if (finite.count(rule.name) || rule.path.empty()) continue;
      return keyword_error(rule.path, "$ref",
                           "'" + rule.name + "' has no finite value: every match of it must " +
                               "contain another one");
    }
    return Status::Ok();
  }

 private:
  // A GBNF expression for a schema, and the rules that can match its first character.
  struct Body {
    std::string text;
    std::vector<std::string> heads;                      // see JsonGrammarBuilder::Rule
    std::vector<std::vector<std::string>> needs = {{}};  // see JsonGrammarBuilder::Rule
  };
  static Body named(std::string name) { return Body{name, {name}, {{name}}}; }

  Body shared(std::string_view name) { return named(b_.builtin(name)); }

  // The name of a rule for `schema`: an existing rule when the schema is just one (a shared
  // rule or a $ref), else a new rule named from `hint`.
  Result<std::string> rule(const ordered_json& schema, const std::string& path,
                           const std::string& hint, int depth) {
    auto body = compile(schema, path, hint, depth);
    if (!body.ok()) return body.error();
    if (is_rule_name(body->text)) return body->text;
    const std::string name = b_.reserve(hint);
    b_.define(name, body->text, body->heads, path, body->needs);
    return name;
  }

  Result<Body> compile(const ordered_json& s, const std::string& path, const std::string& hint,
                       int depth) {
    if (depth > kMaxDepth) return Error::invalid_input(path + ": the schema nests too deeply");
    if (s.is_boolean()) {
      if (s.get<bool>()) return shared("value");
      return Error::invalid_input(path + ": the schema 'false' matches no value");
    }
    if (!s.is_object()) return Error::invalid_input(path + ": a schema must be an object");
    Status status = check_keywords(s, path);
    if (!status.ok()) return status.error();
    if (s.contains("allOf") || (s.contains("$ref") && has_constraints(s, {"$ref"}))) {
      auto merged = merge_all_of(root_, s, path);
      if (!merged.ok()) return merged.error();
      return compile(*merged, path, hint, depth + 1);
    }
    if (s.contains("$ref")) {
      if (!s["$ref"].is_string()) return invalid_keyword(path, "$ref", "a string");
      auto name = ref_rule(s["$ref"].get<std::string>(), path, depth);
      if (!name.ok()) return name.error();
      return named(*name);
    }
    if (s.contains("anyOf") || s.contains("oneOf")) return union_of(s, path, hint, depth);
    if (s.contains("enum") || s.contains("const")) return enum_of(s, path);
    return typed(s, path, hint, depth);
  }

  Status check_keywords(const ordered_json& s, const std::string& path) const {
    for (const auto& [key, value] : s.items()) {
      if (is_annotation_keyword(key)) continue;
      if (key == "uniqueItems" && value == false) continue;
      if (key == "uniqueItems") return keyword_error(path, key, "items cannot be kept unique");
      if (has(kSupported, key)) continue;
      if (has(kUnsupported, key)) return keyword_error(path, key);
      return Error::invalid_input(path + ": unknown keyword '" + key + "' cannot be enforced");
    }
    return Status::Ok();
  }

  // Whether `s` holds keywords that constrain a value, other than `except`.
  static bool has_constraints(const ordered_json& s,
                              std::initializer_list<std::string_view> except) {
    for (const auto& [key, value] : s.items()) {
      if (!is_annotation_keyword(key) && !has(except, key)) return true;
    }
    return false;
  }

  Result<std::string> ref_rule(const std::string& ref, const std::string& path, int depth) {
    if (auto it = refs_.find(ref); it != refs_.end()) {
      if (ref == "#") root_referenced_ = true;
      return it->second;
    }
    const ordered_json* target = resolve_ref(root_, ref);
    if (target == nullptr) {
      return keyword_error(path, "$ref",
                           ref.substr(0, 1) == "#"
                               ? "'" + ref + "' does not point into the schema"
                               : "only local references (\"#/$defs/Name\") are supported");
    }
    const size_t slash = ref.rfind('/');
    const std::string name = b_.reserve(ref.substr(slash == std::string::npos ? 0 : slash + 1));
    refs_[ref] = name;
    const std::string target_path = ref_path(root_path_, ref);
    auto body = compile(*target, target_path, name, depth + 1);
    if (!body.ok()) return body.error();
    b_.define(name, body->text, body->heads, target_path, body->needs);
    return name;
  }

  Result<Body> union_of(const ordered_json& s, const std::string& path, const std::string& hint,
                        int depth) {
    if (s.contains("anyOf") && s.contains("oneOf")) {
      return keyword_error(path, "oneOf", "it cannot be combined with 'anyOf'");
    }
    const std::string key = s.contains("anyOf") ? "anyOf" : "oneOf";
    const ordered_json& alternatives = s[key];
    if (!alternatives.is_array() || alternatives.empty()) {
      return invalid_keyword(path, key, "a non-empty array of schemas");
    }
    ordered_json siblings = s;
    siblings.erase(key);
    const bool merge = has_constraints(siblings, {});
    Body out{"", {}, {}};
    for (size_t i = 0; i < alternatives.size(); ++i) {
      const std::string alt_path = path + "." + key + "[" + std::to_string(i) + "]";
      ordered_json alt = alternatives[i];
      if (merge) {
        auto merged = merge_all_of(root_, {{"allOf", {siblings, alt}}}, alt_path);
        if (!merged.ok()) return merged.error();
        alt = std::move(merged).value();
      }
      auto name = rule(alt, alt_path, hint + "-" + std::to_string(i), depth + 1);
      if (!name.ok()) return name.error();
      if (has(out.heads, *name)) continue;
      out.text += (out.text.empty() ? "" : " | ") + *name;
      out.heads.push_back(*name);
      out.needs.push_back({*name});
    }
    return out;
  }

  static bool has_type(const ordered_json& value, std::string_view type) {
    if (type == "string") return value.is_string();
    if (type == "boolean") return value.is_boolean();
    if (type == "null") return value.is_null();
    if (type == "object") return value.is_object();
    if (type == "array") return value.is_array();
    if (type == "number") return value.is_number();
    if (type == "integer") {
      return value.is_number_integer() ||
             (value.is_number_float() && std::floor(value.get<double>()) == value.get<double>());
    }
    return false;
  }

  Result<Body> enum_of(const ordered_json& s, const std::string& path) {
    for (const auto& [key, value] : s.items()) {
      if (key != "enum" && key != "const" && key != "type" && !is_annotation_keyword(key)) {
        return keyword_error(path, key, "it cannot be combined with 'enum' or 'const'");
      }
    }
    ordered_json values = ordered_json::array();
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty()) {
        return invalid_keyword(path, "enum", "a non-empty array");
      }
      values = s["enum"];
    }
    if (s.contains("const")) {
      const ordered_json& c = s["const"];
      const bool in_enum =
          !s.contains("enum") || std::find(values.begin(), values.end(), c) != values.end();
      values = in_enum ? ordered_json::array({c}) : ordered_json::array();
      if (values.empty()) return keyword_error(path, "const", "the value is not in 'enum'");
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      auto t = read_types(s, path);
      if (!t.ok()) return t.error();
      types = *t;
    }
    Body out;
    std::vector<std::string> seen;
    for (const auto& value : values) {
      if (!types.empty() &&
          std::none_of(types.begin(), types.end(), [&](auto& t) { return has_type(value, t); })) {
        continue;
      }
      const std::string text = JsonGrammarBuilder::literal(value_text(value));
      if (has(seen, text)) continue;
      seen.push_back(text);
      out.text += (out.text.empty() ? "" : " | ") + text;
    }
    if (out.text.empty()) {
      return keyword_error(path, s.contains("const") ? "const" : "enum",
                           "no value has the schema's 'type'");
    }
    return out;
  }

  Result<std::vector<std::string>> read_types(const ordered_json& s, const std::string& path) {
    const ordered_json& type = s["type"];
    std::vector<std::string> types;
    if (type.is_string()) types.push_back(type.get<std::string>());
    if (type.is_array()) {
      for (const auto& t : type) {
        if (!t.is_string()) return invalid_keyword(path, "type", "a type name or an array of them");
        types.push_back(t.get<std::string>());
      }
    }
    if (types.empty()) return invalid_keyword(path, "type", "a type name or an array of them");
    for (const auto& t : types) {
      if (!has(kTypes, t)) {
        return invalid_keyword(path, "type",
                               "one of string, number, integer, boolean, null, object, array "
                               "(got '" +
                                   t + "')");
      }
    }
    return types;
  }

  Result<Body> typed(const ordered_json& s, const std::string& path, const std::string& hint,
                     int depth) {
    std::vector<std::string> types;
    if (s.contains("type")) {
      auto t = read_types(s, path);
      if (!t.ok()) return t.error();
      types = *t;
    } else {  // the types the keywords speak of
      auto uses = [&](const auto& keywords) {
        return std::any_of(std::begin(keywords), std::end(keywords),
                           [&](std::string_view k) { return s.contains(k); });
      };
      if (uses(kObjectKeywords)) types.push_back("object");
      if (uses(kArrayKeywords)) types.push_back("array");
      if (uses(kStringKeywords)) types.push_back("string");
      if (uses(kNumberKeywords)) types.push_back("number");
      if (types.empty()) return shared("value");
    }
    if (has(types, "number")) {  // number admits every integer the same bounds admit
      types.erase(std::remove(types.begin(), types.end(), "integer"), types.end());
    }
    Body out{"", {}, {}};
    std::vector<std::string> done;
    for (const auto& type : types) {
      if (has(done, type)) continue;
      done.push_back(type);
      const std::string type_hint = types.size() > 1 ? hint + "-" + type : hint;
      Result<Body> body = Body{};
      if (type == "null" || type == "boolean") {
        body = shared(type);
      } else if (type == "string") {
        body = string_body(s, path);
      } else if (type == "integer" || type == "number") {
        body = number_body(s, path, type == "integer");
      } else if (type == "object") {
        body = object_body(s, path, type_hint, depth);
      } else {
        body = array_body(s, path, type_hint, depth);
      }
      if (!body.ok()) return body.error();
      out.text += (out.text.empty() ? "" : " | ") + body->text;
      for (auto& head : body->heads) out.heads.push_back(std::move(head));
      for (auto& need : body->needs) out.needs.push_back(std::move(need));
    }
    return out;
  }

  // A count keyword (minLength, maxItems, ...): a non-negative integer.
  Result<std::optional<uint64_t>> count(const ordered_json& s, std::string_view key,
                                        const std::string& path) {
    if (!s.contains(key)) return std::optional<uint64_t>();
    const ordered_json& v = s[std::string(key)];
    if (v.is_number_unsigned()) return std::optional<uint64_t>(v.get<uint64_t>());
    if (v.is_number_float() && v.get<double>() >= 0 && v.get<double>() < 1e15 &&
        std::floor(v.get<double>()) == v.get<double>()) {
      return std::optional<uint64_t>(static_cast<uint64_t>(v.get<double>()));
    }
    return invalid_keyword(path, key, "a non-negative integer");
  }

  Result<Body> string_body(const ordered_json& s, const std::string& path) {
    auto min = count(s, "minLength", path);
    if (!min.ok()) return min.error();
    auto max = count(s, "maxLength", path);
    if (!max.ok()) return max.error();
    const std::string quote = JsonGrammarBuilder::literal("\"");
    const char* exclusive[] = {"pattern", "format"};
    for (const char* key : exclusive) {
      if (!s.contains(key)) continue;
      for (const char* other : {"minLength", "maxLength", "pattern", "format"}) {
        if (other != std::string_view(key) && s.contains(other)) {
          return keyword_error(path, other,
                               std::string("it cannot be combined with '") + key + "'");
        }
      }
    }
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) return invalid_keyword(path, "pattern", "a string");
      auto expr = pattern_to_gbnf(s["pattern"].get<std::string>(), b_.builtin("char"));
      if (!expr.ok()) return keyword_error(path, "pattern", expr.error().message);
      return Body{seq({quote, *expr, quote}), {}};
    }
    if (s.contains("format")) {
      if (!s["format"].is_string()) return invalid_keyword(path, "format", "a string");
      const std::string format = s["format"].get<std::string>();
      if (!has(kFormats, format)) {
        return keyword_error(path, "format",
                             "format '" + format +
                                 "' is not supported (supported: date, time, "
                                 "date-time, uuid, ipv4, hostname, email, uri)");
      }
      return Body{seq({quote, b_.builtin(format), quote}), {}};
    }
    if (!min->has_value() && !max->has_value()) return shared("string");
    const uint64_t lo = min->value_or(0);
    if (max->has_value() && lo > **max) {
      return keyword_error(path, "minLength", "it is larger than maxLength");
    }
    if (lo == 0 && !max->has_value()) return shared("string");
    return Body{seq({quote, repeat(b_.builtin("char"), lo, *max), quote}), {}};
  }

  // Reads the lower (`lower` true) or upper bound from the inclusive and exclusive keywords;
  // the tighter one when both are given.
  Result<std::optional<Bound>> read_bound(const ordered_json& s, bool lower,
                                          const std::string& path) {
    const std::string inclusive = lower ? "minimum" : "maximum";
    const std::string exclusive = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    std::optional<Bound> best;
    auto consider = [&](const ordered_json& v, bool is_exclusive, const std::string& key) {
      Bound b{v.get<double>(), std::nullopt, is_exclusive, key};
      if (v.is_number_integer()) {
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX}) {
          b.exact = std::nullopt;
        } else {
          b.exact = v.get<int64_t>();
        }
      }
      const bool tighter = !best || (lower ? b.value > best->value : b.value < best->value) ||
                           (b.value == best->value && b.exclusive);
      if (tighter) best = b;
    };
    if (s.contains(inclusive)) {
      const ordered_json& v = s[inclusive];
      if (!v.is_number()) return invalid_keyword(path, inclusive, "a number");
      const bool draft4_exclusive = s.contains(exclusive) && s[exclusive] == true;
      consider(v, draft4_exclusive, draft4_exclusive ? exclusive : inclusive);
    }
    if (s.contains(exclusive) && !s[exclusive].is_boolean()) {
      if (!s[exclusive].is_number()) return invalid_keyword(path, exclusive, "a number");
      consider(s[exclusive], true, exclusive);
    }
    return best;
  }

  // The integer bound a Bound allows for integers: the least (lower) or greatest integer.
  static Result<int64_t> integer_bound(const Bound& b, bool lower, const std::string& path) {
    constexpr double kLimit = 9.0e18;
    if (b.exact) {
      if (!b.exclusive) return *b.exact;
      if (lower && *b.exact < INT64_MAX) return *b.exact + 1;
      if (!lower && *b.exact > INT64_MIN) return *b.exact - 1;
    } else if (std::abs(b.value) < kLimit) {
      const double v = lower ? (b.exclusive ? std::floor(b.value) + 1 : std::ceil(b.value))
                             : (b.exclusive ? std::ceil(b.value) - 1 : std::floor(b.value));
      return static_cast<int64_t>(v);
    }
    return keyword_error(path, b.keyword, "the bound is outside the 64-bit integer range");
  }

  Result<Body> number_body(const ordered_json& s, const std::string& path, bool integer) {
    auto lo = read_bound(s, true, path);
    if (!lo.ok()) return lo.error();
    auto hi = read_bound(s, false, path);
    if (!hi.ok()) return hi.error();
    if (!lo->has_value() && !hi->has_value()) return shared(integer ? "integer" : "number");
    const std::string empty_keyword = lo->has_value() ? (*lo)->keyword : (*hi)->keyword;
    std::optional<std::string> text;
    if (integer) {
      std::optional<int64_t> l, h;
      for (const auto& [bound, lower] : {std::pair{&*lo, true}, std::pair{&*hi, false}}) {
        if (!bound->has_value()) continue;
        auto v = integer_bound(**bound, lower, path);
        if (!v.ok()) return v.error();
        (lower ? l : h) = *v;
      }
      text = integer_range(l, h);
      if (!text) return keyword_error(path, empty_keyword, "no integer lies within the bounds");
    } else {
      std::optional<NumberBound> l, h;
      for (const auto& [bound, lower] : {std::pair{&*lo, true}, std::pair{&*hi, false}}) {
        if (!bound->has_value()) continue;
        const Bound& b = **bound;
        if (std::floor(b.value) != b.value || std::abs(b.value) > 1e15) {
          return keyword_error(path, b.keyword,
                               "only whole-number bounds (like 0 or 100) are supported for "
                               "type 'number', got " +
                                   value_text(s[b.keyword]));
        }
        (lower ? l : h) = NumberBound{static_cast<int64_t>(b.value), b.exclusive};
      }
      text = number_range(l, h);
      if (!text) return keyword_error(path, empty_keyword, "no number lies within the bounds");
    }
    return Body{*text, {}};
  }

  Result<Body> object_body(const ordered_json& s, const std::string& path, const std::string& hint,
                           int depth);
  Result<Body> array_body(const ordered_json& s, const std::string& path, const std::string& hint,
                          int depth);
  std::string key_excluding(const std::vector<std::string>& names);

  JsonGrammarBuilder& b_;
  const ordered_json& root_;
  std::string root_path_;
  std::map<std::string, std::string> refs_;  // $ref -> rule name
  bool root_referenced_ = false;
};

namespace {

// A trie of property names, for a key that must differ from all of them.
struct KeyTrie {
  std::map<char32_t, KeyTrie> children;
  bool terminal = false;
};

}  // namespace

// A JSON string (with quotes) whose value is none of `names`: at some character it leaves
// every name, or it ends where no name does. Characters are canonical (json_grammar_text.h),
// so no name can be spelled another way.
std::string SchemaCompiler::key_excluding(const std::vector<std::string>& names) {
  KeyTrie trie;
  for (const auto& name : names) {
    KeyTrie* node = &trie;
    for (const char32_t c : decode_utf8(name).value_or(U"")) node = &node->children[c];
    node->terminal = true;
  }
  CharSet escaped = CharSet::range(0, 0x1F);
  escaped.add('"', '"');
  escaped.add('\\', '\\');
  const std::string any = b_.builtin("char");
  std::function<std::string(const KeyTrie&)> text = [&](const KeyTrie& node) {
    std::vector<std::string> alts;
    CharSet others = CharSet::all();
    for (const auto& [c, child] : node.children) {
      alts.push_back(seq({gbnf_literal(json_escape_char(c)), text(child)}));
      others = others.minus(CharSet::single(c));
    }
    const std::string other_char =
        others.intersect(escaped).ranges() == escaped.ranges()
            ? cat({"( ", char_class(others.minus(escaped)), " | ", b_.builtin("char-escape"), " )"})
            : json_string_chars(others);
    alts.push_back(seq({other_char, any + "*"}));
    std::string out = group_alternatives(alts);
    if (alts.size() == 1) out = "( " + out + " )";
    return node.terminal ? out : out + "?";
  };
  const std::string quote = JsonGrammarBuilder::literal("\"");
  return seq({quote, text(trie), quote});
}

Result<SchemaCompiler::Body> SchemaCompiler::object_body(const ordered_json& s,
                                                         const std::string& path,
                                                         const std::string& hint, int depth) {
  if (s.contains("properties") && !s["properties"].is_object()) {
    return invalid_keyword(path, "properties", "an object");
  }
  std::vector<std::string> required;
  if (s.contains("required")) {
    if (!s["required"].is_array()) return invalid_keyword(path, "required", "an array of names");
    for (const auto& name : s["required"]) {
      if (!name.is_string()) return invalid_keyword(path, "required", "an array of names");
      if (!has(required, name.get<std::string>())) required.push_back(name.get<std::string>());
    }
  }
  const ordered_json empty = ordered_json::object();
  const ordered_json& properties = s.contains("properties") ? s["properties"] : empty;
  const bool has_additional = s.contains("additionalProperties");
  const ordered_json additional = has_additional ? s["additionalProperties"] : ordered_json(true);
  if (!additional.is_boolean() && !additional.is_object()) {
    return invalid_keyword(path, "additionalProperties", "a boolean or a schema");
  }
  if (!s.contains("properties") && required.empty() && accepts_everything(additional)) {
    return shared("object");
  }

  struct Item {
    std::string text;
    bool required = false;
    bool repeats = false;
  };
  std::vector<Item> items;
  std::vector<std::string> names;
  std::vector<std::string> needed;  // the value rules of required properties
  const std::string ws = b_.builtin("ws");
  const std::string colon = seq({ws, JsonGrammarBuilder::literal(":"), ws});
  for (const auto& [name, schema] : properties.items()) {
    auto value = rule(schema, path + ".properties." + name, hint + "-" + name, depth + 1);
    if (!value.ok()) return value.error();
    items.push_back({seq({gbnf_literal(json_quote(name)), colon, *value}), has(required, name)});
    names.push_back(name);
    if (items.back().required) needed.push_back(*value);
  }
  for (const auto& name : required) {
    if (properties.contains(name)) continue;
    if (additional == false) {
      return keyword_error(path, "required",
                           "'" + name +
                               "' is not in 'properties' and additionalProperties is "
                               "false");
    }
    auto value = rule(additional, path + ".additionalProperties", hint + "-" + name, depth + 1);
    if (!value.ok()) return value.error();
    items.push_back({seq({gbnf_literal(json_quote(name)), colon, *value}), true});
    names.push_back(name);
    needed.push_back(*value);
  }
  if (has_additional && additional != false) {
    auto value = rule(additional, path + ".additionalProperties", hint + "-value", depth + 1);
    if (!value.ok()) return value.error();
    std::string key = b_.builtin("string");
    if (!names.empty()) {
      key = b_.reserve(hint + "-key");
      b_.define(key, key_excluding(names), {}, path);
    }
    items.push_back({seq({key, colon, *value}), false, true});
  }
  const std::string open = seq({JsonGrammarBuilder::literal("{"), ws});
  const std::string close = seq({ws, JsonGrammarBuilder::literal("}")});
  if (items.empty()) return Body{seq({open, close}), {}};

  // Items in order, separated by commas: everything after the first written item is
  // `"," item` (optional ones with ?, the additional ones with *); the first written item is
  // any optional one before the first required one, or that required one.
  const std::string sep = seq({ws, JsonGrammarBuilder::literal(","), ws});
  auto piece = [&](const Item& item) {
    const std::string written = seq({sep, item.text});
    if (item.required) return written;
    return "( " + written + (item.repeats ? " )*" : " )?");
  };
  const size_t n = items.size();
  size_t first_required = n;
  for (size_t i = 0; i < n; ++i) {
    if (items[i].required) {
      first_required = i;
      break;
    }
  }
  const size_t firsts = std::min(first_required + 1, n);
  // tails[j]: the pieces of items j..n-1. Shared through rules when several firsts use them.
  std::vector<std::string> tails(n + 1);
  for (size_t j = n; j-- > 1;) {
    tails[j] = seq({piece(items[j]), tails[j + 1]});
    if (firsts > 2 && j > 1 && j + 1 < n) {
      const std::string name = b_.reserve(hint + "-rest");
      b_.define(name, tails[j], {}, path);
      tails[j] = name;
    }
  }
  std::vector<std::string> alternatives;
  for (size_t k = 0; k < firsts; ++k) {
    const Item& item = items[k];
    alternatives.push_back(seq({item.text, item.repeats ? piece(item) : "", tails[k + 1]}));
  }
  std::string inner = group_alternatives(alternatives);
  if (first_required == n) inner = (alternatives.size() == 1 ? "( " + inner + " )" : inner) + "?";
  return Body{seq({open, inner, close}), {}, {needed}};
}

Result<SchemaCompiler::Body> SchemaCompiler::array_body(const ordered_json& s,
                                                        const std::string& path,
                                                        const std::string& hint, int depth) {
  std::vector<ordered_json> prefix;
  std::string prefix_key = "prefixItems";
  ordered_json rest = true;
  std::string rest_path = path + ".items";
  if (s.contains("prefixItems")) {
    if (!s["prefixItems"].is_array()) return invalid_keyword(path, "prefixItems", "an array");
    prefix.assign(s["prefixItems"].begin(), s["prefixItems"].end());
    if (s.contains("items")) rest = s["items"];
    if (rest.is_array()) return invalid_keyword(path, "items", "a schema next to 'prefixItems'");
  } else if (s.contains("items") && s["items"].is_array()) {  // draft 7 tuples
    prefix.assign(s["items"].begin(), s["items"].end());
    prefix_key = "items";
    if (s.contains("additionalItems")) rest = s["additionalItems"];
    rest_path = path + ".additionalItems";
  } else if (s.contains("items")) {
    rest = s["items"];
  }
  auto min_items = count(s, "minItems", path);
  if (!min_items.ok()) return min_items.error();
  auto max_items = count(s, "maxItems", path);
  if (!max_items.ok()) return max_items.error();
  const uint64_t min = min_items->value_or(0);
  const std::optional<uint64_t> max = *max_items;
  if (max && min > *max) return keyword_error(path, "minItems", "it is larger than maxItems");
  const uint64_t k = max ? std::min<uint64_t>(prefix.size(), *max) : prefix.size();
  const bool more = rest != false && (!max || *max > prefix.size());
  if (!more && min > k) {
    return keyword_error(path, "minItems",
                         "at most " + std::to_string(k) + " items are allowed by the schema");
  }
  std::vector<std::string> names;
  for (uint64_t i = 0; i < k; ++i) {
    const std::string index = std::to_string(i);
    auto name =
        rule(prefix[i], path + "." + prefix_key + "[" + index + "]", hint + "-" + index, depth + 1);
    if (!name.ok()) return name.error();
    names.push_back(*name);
  }
  std::string item;
  if (more) {
    auto name = rule(rest, rest_path, hint + "-item", depth + 1);
    if (!name.ok()) return name.error();
    item = *name;
  }
  const std::string ws = b_.builtin("ws");
  const std::string sep = seq({ws, JsonGrammarBuilder::literal(","), ws});
  const std::string open = seq({JsonGrammarBuilder::literal("["), ws});
  const std::string close = seq({ws, JsonGrammarBuilder::literal("]")});
  // Items an array must have: the first minItems of the prefix, and the rest's item schema
  // when minItems goes past the prefix.
  std::vector<std::string> needed(names.begin(), names.begin() + std::min<uint64_t>(min, k));
  if (min > k) needed.push_back(item);
  std::string inner;
  if (k == 0) {
    if (!more) return Body{seq({open, close}), {}};
    const auto later_max = max ? std::optional<uint64_t>(*max - 1) : std::nullopt;
    const std::string later = cat({"( ", seq({sep, item}), " )"});
    inner = min == 0 ? cat({"( ", seq({item, repeat(later, 0, later_max)}), " )?"})
                     : seq({item, repeat(later, min - 1, later_max)});
  } else {
    // The items after the prefix, then the prefix from its end: item i is optional from
    // position minItems on.
    std::string tail;
    if (more) {
      tail = repeat(cat({"( ", seq({sep, item}), " )"}), min > k ? min - k : 0,
                    max ? std::optional<uint64_t>(*max - k) : std::nullopt);
    }
    for (uint64_t i = k; i-- > 1;) {
      tail = seq({sep, names[i], tail});
      if (i >= min) tail = "( " + tail + " )?";
    }
    inner = seq({names[0], tail});
    if (min == 0) inner = "( " + inner + " )?";
  }
  return Body{seq({open, inner, close}), {}, {needed}};
}

}  // namespace json_grammar

// ---- JsonGrammarBuilder ----

JsonGrammarBuilder::JsonGrammarBuilder() {
  for (const auto name : json_grammar::kReservedNames) names_.insert(std::string(name));
}

std::string JsonGrammarBuilder::reserve(std::string_view hint) {
  const std::string base = json_grammar::sanitize(hint);
  std::string name = base;
  for (int i = 2; names_.count(name) > 0; ++i) name = base + "-" + std::to_string(i);
  names_.insert(name);
  rules_.push_back(Rule{name, "", {}, "", {{}}});
  return name;
}

void JsonGrammarBuilder::define(const std::string& name, std::string body,
                                std::vector<std::string> heads, std::string path,
                                std::vector<std::vector<std::string>> needs) {
  Rule rule{name, std::move(body), std::move(heads), std::move(path), std::move(needs)};
  for (auto& existing : rules_) {
    if (existing.name == name) {
      existing = std::move(rule);
      return;
    }
  }
  rules_.push_back(std::move(rule));
}

void JsonGrammarBuilder::release(const std::string& name) {
  names_.erase(name);
  rules_.erase(
      std::remove_if(rules_.begin(), rules_.end(), [&](const Rule& r) { return r.name == name; }),
      rules_.end());
}

std::string JsonGrammarBuilder::builtin(std::string_view name) {
  const std::string key(name);
  for (const auto& rule : rules_) {
    if (rule.name == key) return key;
  }
  auto def = json_grammar::builtin_rule(name);
  SS_CHECK(def.has_value(), "unknown shared rule");
  rules_.push_back(Rule{key, def->body, {}, "", {{}}});
  for (const auto& dep : def->deps) builtin(dep);
  return key;
}

Result<std::string> JsonGrammarBuilder::add_schema(const nlohmann::ordered_json& schema,
                                                   std::string_view path_for_errors,
                                                   std::string_view name_hint) {
  const auto saved_rules = rules_;
  const auto saved_names = names_;
  json_grammar::SchemaCompiler compiler(*this, schema, std::string(path_for_errors));
  auto name = compiler.compile_root(name_hint);
  if (!name.ok()) {
    rules_ = saved_rules;
    names_ = saved_names;
  }
  return name;
}

std::string JsonGrammarBuilder::add_any_json_value() {
  return builtin("value");
}

std::string JsonGrammarBuilder::add_any_json_object() {
  return builtin("object");
}

std::string JsonGrammarBuilder::add_rule(std::string_view name_hint, std::string body) {
  const std::string name = reserve(name_hint);
  define(name, std::move(body));
  return name;
}

std::string JsonGrammarBuilder::literal(std::string_view text) {
  return json_grammar::gbnf_literal(text);
}

std::string JsonGrammarBuilder::gbnf(std::string_view root_rule) const {
  std::string out = json_grammar::cat({"root ::= ", root_rule, "\n"});
  for (const auto& rule : rules_) {
    if (!rule.body.empty()) out += rule.name + " ::= " + rule.body + "\n";
  }
  return out;
}

Result<std::string> json_schema_to_gbnf(const nlohmann::ordered_json& schema,
                                        std::string_view path_for_errors) {
  JsonGrammarBuilder builder;
  auto root = builder.add_schema(schema, path_for_errors);
  if (!root.ok()) return root.error();
  return builder.gbnf(*root);
}

}  // namespace shardserve::api
