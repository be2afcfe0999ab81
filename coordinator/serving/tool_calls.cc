#include "coordinator/serving/tool_calls.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "api/json_schema_grammar.h"

namespace shardserve {
namespace {

using api::JsonGrammarBuilder;
using api::ToolChoice;
using api::ToolFunction;
using nlohmann::ordered_json;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

// ---- Grammar ----

// The rules of the call syntax. Their names contain '_', which JsonGrammarBuilder's names never
// do (letters, digits and '-'), so they can refer to each other before they are defined
// (the text automata below are cyclic) and are appended after the builder's rules.
class CallRules {
 public:
  // `name` must contain '_'.
  std::string add(std::string name, std::string body) {
    rules_.emplace_back(name, std::move(body));
    return name;
  }
  std::string text() const {
    std::string out;
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> rules_;
};

// One ASCII character inside a GBNF character class.
std::string class_char(char c) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\x%02X", static_cast<unsigned char>(c));
  return buf;
}

std::string class_of(const std::set<char>& chars, bool negated) {
  std::string out = negated ? "[^" : "[";
  for (const char c : chars) out += class_char(c);
  return out + "]";
}

// Rules for any text that contains none of `patterns` (ASCII, non-empty): a deterministic
// automaton whose states are the proper prefixes of the patterns the text may end in now
// (as in Aho-Corasick). Returns the start rule.
std::string add_text_without(CallRules& rules, const std::string& prefix,
                             const std::vector<std::string>& patterns) {
  auto holds_pattern = [&](std::string_view s) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& p) { return contains(s, p); });
  };
  std::vector<std::string> states = {""};
  std::set<char> chars;
  for (const auto& p : patterns) {
    for (size_t n = 1; n < p.size(); ++n) {
      const std::string s = p.substr(0, n);
      if (!holds_pattern(s) && std::find(states.begin(), states.end(), s) == states.end())
        states.push_back(s);
    }
    chars.insert(p.begin(), p.end());
  }
  auto state_name = [&](size_t i) { return prefix + "_" + std::to_string(i); };
  // The state after reading `c` in `s`: the longest suffix of s + c that is a state, or
  // none when s + c ends in a pattern.
  auto next = [&](const std::string& s, char c) -> std::optional<size_t> {
    const std::string t = s + c;
    for (const auto& p : patterns) {
      if (t.size() >= p.size() && t.compare(t.size() - p.size(), p.size(), p) == 0)
        return std::nullopt;
    }
    for (size_t n = t.size(); n > 0; --n) {
      auto it = std::find(states.begin(), states.end(), t.substr(t.size() - n));
      if (it != states.end()) return static_cast<size_t>(it - states.begin());
    }
    return 0;
  };
  for (size_t i = 0; i < states.size(); ++i) {
    // The pattern characters by the state they lead to; the others all lead to state 0.
    std::map<size_t, std::set<char>> targets;
    std::set<char> not_to_start;
    for (const char c : chars) {
      const auto to = next(states[i], c);
      if (to == 0u) continue;
      not_to_start.insert(c);
      if (to) targets[*to].insert(c);
    }
    std::string body = "( " + class_of(not_to_start, true) + " " + state_name(0);
    for (const auto& [to, by] : targets) body += " | " + class_of(by, false) + " " + state_name(to);
    rules.add(state_name(i), body + " )?");
  }
  return state_name(0);
}

