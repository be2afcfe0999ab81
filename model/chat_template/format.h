// Python's two string-formatting languages, as chat templates reach them: printf-style
// `fmt % args` (the `%` operator on a str, and Jinja's `format` filter) and `fmt.format(...)`
// (the str method, which Jinja's sandbox routes through its own formatter with the same output).
//
// Both throw TemplateError (errors.h) where Python raises: a missing or surplus argument, a
// conversion that does not fit the value ("%d format: a real number is required, not str"), a
// malformed format string. Format specs cover Python's mini-language for str, int and float
// (fill, align, sign, '#', '0', width, ',' and '_' grouping, precision, and the s d i u o x X c e
// E f F g G % b n conversions); a value of another type takes only an empty spec, as in Python.
#pragma once

#include <string>

#include "model/chat_template/value.h"

namespace shardserve::chat_template {

// Python `fmt % args`: a tuple supplies positional arguments, a dict feeds `%(key)s`, any other
// value is the single argument.
std::string percent_format(const std::string& fmt, const Value& args);

// Python `fmt.format(*args.positional, **args.keyword)`.
std::string str_format(const std::string& fmt, const CallArgs& args);

// Python format(value, spec), the part after ':' in a replacement field.
std::string format_value(const Value& v, const std::string& spec);

}  // namespace shardserve::chat_template
