#include "api/request_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>

namespace shardserve::api::detail {

namespace {

struct TooDeep {};

// "[json.exception.parse_error.101] parse error at ..." -> "parse error at ...".
std::string without_exception_prefix(const char* what) {
  std::string s = what;
  if (!s.empty() && s[0] == '[') {
    const size_t end = s.find("] ");
    if (end != std::string::npos) s.erase(0, end + 2);
  }
  return s;
}

// Shortest readable form of a bound: 2, 0.5, -100.
std::string format_bound(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::string format_value(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiError out_of_range(const std::string& param, bool is_integer, bool below, std::string_view op,
                      const std::string& bound, const json& got) {
  const std::string kind = is_integer ? "integer" : "decimal";
  const std::string where = below ? "below minimum" : "above maximum";
  return ApiError::bad_request("Invalid '" + param + "': " + kind + " " + where +
                                   " value. Expected a value " + std::string(op) + " " + bound +
                                   ", but got " + format_value(got) + " instead.",
                               param, kind + (below ? "_below_min_value" : "_above_max_value"));
}

bool contains(std::span<const std::string_view> set, std::string_view key) {
  return std::find(set.begin(), set.end(), key) != set.end();
}

const json& null_json() {
  static const json null_value;
  return null_value;
}

const json& field(const json& object, std::string_view key) {
  const auto it = object.find(key);
  return it == object.end() ? null_json() : *it;
}

}  // namespace

ApiResult<json> parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return ApiError::bad_request(
        "The request body is empty. Send a JSON object with Content-Type: application/json.", {},
        "invalid_json");
  }
  json parsed;
  try {
    const json::parser_callback_t limit_depth = [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) throw TooDeep{};
      return true;
    };
    parsed = json::parse(body.begin(), body.end(), limit_depth);
  } catch (const TooDeep&) {
    return ApiError::bad_request("The JSON body of the request is nested more than " +
                                     std::to_string(kMaxJsonDepth) + " levels deep.",
                                 {}, "invalid_json");
  } catch (const json::exception& e) {
    return ApiError::bad_request("We could not parse the JSON body of your request (" +
                                     without_exception_prefix(e.what()) +
                                     "). The API expects a JSON object encoded in UTF-8.",
                                 {}, "invalid_json");
  } catch (const std::exception&) {
    return ApiError::bad_request("We could not parse the JSON body of your request.", {},
                                 "invalid_json");
  }
  if (!parsed.is_object()) {
    return ApiError::bad_request(
        "The request body must be a JSON object, but got " + describe_type(parsed) + " instead.",
        {}, "invalid_type");
  }
  return parsed;
}

std::optional<nlohmann::ordered_json> parse_json_text(std::string_view text) {
  try {
    const nlohmann::ordered_json::parser_callback_t limit_depth =
        [](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json&) {
          if (depth > kMaxJsonDepth) throw TooDeep{};
          return true;
        };
    return nlohmann::ordered_json::parse(text.begin(), text.end(), limit_depth);
  } catch (...) {  // TooDeep, json::exception (not JSON), std::bad_alloc: not a value we take
    return std::nullopt;
  }
}

ApiResult<RequestHead> read_request_head(std::string_view body_text,
                                         std::span<const std::string_view> supported,
                                         std::span<const std::string_view> unsupported) {
  auto parsed = parse_body(body_text);
  if (!parsed.ok()) return parsed.error();
  RequestHead head{std::move(parsed.value()), {}};
  FieldReader r;
  r.check_keys(head.body, supported, unsupported);
  if (auto model = r.required_string(head.body, "model")) head.model = std::move(*model);
  if (!r.ok()) return r.error();
  return head;
}

std::string describe_type(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a decimal number";
    default:
      return "an unsupported value";
  }
}

ApiError invalid_type(const std::string& param, std::string_view expected, const json& got) {
  return ApiError::bad_request("Invalid type for '" + param + "': expected " +
                                   std::string(expected) + ", but got " + describe_type(got) +
                                   " instead.",
                               param, "invalid_type");
}