// Rules for any text that does not begin, after whitespace, with one of `patterns` (ASCII,
// non-empty): a trie of the patterns' proper prefixes; leaving the trie leads to `any`.
std::string add_text_not_starting(CallRules& rules, const std::string& prefix,
                                  const std::vector<std::string>& patterns,
                                  const std::string& any) {
  std::vector<std::string> nodes = {""};
  for (const auto& p : patterns) {
    for (size_t n = 1; n < p.size(); ++n) {
      if (std::find(nodes.begin(), nodes.end(), p.substr(0, n)) == nodes.end())
        nodes.push_back(p.substr(0, n));
    }
  }
  auto node_name = [&](size_t i) { return prefix + "_" + std::to_string(i); };
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string& s = nodes[i];
    std::set<char> next_chars;
    std::vector<std::string> alts;
    for (const auto& p : patterns) {
      if (p.size() <= s.size() || p.compare(0, s.size(), s) != 0) continue;
      const char c = p[s.size()];
      if (!next_chars.insert(c).second) continue;
      const std::string t = s + c;
      if (std::find(patterns.begin(), patterns.end(), t) != patterns.end()) continue;
      const size_t to = std::find(nodes.begin(), nodes.end(), t) - nodes.begin();
      alts.push_back(JsonGrammarBuilder::literal(std::string(1, c)) + " " + node_name(to));
    }
    std::set<char> excluded = next_chars;
    if (i == 0) {
      excluded.insert({' ', '\t', '\n', '\r'});
      alts.push_back("[ \\t\\n\\r] " + node_name(0));
    }
    alts.push_back(class_of(excluded, true) + " " + any);
    std::string body;
    for (const auto& alt : alts) body += (body.empty() ? "( " : " | ") + alt;
    rules.add(node_name(i), body + " )?");
  }
  return node_name(0);
}

const char* arguments_key(ToolFormat format) {
  return format == ToolFormat::kLlama3Json ? "parameters" : "arguments";
}

Result<std::string> grammar_for(ToolFormat format, const std::vector<ToolFunction>& tools,
                                const std::vector<size_t>& allowed, bool auto_choice, bool several,
                                const ToolAnswerContext& context) {
  JsonGrammarBuilder builder;
  CallRules rules;
  std::string objects;
  for (const size_t i : allowed) {
    const ToolFunction& tool = tools[i];
    std::string arguments;
    if (tool.parameters.is_null()) {
      arguments = builder.add_any_json_object();
    } else {
      auto rule = builder.add_schema(tool.parameters,
                                     "tools[" + std::to_string(i) + "].function.parameters",
                                     tool.name + "-arguments");
      if (!rule.ok()) return Error::invalid_input(rule.error().message);
      arguments = *rule;
    }
    const std::string head =
        "{\"name\": " + ordered_json(tool.name).dump() + ", \"" + arguments_key(format) + "\": ";
    const std::string object = rules.add("tool_object_" + std::to_string(i),
                                         JsonGrammarBuilder::literal(head) + " " + arguments + " " +
                                             JsonGrammarBuilder::literal("}"));
    objects += (objects.empty() ? "" : " | ") + object;
  }
  const std::string object = rules.add("tool_object", objects);
  // The reasoning block: none for a model that does not think, optional for one that does, or
  // already opened by the prompt and to be closed first.
  const std::string reasoning_rest =
      add_text_without(rules, "tool_reasoning", {"</think>"}) + " \"</think>\" [ \\n]{0,4}";
  const std::string think = context.opens_reasoning ? rules.add("tool_think", reasoning_rest)
                            : context.reasoning
                                ? rules.add("tool_think", "( \"<think>\" " + reasoning_rest + " )?")
                                : rules.add("tool_think", "\"\"");
  auto list = [&](const std::string& open, const std::string& separator, const std::string& close) {
    std::string body = JsonGrammarBuilder::literal(open) + " " + object;
    if (several) body += " ( " + JsonGrammarBuilder::literal(separator) + " " + object + " )*";
    return body + " " + JsonGrammarBuilder::literal(close);
  };
  std::string calls;
  std::string root;
  switch (format) {
    case ToolFormat::kHermes: {
      const std::string call =
          rules.add("tool_call", JsonGrammarBuilder::literal("<tool_call>\n") + " " + object + " " +
                                     JsonGrammarBuilder::literal("\n</tool_call>"));
      calls = rules.add("tool_calls", several ? call + " ( \"\\n\" " + call + " )*" : call);
      if (auto_choice) {
        root =
            think + " " + add_text_without(rules, "tool_text", {"<tool_call>"}) + " " + calls + "?";
      }
      break;
    }
    case ToolFormat::kMistral:
      // [TOOL_CALLS] is a control token in Mistral vocabularies: the model writes the token.
      calls = rules.add("tool_calls", context.control_opener
                                          ? "@\"[TOOL_CALLS]\" " + list("[", ", ", "]")
                                          : list("[TOOL_CALLS][", ", ", "]"));
      if (auto_choice) {
        root = think + " " + add_text_without(rules, "tool_text", {"[TOOL_CALLS]"}) + " " + calls +
               "?";
      }
      break;
    case ToolFormat::kLlama3Json:
    case ToolFormat::kGeneric: {
      // Llama 3.1+ may open a call with its <|python_tag|> control token.
      calls = format == ToolFormat::kGeneric
                  ? rules.add("tool_calls", list("{\"tool_calls\": [", ", ", "]}"))
              : context.control_opener ? rules.add("tool_calls", "@\"<|python_tag|>\"? " + object)
                                       : object;
      if (auto_choice) {
        const std::string any = rules.add("tool_any", ".*");
        root = think + " ( " + calls + " | " +
               add_text_not_starting(rules, "tool_text", {"{", "<think>"}, any) + " )";
      }
      break;
    }
  }
  if (!auto_choice) root = think + " " + calls;
  rules.add("tool_root", root);
  return builder.gbnf("tool_root") + rules.text();
}

}  // namespace

