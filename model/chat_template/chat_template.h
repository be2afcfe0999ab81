// ChatTemplate: a small Jinja2 interpreter for HuggingFace chat templates
// (`tokenizer.chat_template` in GGUF / tokenizer_config.json), which turn a list of messages
// into the prompt text.
//
// It renders the way transformers' apply_chat_template does: trim_blocks and lstrip_blocks on,
// the loopcontrols extension (break/continue), HF's `tojson` (non-ASCII kept, optional indent),
// `raise_exception(msg)` and `strftime_now(fmt)` as globals, in an immutable sandbox (lists and
// dicts cannot be mutated; namespace() objects can). Supported: text, {{ }}, comments, raw,
// whitespace control, if/elif/else, for (loop.*, else, filters, tuple unpacking), set
// (names, tuples, ns.attr, block set), macros (with varargs/kwargs), break/continue, Python-like
// expressions including printf-style `str % args` and `str.format(...)` (format.h), and the
// filters/tests/methods listed in builtins.h. As in Jinja2, an unknown filter or test inside an
// `if` or a conditional expression is an error only when it runs.
//
// Errors: parse() and render() return an Error (never crash, never hang) whose message starts
// with "chat template <line>:<col>: " followed by what went wrong: a syntax error, an
// unsupported construct (e.g. "'include' statement"), a runtime type error, the message of
// raise_exception(...), or a broken limit (steps, macro recursion, nesting, output size).
//
// Thread-safety: a parsed ChatTemplate is immutable; render() may run concurrently from many
// threads. Copying a ChatTemplate is cheap (the syntax tree is shared).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace shardserve {

namespace chat_template {
struct Template;
}

class ChatTemplate {
 public:
  // Bounds on one render; the defaults suit any real chat template.
  struct Limits {
    int64_t max_steps = 1'000'000;        // statements + loop iterations + calls
    size_t max_output_bytes = 64u << 20;  // rendered text
    int max_call_depth = 100;             // nested macro calls
  };

  // Parses `source`. Syntax errors and unsupported constructs name their line:column.
  static Result<ChatTemplate> parse(std::string_view source);

  // Renders with the variables of `context`, a JSON object: usually `messages` (array of
  // {role, content, ...}), `add_generation_prompt`, `bos_token`, `eos_token`, `tools`, plus any
  // extra variables. Objects keep the key order of the ordered_json (it shows in tojson).
  Result<std::string> render(const nlohmann::ordered_json& context) const;
  Result<std::string> render(const nlohmann::ordered_json& context, const Limits& limits) const;
  // Same, from a std::map-based json (object keys come out sorted).
  Result<std::string> render(const nlohmann::json& context) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const chat_template::Template> tmpl)
      : tmpl_(std::move(tmpl)) {}
  std::shared_ptr<const chat_template::Template> tmpl_;
};

}  // namespace shardserve