std::optional<std::string> FieldReader::required_string(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    fail(missing_parameter(key));
    return std::nullopt;
  }
  return string(object, key);
}

ApiError missing_parameter(const std::string& param) {
  return ApiError::bad_request("Missing required parameter: '" + param + "'.", param,
                               "missing_required_parameter");
}

ApiError unsupported_parameter(const std::string& param, std::string_view why) {
  std::string message = "Unsupported parameter: '" + param + "' is not supported by this server.";
  if (!why.empty()) message.append(" ").append(why);
  return ApiError::bad_request(std::move(message), param, "unsupported_parameter");
}

std::string_view unsupported_hint(std::string_view key) {
  if (key == "functions" || key == "function_call") {
    return "The deprecated 'functions' and 'function_call' are not available; use 'tools' and "
           "'tool_choice'.";
  }
  if (key == "audio" || key == "modalities") return "Only text output is available.";
  if (key == "store" || key == "metadata") return "Completions are not stored.";
  if (key == "service_tier") return "Only 'auto' and 'default' are accepted.";
  if (key == "suffix") return "Insertion (text after the completion) is not available.";
  if (key == "best_of") return "best_of must equal n (choices are not ranked on the server).";
  return {};
}

bool is_neutral(std::string_view key, const json& value) {
  if (value.is_null()) return true;
  if (key == "functions") return value.is_array() && value.empty();
  if (key == "function_call") return value == "none";
  if (key == "modalities") return value == json::array({"text"});
  if (key == "store") return value == false;
  if (key == "metadata") return value.is_object() && value.empty();
  if (key == "service_tier") return value == "auto" || value == "default";
  if (key == "suffix") return value == "";
  return false;
}

void FieldReader::fail(ApiError error) {
  if (!error_) error_ = std::move(error);
}

std::optional<double> FieldReader::number(const json& value, const std::string& param,
                                          NumberRange range) {
  if (!ok() || value.is_null()) return std::nullopt;
  if (!value.is_number()) {
    fail(invalid_type(param, "a number", value));
    return std::nullopt;
  }
  const double v = value.get<double>();
  if (!std::isfinite(v)) {
    fail(ApiError::bad_request("Invalid '" + param +
                                   "': expected a finite number, but got a number too large to "
                                   "represent instead.",
                               param, "invalid_value"));
    return std::nullopt;
  }
  if (range.min_exclusive ? v <= range.min : v < range.min) {
    fail(out_of_range(param, false, true, range.min_exclusive ? ">" : ">=", format_bound(range.min),
                      value));
    return std::nullopt;
  }
  if (range.max_exclusive ? v >= range.max : v > range.max) {
    fail(out_of_range(param, false, false,
                      range.max_exclusive ? "<" : "<=", format_bound(range.max), value));
    return std::nullopt;
  }
  return v;
}