const char* tool_format_name(ToolFormat format) {
  switch (format) {
    case ToolFormat::kHermes:
      return "hermes";
    case ToolFormat::kLlama3Json:
      return "llama3_json";
    case ToolFormat::kMistral:
      return "mistral";
    case ToolFormat::kGeneric:
      return "generic";
  }
  return "generic";
}

ToolFormat detect_tool_format(std::string_view source) {
  if (contains(source, "<tool_call>")) return ToolFormat::kHermes;
  if (contains(source, "[TOOL_CALLS]")) return ToolFormat::kMistral;
  if (contains(source, "<|start_header_id|>") &&
      (contains(source, "<|python_tag|>") || contains(source, "Environment: ipython") ||
       contains(source, "\"parameters\"")))
    return ToolFormat::kLlama3Json;
  return ToolFormat::kGeneric;
}

std::vector<std::string> tool_format_control_tokens(ToolFormat format) {
  switch (format) {
    case ToolFormat::kMistral:
      return {"[TOOL_CALLS]"};
    case ToolFormat::kLlama3Json:
      return {"<|python_tag|>"};
    case ToolFormat::kHermes:
    case ToolFormat::kGeneric:
      break;
  }
  return {};
}

Result<std::string> tool_call_grammar(ToolFormat format, const std::vector<ToolFunction>& tools,
                                      const ToolChoice& choice, bool parallel_tool_calls,
                                      const ToolAnswerContext& context) {
  using Mode = ToolChoice::Mode;
  std::vector<size_t> allowed;
  switch (choice.mode) {
    case Mode::kNone:
      return std::string();
    case Mode::kAuto:
      if (tools.empty()) return std::string();
      [[fallthrough]];
    case Mode::kRequired:
      if (tools.empty())
        return Error::invalid_input("tool_choice 'required' needs at least one tool in 'tools'");
      for (size_t i = 0; i < tools.size(); ++i) allowed.push_back(i);
      break;
    case Mode::kFunction:
      for (size_t i = 0; i < tools.size() && allowed.empty(); ++i) {
        if (tools[i].name == choice.function) allowed.push_back(i);
      }
      if (allowed.empty()) {
        return Error::invalid_input("tool_choice names function '" + choice.function +
                                    "', which is not among the tools");
      }
      break;
  }
  // Llama 3 templates render one call per assistant message: never several.
  const bool several =
      parallel_tool_calls && choice.mode != Mode::kFunction && format != ToolFormat::kLlama3Json;
  return grammar_for(format, tools, allowed, choice.mode == Mode::kAuto, several, context);
}

