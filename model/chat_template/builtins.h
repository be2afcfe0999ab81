// Jinja2's builtin filters and tests (all but the filters is_unimplemented_jinja_filter names),
// Python's str, dict and list methods, and the globals that HF chat templates use (range,
// namespace, dict, raise_exception, strftime_now). All of them throw TemplateError (errors.h) on
// bad arguments; raise_exception throws with the template's message.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "model/chat_template/value.h"

namespace shardserve::chat_template {

bool has_filter(std::string_view name);
bool has_test(std::string_view name);
// A filter of Jinja2's builtin set that this interpreter lacks: a template naming it still
// parses (as in Jinja2), and fails only if the filter runs.
bool is_unimplemented_jinja_filter(std::string_view name);
// `input | name(args)`; an unknown name throws (Jinja2 defers that check to here inside `if`).
Value apply_filter(const std::string& name, const Value& input, CallArgs& args);
// `input is name(args)`; an unknown name throws, as for filters.
bool apply_test(const std::string& name, const Value& input, CallArgs& args);
// A bound method of a str, dict or list (`s.strip`, `d.items`, `l.index`); undefined when there
// is none.
Value get_method(const Value& obj, const std::string& name);
// Jinja's immutable sandbox refuses the mutating methods of lists and dicts (`d.update`,
// `l.append`): the message of the undefined value such an attribute gives, or "" when allowed.
std::string unsafe_attribute(const Value& obj, const std::string& name);
// The global functions every template sees.
std::unordered_map<std::string, Value> make_globals();

// Argument `index` (positional) or `name` (keyword) of a call; `fallback` when absent.
Value arg(const CallArgs& args, size_t index, const char* name, Value fallback = Value());

}  // namespace shardserve::chat_template
