// Python/Jinja semantics of the operators on template values: attribute and item access,
// slicing, arithmetic, comparison, membership and iteration. All functions throw TemplateError
// (errors.h) where Python would raise (type errors, division by zero, integer overflow, use of
// an undefined value), and return Value::undefined() where Jinja yields undefined (a missing
// key or attribute, an index out of range).
#pragma once

#include <string>

#include "model/chat_template/value.h"

namespace shardserve::chat_template {

// Limits that keep a single value from growing without bound (string/list repetition, range).
inline constexpr size_t kMaxValueBytes = 64u << 20;
inline constexpr int64_t kMaxRangeLength = 100'000;

// `obj.name`: a method of str/dict, a namespace attribute, or a dict key.
Value get_attr(const Value& obj, const std::string& name);
// `obj[key]`: a dict key, a list/str index (negative counts from the end), else get_attr.
Value get_item(const Value& obj, const Value& key);
// `obj[start:stop:step]` for str, list and tuple; absent parts are undefined values.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// Binary operators: + - * / // % ** ~.
Value binary_op(const std::string& op, const Value& a, const Value& b);
Value negate(const Value& v);
// Python a < b for numbers, strings and lists; throws for other pairs.
bool py_less(const Value& a, const Value& b);
// Python `item in container`.
bool contains(const Value& container, const Value& item);
// Python iteration: list items, dict keys, str code points; undefined iterates as empty.
ValueList iterate(const Value& v);
// Python len(); throws for values without a length.
int64_t py_len(const Value& v);
// Throws "'name' is undefined" when v is undefined.
void check_defined(const Value& v);

}  // namespace shardserve::chat_template