std::string generic_tools_system_prompt(const std::vector<ToolFunction>& tools,
                                        const ToolChoice& choice, bool parallel_tool_calls) {
  using Mode = ToolChoice::Mode;
  if (choice.mode == Mode::kNone || tools.empty()) return {};
  std::string out =
      "# Tools\n\nYou can call functions to help you answer. The functions, one JSON object per "
      "line, with the function's name, what it does, and the JSON schema of its arguments:\n";
  for (const auto& tool : tools) {
    ordered_json t = {{"name", tool.name}};
    if (!tool.description.empty()) t["description"] = tool.description;
    t["parameters"] =
        tool.parameters.is_null() ? ordered_json{{"type", "object"}} : tool.parameters;
    out += t.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";
  }
  out +=
      "\nTo call functions, answer with only this JSON object, with nothing before or after "
      "it:\n"
      "{\"tool_calls\": [{\"name\": \"<function name>\", \"arguments\": <the arguments as a JSON "
      "object>}]}\n";
  const bool several = parallel_tool_calls && choice.mode != Mode::kFunction;
  out += several ? "To call several functions at once, list several calls in \"tool_calls\", "
                   "separated by \", \".\n"
                 : "Call one function at a time: \"tool_calls\" holds exactly one call.\n";
  switch (choice.mode) {
    case Mode::kAuto:
      out +=
          "If no function is needed, answer in plain text instead (plain text must not start "
          "with \"{\").\n";
      break;
    case Mode::kRequired:
      out += "You must call a function now.\n";
      break;
    case Mode::kFunction:
      out += "You must call the function \"" + choice.function + "\" now.\n";
      break;
    case Mode::kNone:
      break;
  }
  out += "The results of your calls will be given to you in the following messages.";
  return out;
}

std::string generic_tool_calls_text(const std::vector<api::ToolCall>& calls) {
  std::string out = "{\"tool_calls\": [";
  for (size_t i = 0; i < calls.size(); ++i) {
    const auto& call = calls[i];
    const bool is_json = ordered_json::accept(call.arguments);
    out += std::string(i ? ", " : "") + "{\"name\": " + ordered_json(call.name).dump() +
           ", \"arguments\": " +
           (is_json ? call.arguments
                    : ordered_json(call.arguments)
                          .dump(-1, ' ', false, ordered_json::error_handler_t::replace)) +
           "}";
  }
  return out + "]}";
}

// ---- Parsing ----

ParsedAnswer parse_tool_answer(ToolFormat format, std::string_view text) {
  ToolCallStream stream(format);
  std::vector<ToolCallEvent> events = stream.push(text);
  for (auto& event : stream.finish()) events.push_back(std::move(event));
  ParsedAnswer answer;
  for (auto& event : events) {
    switch (event.kind) {
      case ToolCallEvent::Kind::kContent:
        answer.content += event.text;
        break;
      case ToolCallEvent::Kind::kCallStart:
        answer.tool_calls.push_back({.id = {}, .name = std::move(event.text), .arguments = {}});
        break;
      case ToolCallEvent::Kind::kArguments:
        answer.tool_calls[event.index].arguments += event.text;
        break;
    }
  }
  return answer;
}

namespace {

constexpr size_t kMaxNameBytes = 256;

// The length of the longest prefix of `text` that does not end inside a UTF-8 character.
size_t whole_characters(std::string_view text) {
  const size_t n = text.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
    return back < length ? n - back : n;
  }
  return n;
}

bool is_scalar_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '+' || c == '.';
}

}  // namespace

std::vector<ToolCallEvent> ToolCallStream::push(std::string_view new_text) {
  std::vector<ToolCallEvent> out;
  if (finished_) return out;
  text_.append(new_text);
  limit_ = whole_characters(text_);
  run(out);
  return out;
}

std::vector<ToolCallEvent> ToolCallStream::finish() {
  std::vector<ToolCallEvent> out;
  if (finished_) return out;
  finished_ = true;
  limit_ = text_.size();
  run(out);
  return out;
}