std::optional<int64_t> FieldReader::integer(const json& value, const std::string& param,
                                            int64_t min, int64_t max) {
  if (!ok() || value.is_null()) return std::nullopt;
  int64_t v = 0;
  bool too_big = false, too_small = false;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      too_big = true;
    } else {
      v = static_cast<int64_t>(u);
    }
  } else if (value.is_number_integer()) {
    v = value.get<int64_t>();
  } else if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d)) {
      fail(ApiError::bad_request("Invalid '" + param +
                                     "': expected an integer, but got a number too large to "
                                     "represent instead.",
                                 param, "invalid_value"));
      return std::nullopt;
    }
    if (d != std::floor(d)) {
      fail(invalid_type(param, "an integer", value));
      return std::nullopt;
    }
    // 2^63 is exactly representable; anything at or beyond it does not fit in int64.
    if (!(d < 9223372036854775808.0)) {
      too_big = true;
    } else if (!(d >= -9223372036854775808.0)) {
      too_small = true;
    } else {
      v = static_cast<int64_t>(d);
    }
  } else {
    fail(invalid_type(param, "an integer", value));
    return std::nullopt;
  }
  if (too_small || (!too_big && v < min)) {
    fail(out_of_range(param, true, true, ">=", std::to_string(min), value));
    return std::nullopt;
  }
  if (too_big || v > max) {
    fail(out_of_range(param, true, false, "<=", std::to_string(max), value));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> FieldReader::boolean(const json& value, const std::string& param) {
  if (!ok() || value.is_null()) return std::nullopt;
  if (!value.is_boolean()) {
    fail(invalid_type(param, "a boolean", value));
    return std::nullopt;
  }
  return value.get<bool>();
}

std::optional<std::string> FieldReader::string(const json& value, const std::string& param) {
  if (!ok() || value.is_null()) return std::nullopt;
  if (!value.is_string()) {
    fail(invalid_type(param, "a string", value));
    return std::nullopt;
  }
  return value.get<std::string>();
}

std::optional<double> FieldReader::number(const json& object, const char* key, NumberRange range) {
  return number(field(object, key), std::string(key), range);
}
std::optional<int64_t> FieldReader::integer(const json& object, const char* key, int64_t min,
                                            int64_t max) {
  return integer(field(object, key), std::string(key), min, max);
}
std::optional<bool> FieldReader::boolean(const json& object, const char* key) {
  return boolean(field(object, key), std::string(key));
}
std::optional<std::string> FieldReader::string(const json& object, const char* key) {
  return string(field(object, key), std::string(key));
}

std::optional<std::vector<std::string>> FieldReader::stop(const json& body) {
  const json& value = field(body, "stop");
  if (!ok() || value.is_null()) return std::nullopt;
  auto non_empty = [&](const json& s, const std::string& param) -> std::optional<std::string> {
    auto text = string(s, param);
    if (text && text->empty()) {
      fail(ApiError::bad_request("Invalid '" + param +
                                     "': empty string. Expected a string with minimum length 1, "
                                     "but got an empty string instead.",
                                 param, "empty_string"));
      return std::nullopt;
    }
    return text;
  };
  std::vector<std::string> stops;
  if (value.is_string()) {
    if (auto s = non_empty(value, "stop")) stops.push_back(std::move(*s));
  } else if (value.is_array()) {
    if (value.size() > static_cast<size_t>(kMaxStops)) {
      fail(ApiError::bad_request(
          "Invalid 'stop': array too long. Expected an array with maximum length " +
              std::to_string(kMaxStops) + ", but got an array with length " +
              std::to_string(value.size()) + " instead.",
          "stop", "array_above_max_length"));
      return std::nullopt;
    }
    for (size_t i = 0; i < value.size(); ++i) {
      const std::string param = "stop[" + std::to_string(i) + "]";
      if (value[i].is_null()) {
        fail(invalid_type(param, "a string", value[i]));
        return std::nullopt;
      }
      if (auto s = non_empty(value[i], param)) stops.push_back(std::move(*s));
    }
  } else {
    fail(invalid_type("stop", "a string or an array of strings", value));
  }
  if (!ok()) return std::nullopt;
  return stops;
}

std::optional<std::vector<std::pair<int32_t, double>>> FieldReader::logit_bias(const json& body) {
  const json& value = field(body, "logit_bias");
  if (!ok() || value.is_null()) return std::nullopt;
  if (!value.is_object()) {
    fail(invalid_type("logit_bias", "an object mapping token ids to numbers", value));
    return std::nullopt;
  }
  std::vector<std::pair<int32_t, double>> biases;
  for (const auto& [key, bias] : value.items()) {
    const std::string param = "logit_bias." + key;
    // A token id: decimal digits only, fitting in int32.
    const bool digits =
        !key.empty() && key.size() <= 10 &&
        std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    const int64_t id = digits ? std::stoll(key) : -1;
    if (!digits || id > std::numeric_limits<int32_t>::max()) {
      fail(ApiError::bad_request("Invalid 'logit_bias': key '" + key +
                                     "' is not a token id. Expected keys that are non-negative "
                                     "integers written as strings, like \"50256\".",
                                 "logit_bias", "invalid_value"));
      return std::nullopt;
    }
    const auto b = number(bias, param, {-100.0, 100.0});
    if (bias.is_null()) fail(invalid_type(param, "a number", bias));
    if (!ok()) return std::nullopt;
    biases.emplace_back(static_cast<int32_t>(id), *b);
  }
  // "7" and "07" name the same token: keep one (the last), sorted by id.
  std::stable_sort(biases.begin(), biases.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<int32_t, double>> unique;
  for (const auto& entry : biases) {
    if (!unique.empty() && unique.back().first == entry.first) {
      unique.back() = entry;
    } else {
      unique.push_back(entry);
    }
  }
  return unique;
}

void FieldReader::stream_options(const json& body, bool stream, GenerationOptions& options) {
  const json& value = field(body, "stream_options");
  if (!ok() || value.is_null()) return;
  if (!stream) {
    fail(ApiError::bad_request(
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "stream_options", "invalid_value"));
    return;
  }
  if (!value.is_object()) {
    fail(invalid_type("stream_options", "an object", value));
    return;
  }
  for (const auto& [key, v] : value.items()) {
    const std::string param = "stream_options." + key;
    if (key == "include_usage") {
      if (auto b = boolean(v, param)) options.include_usage = *b;
    } else if (key == "include_obfuscation") {
      // We never add obfuscation padding; asking for it explicitly is not served.
      if (auto b = boolean(v, param); b && *b) {
        fail(unsupported_parameter(param, "Chunks never carry obfuscation padding."));
      }
    } else {
      fail(ApiError::bad_request("Unrecognized request argument supplied: " + param, param,
                                 "unknown_parameter"));
    }
  }
}

void FieldReader::common_options(const json& body, GenerationOptions& o) {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  if (auto v = number(body, "temperature", {0.0, 2.0})) o.temperature = *v;
  if (auto v = number(body, "top_p", {0.0, 1.0, true})) o.top_p = *v;
  if (auto v = integer(body, "top_k", -1, kInt32Max))
    o.top_k = static_cast<int32_t>(std::max<int64_t>(*v, 0));
  if (auto v = number(body, "min_p", {0.0, 1.0})) o.min_p = *v;
  if (auto v = number(body, "repetition_penalty", {0.0, 10.0, true})) o.repetition_penalty = *v;
  if (auto v = number(body, "presence_penalty", {-2.0, 2.0})) o.presence_penalty = *v;
  if (auto v = number(body, "frequency_penalty", {-2.0, 2.0})) o.frequency_penalty = *v;
  if (auto v = logit_bias(body)) o.logit_bias = std::move(*v);
  if (auto v = integer(body, "seed", std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max())) {
    o.seed = *v;
  }
  if (auto v = integer(body, "n", 1, kMaxChoices)) o.n = static_cast<int>(*v);
  if (auto v = stop(body)) o.stop = std::move(*v);
  if (auto v = boolean(body, "stream")) o.stream = *v;
  stream_options(body, o.stream, o);
  if (auto v = string(body, "user")) o.user = std::move(*v);
  if (auto v = string(body, "cache_salt")) o.cache_salt = std::move(*v);
  if (auto v = string(body, "prompt_cache_key")) o.prompt_cache_key = std::move(*v);
  // Hints without effect here, type-checked only.
  (void)string(body, "safety_identifier");
  if (auto v = boolean(body, "ignore_eos")) o.ignore_eos = *v;
}

void FieldReader::check_keys(const json& body, std::span<const std::string_view> supported,
                             std::span<const std::string_view> unsupported) {
  for (const auto& [key, value] : body.items()) {
    if (!ok()) return;
    if (contains(supported, key)) continue;
    if (contains(unsupported, key)) {
      if (!is_neutral(key, value)) fail(unsupported_parameter(key, unsupported_hint(key)));
      continue;
    }
    fail(ApiError::bad_request("Unrecognized request argument supplied: " + key, key,
                               "unknown_parameter"));
  }
}

}  // namespace shardserve::api::detail
