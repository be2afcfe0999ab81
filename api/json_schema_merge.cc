// Schema helpers: annotations, local $ref resolution, allOf merging.
#include "api/json_schema_merge.h"

#include <algorithm>
#include <array>
#include <vector>

namespace shardserve::api::json_grammar {

namespace {

constexpr int kMaxMergeDepth = 32;

Error keyword_error(const std::string& path, std::string_view keyword, const std::string& why) {
  return Error::invalid_input(path + ": keyword '" + std::string(keyword) +
                              "' cannot be enforced: " + why);
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// JSON pointer tokens with %XX (URI fragment) and ~1 ~0 escapes decoded.
std::vector<std::string> split_pointer(std::string_view pointer) {  // after "#/"
  std::vector<std::string> tokens(1);
  for (size_t i = 0; i < pointer.size(); ++i) {
    const char c = pointer[i];
    if (c == '/') {
      tokens.emplace_back();
    } else if (c == '%' && i + 2 < pointer.size() && is_hex(pointer[i + 1]) &&
               is_hex(pointer[i + 2])) {
      tokens.back() += static_cast<char>(std::stoi(std::string(pointer.substr(i + 1, 2)), 0, 16));
      i += 2;
    } else {
      tokens.back() += c;
    }
  }
  for (auto& token : tokens) {  // ~1 -> '/', then ~0 -> '~'
    std::string out;
    for (size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
        out += token[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        out += token[i];
      }
    }
    token = std::move(out);
  }
  return tokens;
}

// "const" folded into "enum", so that merging has one keyword for both.
Result<ordered_json> without_const(ordered_json part, const std::string& path) {
  if (!part.is_object() || !part.contains("const")) return part;
  ordered_json values = ordered_json::array({part["const"]});
  if (part.contains("enum")) {
    if (!part["enum"].is_array()) return keyword_error(path, "enum", "it must be an array");
    ordered_json kept = ordered_json::array();
    for (const auto& v : part["enum"]) {
      if (v == part["const"]) kept.push_back(v);
    }
    values = kept;
  }
  part.erase("const");
  part["enum"] = values;
  return part;
}

// Flattens `schema` into `parts`: $ref targets and allOf members become parts of their own.
// `site` is where the merge started: the path named when the nesting is too deep.
Status collect(const ordered_json& root, const ordered_json& schema, const std::string& path,
               const std::string& site, int depth, std::vector<ordered_json>& parts) {
  if (depth > kMaxMergeDepth) {
    return keyword_error(site, "allOf", "allOf and $ref nest more than 32 deep (a $ref cycle?)");
  }
  if (!schema.is_object()) {
    if (!schema.is_boolean()) {
      return Error::invalid_input(path + ": a schema must be an object or a boolean");
    }
    parts.push_back(schema);
    return Status::Ok();
  }
  ordered_json rest = schema;
  if (rest.contains("$ref")) {
    const auto& ref = rest["$ref"];
    const ordered_json* target =
        ref.is_string() ? resolve_ref(root, ref.get<std::string>()) : nullptr;
    if (target == nullptr) {
      return keyword_error(path, "$ref", "only local references (\"#/$defs/Name\") are supported");
    }
    Status status = collect(root, *target, path, site, depth + 1, parts);
    if (!status.ok()) return status;
    rest.erase("$ref");
  }
  if (rest.contains("allOf")) {
    const ordered_json all = rest["allOf"];
    if (!all.is_array() || all.empty()) {
      return keyword_error(path, "allOf", "it must be a non-empty array of schemas");
    }
    rest.erase("allOf");
    for (size_t i = 0; i < all.size(); ++i) {
      Status status =
          collect(root, all[i], path + ".allOf[" + std::to_string(i) + "]", site, depth + 1, parts);
      if (!status.ok()) return status;
    }
  }
  auto normalized = without_const(std::move(rest), path);
  if (!normalized.ok()) return normalized.error();
  parts.push_back(std::move(normalized).value());
  return Status::Ok();
}

ordered_json both(const ordered_json& a, const ordered_json& b) {
  if (accepts_everything(a)) return b;
  if (accepts_everything(b)) return a;
  return ordered_json{{"allOf", ordered_json::array({a, b})}};
}

std::vector<std::string> types_of(const ordered_json& type) {
  std::vector<std::string> out;
  if (type.is_string()) out.push_back(type.get<std::string>());
  if (type.is_array()) {
    for (const auto& t : type) {
      if (t.is_string()) out.push_back(t.get<std::string>());
    }
  }
  return out;
}

Result<ordered_json> intersect_types(const ordered_json& a, const ordered_json& b,
                                     const std::string& path) {
  const auto ta = types_of(a);
  const auto tb = types_of(b);
  auto has = [](const std::vector<std::string>& v, const std::string& t) {
    return std::find(v.begin(), v.end(), t) != v.end();
  };
  ordered_json out = ordered_json::array();
  for (const auto& t : ta) {
    const bool keep = has(tb, t) || (t == "integer" && has(tb, "number"));
    if (keep && !has(types_of(out), t)) out.push_back(t);
    if (t == "number" && has(tb, "integer") && !has(types_of(out), "integer")) {
      out.push_back("integer");
    }
  }
  if (out.empty()) return keyword_error(path, "allOf", "the parts allow no common 'type'");
  if (out.size() == 1) return out[0];
  return out;
}

// The schema `part` gives property `name`: its own, else additionalProperties, else true.
ordered_json property_schema(const ordered_json& part, const std::string& name) {
  if (part.contains("properties") && part["properties"].contains(name)) {
    return part["properties"][name];
  }
  if (part.contains("additionalProperties")) return part["additionalProperties"];
  return true;
}

Status merge_properties(const ordered_json& a, const ordered_json& b, ordered_json& out,
                        const std::string& path) {
  const char* kKeys[] = {"properties", "additionalProperties"};
  if (std::none_of(std::begin(kKeys), std::end(kKeys),
                   [&](const char* k) { return a.contains(k) || b.contains(k); })) {
    return Status::Ok();
  }
  std::vector<std::string> names;
  for (const ordered_json* part : {&a, &b}) {
    if (!part->contains("properties")) continue;
    if (!(*part)["properties"].is_object()) {
      return Error::invalid_input(path + ": keyword 'properties' must be an object");
    }
    for (const auto& [name, schema] : (*part)["properties"].items()) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  const ordered_json& required = out.contains("required") ? out["required"] : ordered_json();
  ordered_json properties = ordered_json::object();
  for (const auto& name : names) {
    const ordered_json sa = property_schema(a, name);
    const ordered_json sb = property_schema(b, name);
    if (sa == false || sb == false) {
      if (required.is_array() &&
          std::find(required.begin(), required.end(), name) != required.end()) {
        return keyword_error(
            path, "allOf",
            "property '" + name + "' is required by one part " + "and forbidden by another");
      }
      continue;
    }
    properties[name] = both(sa, sb);
  }
  out.erase("properties");
  out.erase("additionalProperties");
  if (a.contains("properties") || b.contains("properties")) out["properties"] = properties;
  if (a.contains("additionalProperties") || b.contains("additionalProperties")) {
    const ordered_json xa =
        a.contains("additionalProperties") ? a["additionalProperties"] : ordered_json(true);
    const ordered_json xb =
        b.contains("additionalProperties") ? b["additionalProperties"] : ordered_json(true);
    out["additionalProperties"] = (xa == false || xb == false) ? ordered_json(false) : both(xa, xb);
  }
  return Status::Ok();
}

Result<ordered_json> merge_two(const ordered_json& a, const ordered_json& b,
                               const std::string& path) {
  static constexpr std::array<std::string_view, 4> kLower = {"minimum", "minLength", "minItems",
                                                             "exclusiveMinimum"};
  static constexpr std::array<std::string_view, 4> kUpper = {"maximum", "maxLength", "maxItems",
                                                             "exclusiveMaximum"};
  auto listed = [](const auto& list, const std::string& key) {
    return std::find(list.begin(), list.end(), key) != list.end();
  };
  ordered_json out = a;
  for (const auto& [key, vb] : b.items()) {
    if (key == "properties" || key == "additionalProperties") continue;
    if (!out.contains(key)) {
      out[key] = vb;
      continue;
    }
    const ordered_json va = out[key];
    if (is_annotation_keyword(key) || va == vb) continue;
    if (key == "type") {
      auto type = intersect_types(va, vb, path);
      if (!type.ok()) return type.error();
      out[key] = *type;
    } else if (key == "enum") {
      if (!va.is_array() || !vb.is_array()) return keyword_error(path, key, "it must be an array");
      ordered_json kept = ordered_json::array();
      for (const auto& v : va) {
        if (std::find(vb.begin(), vb.end(), v) != vb.end()) kept.push_back(v);
      }
      out[key] = kept;
    } else if (key == "required" && va.is_array() && vb.is_array()) {
      for (const auto& name : vb) {
        if (std::find(va.begin(), va.end(), name) == va.end()) out[key].push_back(name);
      }
    } else if ((listed(kLower, key) || listed(kUpper, key)) && va.is_boolean() && vb.is_boolean()) {
      out[key] = va.get<bool>() || vb.get<bool>();  // draft 4 exclusive flags: the stricter
    } else if (listed(kLower, key) && va.is_number() && vb.is_number()) {
      out[key] = va > vb ? va : vb;
    } else if (listed(kUpper, key) && va.is_number() && vb.is_number()) {
      out[key] = va < vb ? va : vb;
    } else if (key == "items" || key == "additionalItems") {
      out[key] = both(va, vb);
    } else {
      return keyword_error(path, "allOf", "the parts have different '" + key + "' values");
    }
  }
  Status status = merge_properties(a, b, out, path);
  if (!status.ok()) return status.error();
  return out;
}

}  // namespace

bool is_annotation_keyword(std::string_view keyword) {
  static constexpr std::array<std::string_view, 19> kAnnotations = {
      "title", "description", "default", "examples", "example", "$schema", "$id", "$comment",
      "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "$anchor", "$dynamicAnchor",
      "$recursiveAnchor", "$vocabulary", "discriminator",
      // OpenAPI 3.0: "nullable": true widens the type to null; not allowing null keeps every
      // value valid, so it may be ignored.
      "nullable"};
  if (keyword.substr(0, 2) == "x-") return true;
  return std::find(kAnnotations.begin(), kAnnotations.end(), keyword) != kAnnotations.end();
}

bool accepts_everything(const ordered_json& schema) {
  if (schema.is_boolean()) return schema.get<bool>();
  if (!schema.is_object()) return false;
  for (const auto& [key, value] : schema.items()) {
    if (!is_annotation_keyword(key)) return false;
  }
  return true;
}

const ordered_json* resolve_ref(const ordered_json& root, std::string_view ref) {
  if (ref == "#") return &root;
  if (ref.substr(0, 2) != "#/") return nullptr;
  const ordered_json* node = &root;
  for (const auto& token : split_pointer(ref.substr(2))) {
    if (node->is_object()) {
      const auto it = node->find(token);
      if (it == node->end()) return nullptr;
      node = &*it;
    } else if (node->is_array()) {
      if (token.empty() || token.size() > 9 ||
          !std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return nullptr;
      }
      const size_t index = std::stoul(token);
      if (index >= node->size()) return nullptr;
      node = &(*node)[index];
    } else {
      return nullptr;
    }
  }
  return node;
}

std::string ref_path(std::string_view root_path, std::string_view ref) {
  std::string out(root_path);
  if (ref.substr(0, 2) != "#/") return out;
  for (const auto& token : split_pointer(ref.substr(2))) out += "." + token;
  return out;
}

Result<ordered_json> merge_all_of(const ordered_json& root, const ordered_json& schema,
                                  const std::string& path) {
  std::vector<ordered_json> parts;
  Status status = collect(root, schema, path, path, 0, parts);
  if (!status.ok()) return status.error();
  ordered_json merged = true;
  for (const auto& part : parts) {
    if (part == false) return keyword_error(path, "allOf", "a part is 'false' and matches nothing");
    if (part == true) continue;
    if (merged == true) {
      merged = part;
      continue;
    }
    auto next = merge_two(merged, part, path);
    if (!next.ok()) return next.error();
    merged = std::move(next).value();
  }
  return merged;
}

}  // namespace shardserve::api::json_grammar