void ToolCallStream::run(std::vector<ToolCallEvent>& out) {
  for (bool progress = true; progress && pos_ < limit_;) {
    switch (mode_) {
      case Mode::kContent:
        progress = content_step(out);
        break;
      case Mode::kThink:
        progress = think_step(out);
        break;
      case Mode::kArguments:
        progress = arguments_step(out);
        break;
      case Mode::kTail:
        progress = tail_step(out);
        break;
    }
  }
  // Forget the decided text once it is most of the buffer (no state points into it).
  if (pos_ >= 4096 && pos_ * 2 >= text_.size()) {
    text_.erase(0, pos_);
    limit_ -= pos_;
    pos_ = 0;
  }
}

ToolCallStream::Match ToolCallStream::literal(size_t& p, std::string_view text) const {
  for (size_t i = 0; i < text.size(); ++i) {
    if (p + i >= limit_) return Match::kMore;
    if (text_[p + i] != text[i]) return Match::kNo;
  }
  p += text.size();
  return Match::kYes;
}

ToolCallStream::Match ToolCallStream::whitespace(size_t& p) const {
  while (p < limit_ && is_space(text_[p])) ++p;
  return p < limit_ ? Match::kYes : Match::kMore;
}

bool ToolCallStream::call_may_start(size_t p) const {
  const char c = text_[p];
  switch (format_) {
    case ToolFormat::kHermes:
      return c == '<';
    case ToolFormat::kMistral:
      return c == '[';
    case ToolFormat::kLlama3Json:
      return (at_start_ && (c == '{' || c == '<')) || (after_call_ && c == ';');
    case ToolFormat::kGeneric:
      return at_start_ && c == '{';
  }
  return false;
}

// Runs matchers in sequence; the first that does not say kYes decides.
#define MATCH_OR_RETURN(expr)         \
  do {                                \
    const Match m_ = (expr);          \
    if (m_ != Match::kYes) return m_; \
  } while (false)

ToolCallStream::Match ToolCallStream::object_header(size_t& p, std::string& name) const {
  MATCH_OR_RETURN(literal(p, "{"));
  MATCH_OR_RETURN(whitespace(p));
  MATCH_OR_RETURN(literal(p, "\"name\""));
  MATCH_OR_RETURN(whitespace(p));
  MATCH_OR_RETURN(literal(p, ":"));
  MATCH_OR_RETURN(whitespace(p));
  MATCH_OR_RETURN(literal(p, "\""));
  name.clear();
  for (;; ++p) {
    if (p >= limit_) return Match::kMore;
    const char c = text_[p];
    if (c == '"') break;
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || name.size() >= kMaxNameBytes)
      return Match::kNo;
    name += c;
  }
  ++p;
  if (name.empty()) return Match::kNo;
  MATCH_OR_RETURN(whitespace(p));
  MATCH_OR_RETURN(literal(p, ","));
  MATCH_OR_RETURN(whitespace(p));
  if (format_ == ToolFormat::kLlama3Json) {
    size_t q = p;
    const Match parameters = literal(q, "\"parameters\"");
    if (parameters == Match::kYes) {
      p = q;
    } else {
      const Match arguments = literal(p, "\"arguments\"");
      if (arguments == Match::kNo) return parameters;  // kMore or kNo
      if (arguments == Match::kMore) return Match::kMore;
    }
  } else {
    MATCH_OR_RETURN(literal(p, "\"arguments\""));
  }
  MATCH_OR_RETURN(whitespace(p));
  return literal(p, ":");  // the arguments (and whitespace before them) are next
}

