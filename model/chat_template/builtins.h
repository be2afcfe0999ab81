// Jinja2's builtin filters and tests, Python's str and dict methods, and the globals that HF
// chat templates use (range, namespace, dict, raise_exception, strftime_now). All of them throw
// TemplateError (errors.h) on bad arguments; raise_exception throws with the template's message.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "model/chat_template/value.h"

namespace shardserve::chat_template {

bool has_filter(std::string_view name);
bool has_test(std::string_view name);
// `input | name(args)`. Precondition: has_filter(name).
Value apply_filter(const std::string& name, const Value& input, CallArgs& args);
// `input is name(args)`. Precondition: has_test(name).
bool apply_test(const std::string& name, const Value& input, CallArgs& args);
// A bound method of a str or dict (`s.strip`, `d.items`); undefined when there is none.
Value get_method(const Value& obj, const std::string& name);
// The global functions every template sees.
std::unordered_map<std::string, Value> make_globals();

// Argument `index` (positional) or `name` (keyword) of a call; `fallback` when absent.
Value arg(const CallArgs& args, size_t index, const char* name, Value fallback = Value());

}  // namespace shardserve::chat_template