ToolCallStream::Match ToolCallStream::header(size_t& p, std::string& name) const {
  MATCH_OR_RETURN(whitespace(p));
  switch (format_) {
    case ToolFormat::kHermes:
      MATCH_OR_RETURN(literal(p, "<tool_call>"));
      MATCH_OR_RETURN(whitespace(p));
      break;
    case ToolFormat::kMistral:
      MATCH_OR_RETURN(literal(p, "[TOOL_CALLS]"));
      MATCH_OR_RETURN(whitespace(p));
      MATCH_OR_RETURN(literal(p, "["));
      MATCH_OR_RETURN(whitespace(p));
      break;
    case ToolFormat::kLlama3Json:
      if (after_call_) {
        MATCH_OR_RETURN(literal(p, ";"));
        MATCH_OR_RETURN(whitespace(p));
      } else {
        const Match tag = literal(p, "<|python_tag|>");
        if (tag == Match::kMore) return tag;
        if (tag == Match::kYes) MATCH_OR_RETURN(whitespace(p));
      }
      break;
    case ToolFormat::kGeneric:
      MATCH_OR_RETURN(literal(p, "{"));
      MATCH_OR_RETURN(whitespace(p));
      MATCH_OR_RETURN(literal(p, "\"tool_calls\""));
      MATCH_OR_RETURN(whitespace(p));
      MATCH_OR_RETURN(literal(p, ":"));
      MATCH_OR_RETURN(whitespace(p));
      MATCH_OR_RETURN(literal(p, "["));
      MATCH_OR_RETURN(whitespace(p));
      break;
  }
  return object_header(p, name);
}

void ToolCallStream::emit_content(std::vector<ToolCallEvent>& out, size_t end) {
  if (end <= pos_) return;
  const std::string_view piece(text_.data() + pos_, end - pos_);
  if (!std::all_of(piece.begin(), piece.end(), is_space)) {
    at_start_ = false;
    after_call_ = false;
  }
  if (out.empty() || out.back().kind != ToolCallEvent::Kind::kContent)
    out.push_back({.kind = ToolCallEvent::Kind::kContent, .index = -1, .text = {}});
  out.back().text += piece;
  pos_ = end;
}

void ToolCallStream::start_call(std::vector<ToolCallEvent>& out, std::string name,
                                size_t arguments_begin) {
  out.push_back(
      {.kind = ToolCallEvent::Kind::kCallStart, .index = n_calls_++, .text = std::move(name)});
  pos_ = arguments_begin;
  mode_ = Mode::kArguments;
  at_start_ = false;
  after_call_ = false;
  brackets_.clear();
  started_ = in_string_ = escaped_ = scalar_ = false;
}

void ToolCallStream::emit_arguments(std::vector<ToolCallEvent>& out) {
  const int index = n_calls_ - 1;
  if (out.empty() || out.back().kind != ToolCallEvent::Kind::kArguments ||
      out.back().index != index)
    out.push_back({.kind = ToolCallEvent::Kind::kArguments, .index = index, .text = {}});
  out.back().text += text_[pos_++];
}

void ToolCallStream::end_call() {
  mode_ = Mode::kContent;
  after_call_ = true;
}

bool ToolCallStream::content_step(std::vector<ToolCallEvent>& out) {
  const size_t p = pos_;
  size_t q = p;
  std::string name;
  if (is_space(text_[p])) {
    whitespace(q);
    if (q == limit_) {
      if (!finished_) return false;
      if (after_call_) {
        pos_ = limit_;  // whitespace after the last call: a separator
      } else {
        emit_content(out, limit_);
      }
      return true;
    }
    if (call_may_start(q)) {
      size_t r = p;
      const Match m = header(r, name);
      if (m == Match::kYes) {
        start_call(out, std::move(name), r);
        return true;
      }
      if (m == Match::kMore && !finished_) return false;
    }
    emit_content(out, q);  // the character at q is looked at on its own next
    return true;
  }
  if (call_may_start(p)) {
    const Match m = header(q, name);
    if (m == Match::kYes) {
      start_call(out, std::move(name), q);
      return true;
    }
    if (m == Match::kMore && !finished_) return false;
  }
  if (at_start_ && !think_seen_ && text_[p] == '<') {
    q = p;
    const Match m = literal(q, "<think>");
    if (m == Match::kYes) {
      emit_content(out, q);
      think_seen_ = true;
      mode_ = Mode::kThink;
      return true;
    }
    if (m == Match::kMore && !finished_) return false;
  }
  // An ordinary character, and those after it that cannot start anything.
  q = p + 1;
  while (q < limit_ && !is_space(text_[q]) && text_[q] != '<' && !call_may_start(q)) ++q;
  emit_content(out, q);
  return true;
}

bool ToolCallStream::think_step(std::vector<ToolCallEvent>& out) {
  const size_t p = pos_;
  if (text_[p] != '<') {
    const size_t next = text_.find('<', p);
    emit_content(out, std::min(next, limit_));
    return true;
  }
  size_t q = p;
  const Match m = literal(q, "</think>");
  if (m == Match::kMore && !finished_) return false;
  if (m == Match::kYes) {
    emit_content(out, q);
    mode_ = Mode::kContent;
    at_start_ = true;  // a call may follow the reasoning, as at the start
    return true;
  }
  emit_content(out, p + 1);
  return true;
}

bool ToolCallStream::arguments_step(std::vector<ToolCallEvent>& out) {
  bool done = false;  // the value is complete (or cannot go on): the closing syntax is next
  while (!done && pos_ < limit_) {
    const char c = text_[pos_];
    if (!started_) {
      if (is_space(c)) {
        ++pos_;
        continue;
      }
      started_ = true;
      if (c == '{' || c == '[') {
        brackets_ += c;
      } else if (c == '"') {
        in_string_ = true;
      } else if (is_scalar_char(c)) {
        scalar_ = true;
      } else {
        done = true;  // no value: the closing syntax decides what this is
        continue;
      }
      emit_arguments(out);
      continue;
    }
    if (in_string_) {
      emit_arguments(out);
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
        done = brackets_.empty();  // a top-level string is complete
      }
      continue;
    }
    if (scalar_) {
      if (is_scalar_char(c)) {
        emit_arguments(out);
      } else {
        done = true;
      }
      continue;
    }
    if (is_space(c)) {
      ++pos_;  // compact: whitespace outside strings is dropped
      continue;
    }
    if (c == '}' || c == ']') {
      if (brackets_.back() != (c == '}' ? '{' : '[')) {
        done = true;  // malformed: the value ends here
        continue;
      }
      brackets_.pop_back();
      emit_arguments(out);
      done = brackets_.empty();
      continue;
    }
    if (c == '"') in_string_ = true;
    if (c == '{' || c == '[') brackets_ += c;
    emit_arguments(out);
  }
  if (!done) return false;  // the arguments go on (or the answer ended inside them)
  mode_ = Mode::kTail;
  return true;
}

bool ToolCallStream::tail_step(std::vector<ToolCallEvent>& out) {
  size_t p = pos_;
  std::string name;
  // The closing syntax after the arguments; kYes when the call (or block) is closed.
  auto close = [&]() -> Match {
    MATCH_OR_RETURN(whitespace(p));
    MATCH_OR_RETURN(literal(p, "}"));
    switch (format_) {
      case ToolFormat::kHermes:
        MATCH_OR_RETURN(whitespace(p));
        return literal(p, "</tool_call>");
      case ToolFormat::kLlama3Json:
        return Match::kYes;
      case ToolFormat::kMistral:
      case ToolFormat::kGeneric: {
        MATCH_OR_RETURN(whitespace(p));
        if (text_[p] == ',') {
          ++p;
          MATCH_OR_RETURN(whitespace(p));
          return object_header(p, name);
        }
        MATCH_OR_RETURN(literal(p, "]"));
        if (format_ == ToolFormat::kMistral) return Match::kYes;
        MATCH_OR_RETURN(whitespace(p));
        return literal(p, "}");
      }
    }
    return Match::kNo;
  };
  const Match m = close();
  if (m == Match::kMore) {
    if (!finished_) return false;
    pos_ = limit_;  // the closing syntax cut off at the end: dropped
    mode_ = Mode::kContent;
    return true;
  }
  if (m == Match::kNo) {
    mode_ = Mode::kContent;  // what follows the arguments is content again
    return true;
  }
  if (!name.empty()) {
    start_call(out, std::move(name), p);  // the next call of the list
  } else {
    pos_ = p;
    end_call();
  }
  return true;
}

#undef MATCH_OR_RETURN

}  // namespace shardserve
