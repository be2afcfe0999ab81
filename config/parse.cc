// YAML -> ClusterConfig: the schema as tables of fields, each with a setter that checks one
// value (type, range, format). The same setters serve the file and command-line overrides.
// Checks across keys, files and models live in validate.cc.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "config/cluster_config.h"
#include "config/diagnostics.h"

namespace shardserve {
namespace {

using config_internal::Diagnostics;
using config_internal::in_quotes;
using config_internal::resolve_path;

// ---------------------------------------------------------------------------------------------
// Reading context: where messages point and where relative paths resolve.

struct Reader {
  ClusterConfig& config;
  Diagnostics& diag;
  std::string base_dir;     // for relative paths in values
  std::string fixed_where;  // non-empty: every message points here (overrides)

  std::string where(const YAML::Node& node) const {
    if (!fixed_where.empty()) return fixed_where;
    int line = node.Mark().line;
    return config.source + ":" + std::to_string(line >= 0 ? line + 1 : 1);
  }
};

// One key being read: its path, the node it came from (key node for the line) and the reader.
struct FieldCtx {
  Reader& r;
  std::string path;
  std::string where;

  void fail(std::string_view message) const { r.diag.add(where, path, message); }
};

// ---------------------------------------------------------------------------------------------
// Scalar readers. Each returns false after reporting.

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return n.Tag() == "!" ? "the quoted string " + in_quotes(n.Scalar()) : in_quotes(n.Scalar());
    default:
      return "nothing";
  }
}

bool read_int(const YAML::Node& n, const FieldCtx& c, int64_t lo, int64_t hi, int64_t& out) {
  const std::string expected = lo == 1   ? "a positive integer"
                               : lo == 0 ? "an integer >= 0"
                                         : "an integer";
  if (!n.IsScalar()) {
    c.fail("expected " + expected + ", got " + describe(n));
    return false;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") {
    c.fail("expected " + expected + ", got " + describe(n) + " (remove the quotes)");
    return false;
  }
  int64_t v = 0;
  const char* begin = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  auto [end, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (s.empty() || ec == std::errc::result_out_of_range) {
    c.fail("expected " + expected + ", got " + describe(n) + (s.empty() ? "" : " (too large)"));
    return false;
  }
  if (ec != std::errc() || end != s.data() + s.size()) {
    c.fail("expected " + expected + ", got " + describe(n));
    return false;
  }
  if (v < lo) {
    c.fail(lo == 1 ? "expected a positive integer, got " + s
                   : "must be at least " + std::to_string(lo) + ", got " + s);
    return false;
  }
  if (v > hi) {
    c.fail("must be at most " + std::to_string(hi) + ", got " + s);
    return false;
  }
  out = v;
  return true;
}

bool read_int(const YAML::Node& n, const FieldCtx& c, int64_t lo, int64_t hi, int& out) {
  int64_t v = 0;
  if (!read_int(n, c, lo, std::min<int64_t>(hi, std::numeric_limits<int>::max()), v)) return false;
  out = static_cast<int>(v);
  return true;
}

bool read_string(const YAML::Node& n, const FieldCtx& c, std::string& out) {
  if (!n.IsScalar()) {
    c.fail("expected a string, got " + describe(n));
    return false;
  }
  if (n.Scalar().empty()) {
    c.fail("must not be empty");
    return false;
  }
  out = n.Scalar();
  return true;
}

// A string without whitespace or control characters (names, ids, keys).
bool read_token(const YAML::Node& n, const FieldCtx& c, std::string& out) {
  std::string s;
  if (!read_string(n, c, s)) return false;
  for (unsigned char ch : s) {
    if (ch <= ' ' || ch == 0x7f) {
      c.fail("must not contain spaces or control characters, got " + in_quotes(s));
      return false;
    }
  }
  out = std::move(s);
  return true;
}

template <typename E>
bool read_enum(const YAML::Node& n, const FieldCtx& c,
               std::initializer_list<std::pair<std::string_view, E>> options, E& out) {
  std::string allowed;
  for (const auto& [name, value] : options) {
    if (n.IsScalar() && n.Scalar() == name) {
      out = value;
      return true;
    }
    allowed += (allowed.empty() ? "" : " | ") + std::string(name);
  }
  c.fail("expected one of " + allowed + ", got " + describe(n));
  return false;
}

// A list (null counts as empty) whose items each pass `item`.
template <typename T, typename ItemFn>
bool read_list(const YAML::Node& n, const FieldCtx& c, std::vector<T>& out, ItemFn item) {
  if (n.IsNull()) {
    out.clear();
    return true;
  }
  if (!n.IsSequence()) {
    c.fail("expected a list, got " + describe(n));
    return false;
  }
  std::vector<T> values;
  bool ok = true;
  for (size_t i = 0; i < n.size(); ++i) {
    FieldCtx ic{c.r, c.path + "[" + std::to_string(i) + "]",
                c.r.fixed_where.empty() ? c.r.where(n[i]) : c.where};
    T v{};
    if (item(n[i], ic, v))
      values.push_back(std::move(v));
    else
      ok = false;
  }
  if (ok) out = std::move(values);
  return ok;
}

bool is_valid_origin(std::string_view o) {
  if (o == "*") return true;
  size_t scheme = o.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view s = o.substr(0, scheme);
  if (s != "http" && s != "https") return false;
  std::string_view rest = o.substr(scheme + 3);
  return !rest.empty() && rest.find('/') == std::string_view::npos;
}

// tcp://HOST:PORT or ipc://PATH; error text, or "" when fine.
std::string check_endpoint(std::string_view e) {
  const std::string form = "expected tcp://HOST:PORT or ipc://PATH, got " + in_quotes(e);
  if (e.starts_with("ipc://")) return e.size() > 6 ? "" : form;
  if (!e.starts_with("tcp://")) return form;
  std::string_view hp = e.substr(6);
  size_t colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return form;
  std::string_view host = hp.substr(0, colon);
  std::string_view port = hp.substr(colon + 1);
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535)
    return "port must be 1..65535 in " + in_quotes(e);
  if (host == "*")
    return "groups connect to this address, so it must name the coordinator's host, not * "
           "(the coordinator binds the same address), got " +
           in_quotes(e);
  return "";
}

// ---------------------------------------------------------------------------------------------
// The schema.

template <typename T>
struct Field {
  std::string_view key;
  bool required;
  bool scalar_like;  // may be set by apply_override
  void (*set)(const YAML::Node& value, T& out, const FieldCtx& c);
};

const std::vector<Field<ServerConfig>>& server_fields() {
  static const std::vector<Field<ServerConfig>> fields = {
      {"host", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) { read_token(n, c, s.host); }},
      {"port", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_int(n, c, 1, 65535, s.port);
       }},
      {"api_keys", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_list(n, c, s.api_keys,
                   [](const YAML::Node& item, const FieldCtx& ic, std::string& out) {
                     return read_token(item, ic, out);
                   });
       }},
      {"cors_allow_origins", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_list(n, c, s.cors_allow_origins,
                   [](const YAML::Node& item, const FieldCtx& ic, std::string& out) {
                     if (!read_token(item, ic, out)) return false;
                     if (is_valid_origin(out)) return true;
                     ic.fail(
                         "expected \"*\" or an origin like https://chat.example.com[:PORT] "
                         "(scheme and host, no path), got " +
                         in_quotes(out));
                     return false;
                   });
       }},
      {"max_body_bytes", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_int(n, c, 1024, int64_t{1} << 30, s.max_body_bytes);
       }},
      {"max_queued_requests", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_int(n, c, 1, 1000000, s.max_queued_requests);
       }},
      {"drain_timeout_s", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_int(n, c, 0, 24 * 3600, s.drain_timeout_s);
       }},
      {"failover_timeout_s", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_int(n, c, 0, 3600, s.failover_timeout_s);
       }},
      {"idle_timeout_s", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_int(n, c, 1, 3600, s.idle_timeout_s);
       }},
      {"max_connections", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_int(n, c, 1, 1000000, s.max_connections);
       }},
      {"request_timeout_s", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         read_int(n, c, 1, 7 * 24 * 3600, s.request_timeout_s);
       }},
      {"coordinator_endpoint", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         std::string e;
         if (!read_token(n, c, e)) return;
         if (std::string err = check_endpoint(e); !err.empty()) return c.fail(err);
         s.coordinator_endpoint = e;
       }},
      {"web_root", false, true,
       [](const YAML::Node& n, ServerConfig& s, const FieldCtx& c) {
         if (n.IsNull()) {
           s.web_root.clear();
           s.web_root_path.clear();
           return;
         }
         std::string p;
         if (!read_string(n, c, p)) return;
         s.web_root = p;
         s.web_root_path = resolve_path(c.r.base_dir, p);
       }},
  };
  return fields;
}

const std::vector<Field<KnowledgeConfig>>& knowledge_fields() {
  static const std::vector<Field<KnowledgeConfig>> fields = {
      {"data_dir", false, true,
       [](const YAML::Node& n, KnowledgeConfig& k, const FieldCtx& c) {
         if (n.IsNull()) {
           k.data_dir.clear();
           k.data_dir_path.clear();
           return;
         }
         std::string p;
         if (!read_string(n, c, p)) return;
         k.data_dir = p;
         k.data_dir_path = resolve_path(c.r.base_dir, p);
       }},
      {"embedding_model", false, true,
       [](const YAML::Node& n, KnowledgeConfig& k, const FieldCtx& c) {
         if (n.IsNull()) {
           k.embedding_model.clear();
           return;
         }
         read_token(n, c, k.embedding_model);
       }},
      {"max_file_bytes", false, true,
       [](const YAML::Node& n, KnowledgeConfig& k, const FieldCtx& c) {
         read_int(n, c, 1024, int64_t{4} << 30, k.max_file_bytes);
       }},
      {"max_files", false, true,
       [](const YAML::Node& n, KnowledgeConfig& k, const FieldCtx& c) {
         read_int(n, c, 1, 10000000, k.max_files);
       }},
      {"max_vector_stores", false, true,
       [](const YAML::Node& n, KnowledgeConfig& k, const FieldCtx& c) {
         read_int(n, c, 1, 1000000, k.max_vector_stores);
       }},
      {"chunk_chars", false, true,
       [](const YAML::Node& n, KnowledgeConfig& k, const FieldCtx& c) {
         read_int(n, c, 100, 100000, k.chunk_chars);
       }},
      {"chunk_overlap_chars", false, true,
       [](const YAML::Node& n, KnowledgeConfig& k, const FieldCtx& c) {
         read_int(n, c, 0, 50000, k.chunk_overlap_chars);
       }},
  };
  return fields;
}

const std::vector<Field<ModelConfig>>& model_fields() {
  static const std::vector<Field<ModelConfig>> fields = {
      {"name", true, true,
       [](const YAML::Node& n, ModelConfig& m, const FieldCtx& c) { read_token(n, c, m.name); }},
      {"file", true, true,
       [](const YAML::Node& n, ModelConfig& m, const FieldCtx& c) {
         if (!read_string(n, c, m.file)) return;
         m.path = resolve_path(c.r.base_dir, m.file);
       }},
      {"task", false, true,
       [](const YAML::Node& n, ModelConfig& m, const FieldCtx& c) {
         read_enum(n, c, {{"chat", ModelTask::kChat}, {"embed", ModelTask::kEmbed}}, m.task);
       }},
      {"context_length", false, true,
       [](const YAML::Node& n, ModelConfig& m, const FieldCtx& c) {
         if (n.IsNull()) {
           m.context_length = 0;
           return;
         }
         read_int(n, c, 1, int64_t{1} << 24, m.context_length);
       }},
      {"chat_template", false, true,
       [](const YAML::Node& n, ModelConfig& m, const FieldCtx& c) {
         if (n.IsNull()) {
           m.chat_template.clear();
           m.chat_template_path.clear();
           return;
         }
         if (!read_string(n, c, m.chat_template)) return;
         m.chat_template_path = resolve_path(c.r.base_dir, m.chat_template);
       }},
  };
  return fields;
}

const std::vector<Field<GroupConfig>>& group_fields() {
  static const std::vector<Field<GroupConfig>> fields = {
      {"name", true, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) { read_token(n, c, g.name); }},
      {"model", true, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) { read_token(n, c, g.model); }},
      {"tp", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_int(n, c, 1, 4096, g.tp);
       }},
      {"backend", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_enum(n, c, {{"cpu", Backend::kCpu}, {"cuda", Backend::kCuda}}, g.backend);
       }},
      {"threads_per_rank", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_int(n, c, 1, 1024, g.threads_per_rank);
       }},
      {"devices", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_list(n, c, g.devices, [](const YAML::Node& item, const FieldCtx& ic, int& out) {
           return read_int(item, ic, 0, 1023, out);
         });
       }},
      {"kv_cache_mb", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_int(n, c, 1, int64_t{1} << 20, g.kv_cache_mb);
       }},
      {"max_batch", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_int(n, c, 1, 65536, g.max_batch);
       }},
      {"max_batch_tokens", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_int(n, c, 1, int64_t{1} << 20, g.max_batch_tokens);
       }},
      {"max_prefill_tokens_while_decoding", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_int(n, c, 1, int64_t{1} << 20, g.max_prefill_tokens_while_decoding);
       }},
      {"prefix_caching", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_enum(n, c, {{"true", true}, {"false", false}}, g.prefix_caching);
       }},
      {"speculative_tokens", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_int(n, c, 0, 16, g.speculative_tokens);
       }},
      {"speculative_max_batch", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_int(n, c, 1, 65536, g.speculative_max_batch);
       }},
      {"moe_split", false, true,
       [](const YAML::Node& n, GroupConfig& g, const FieldCtx& c) {
         read_enum(n, c, {{"experts", MoeSplit::kExperts}, {"slices", MoeSplit::kSlices}},
                   g.moe_split);
       }},
  };
  return fields;
}

// Edit distance, for "did you mean" hints on unknown keys.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

template <typename T>
std::string unknown_key_message(std::string_view key, const std::vector<Field<T>>& fields) {
  std::string allowed;
  std::string_view best;
  size_t best_distance = 3;  // suggest only close matches
  for (const auto& f : fields) {
    allowed += (allowed.empty() ? "" : ", ") + std::string(f.key);
    size_t d = edit_distance(key, f.key);
    if (d < best_distance) best_distance = d, best = f.key;
  }
  std::string msg = "unknown key";
  if (!best.empty()) msg += " (did you mean \"" + std::string(best) + "\"?)";
  return msg + "; allowed keys: " + allowed;
}

std::string join_path(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

// Reads mapping `map` at `path` into `out` through `fields`; records origins.
template <typename T>
void read_mapping(const YAML::Node& map, const FieldCtx& c, const std::vector<Field<T>>& fields,
                  T& out) {
  if (!map.IsMap()) {
    c.fail("expected a mapping (key: value lines), got " + describe(map));
    return;
  }
  Reader& r = c.r;
  std::map<std::string, int, std::less<>> seen;  // key -> line
  for (const auto& pair : map) {
    const YAML::Node key = pair.first;
    const std::string where = r.where(key);
    if (!key.IsScalar()) {
      r.diag.add(where, c.path, "keys must be plain words, got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string path = join_path(c.path, name);
    if (auto s = seen.find(name); s != seen.end()) {
      r.diag.add(where, path,
                 "duplicate key (first given on line " + std::to_string(s->second) + ")");
      continue;
    }
    seen.emplace(name, key.Mark().line + 1);
    auto field = std::find_if(fields.begin(), fields.end(),
                              [&](const Field<T>& f) { return f.key == name; });
    if (field == fields.end()) {
      r.diag.add(where, path, unknown_key_message(name, fields));
      continue;
    }
    r.config.origins[path] = where;
    field->set(pair.second, out, FieldCtx{r, path, where});
  }
  for (const auto& f : fields) {
    if (f.required && !seen.count(f.key))
      c.fail("missing required key \"" + std::string(f.key) + "\"");
  }
}

// Reads a list of mappings (models, groups), at least one.
template <typename T>
void read_items(const YAML::Node& list, const FieldCtx& c, const std::vector<Field<T>>& fields,
                std::vector<T>& out, std::string_view what) {
  if (!list.IsSequence()) {
    c.fail("expected a list of " + std::string(what) + " (lines starting with \"- \"), got " +
           describe(list));
    return;
  }
  if (list.size() == 0) {
    c.fail("at least one entry is required");
    return;
  }
  out.clear();
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = c.path + "[" + std::to_string(i) + "]";
    const std::string where = c.r.where(list[i]);
    c.r.config.origins[path] = where;
    out.emplace_back();
    read_mapping(list[i], FieldCtx{c.r, path, where}, fields, out.back());
  }
}

const std::vector<Field<ClusterConfig>>& top_fields() {
  static const std::vector<Field<ClusterConfig>> fields = {
      {"server", false, false,
       [](const YAML::Node& n, ClusterConfig& cfg, const FieldCtx& c) {
         if (n.IsNull()) return;  // "server:" with nothing under it: all defaults
         read_mapping(n, c, server_fields(), cfg.server);
       }},
      {"knowledge", false, false,
       [](const YAML::Node& n, ClusterConfig& cfg, const FieldCtx& c) {
         if (n.IsNull()) return;
         read_mapping(n, c, knowledge_fields(), cfg.knowledge);
       }},
      {"models", true, false,
       [](const YAML::Node& n, ClusterConfig& cfg, const FieldCtx& c) {
         read_items(n, c, model_fields(), cfg.models, "models");
       }},
      {"groups", true, false,
       [](const YAML::Node& n, ClusterConfig& cfg, const FieldCtx& c) {
         read_items(n, c, group_fields(), cfg.groups, "groups");
       }},
  };
  return fields;
}

// Parses text into `config` without cross-key validation; problems go to `diag`.
void parse_structure(std::string_view text, ClusterConfig& config, Diagnostics& diag) {
  const std::string first_line = config.source + ":1";
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
    diag.add(config.source + ":" + std::to_string(line), "",
             "YAML syntax error: " + e.msg +
                 (e.mark.column >= 0 ? " (column " + std::to_string(e.mark.column + 1) + ")" : ""));
    return;
  }
  if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
    diag.add(first_line, "",
             "the file is empty; expected a mapping with \"models\" and \"groups\"");
    return;
  }
  Reader r{config, diag, config.base_dir, ""};
  if (docs.size() > 1) {
    diag.add(r.where(docs[1]), "",
             "the file holds " + std::to_string(docs.size()) +
                 " YAML documents (separated by ---); put the whole cluster in one");
    return;
  }
  read_mapping(docs[0], FieldCtx{r, "", first_line}, top_fields(), config);
}

std::string directory_of(const std::string& source) {
  return std::filesystem::path(source).parent_path().string();
}

// ---------------------------------------------------------------------------------------------
// Overrides.

// Applies `assignment` to `config` without validating across keys; problems go to `diag`.
void apply_override_value(ClusterConfig& config, std::string_view assignment, Diagnostics& diag) {
  const std::string tag = "override " + in_quotes(assignment, 200);
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    diag.add(tag, "", "expected KEY=VALUE, e.g. server.port=9000 or groups[0].tp=2");
    return;
  }
  const std::string_view key = assignment.substr(0, eq);
  const std::string value_text(assignment.substr(eq + 1));
  Reader r{config, diag, "", tag};

  YAML::Node value;
  try {
    value = YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    diag.add(tag, key, "value is not valid YAML: " + e.msg);
    return;
  }

  // Section and optional [index-or-name] selector, then the key inside it.
  const size_t dot = key.rfind('.');
  if (dot == std::string_view::npos) {
    diag.add(tag, key,
             "cannot be overridden: give a single value like server.port, models[0].file "
             "or groups[NAME].tp");
    return;
  }
  std::string_view section = key.substr(0, dot);
  const std::string_view leaf = key.substr(dot + 1);
  std::string_view selector;
  if (size_t open = section.find('['); open != std::string_view::npos) {
    if (section.back() != ']') {
      diag.add(tag, key, "expected SECTION[INDEX or NAME].KEY");
      return;
    }
    selector = section.substr(open + 1, section.size() - open - 2);
    section = section.substr(0, open);
  }

  auto apply = [&](auto& fields, auto& target, const std::string& canonical_path) {
    auto field =
        std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.key == leaf; });
    if (field == fields.end()) {
      diag.add(tag, canonical_path, unknown_key_message(leaf, fields));
      return;
    }
    config.origins[canonical_path] = tag;
    field->set(value, target, FieldCtx{r, canonical_path, tag});
  };

  // Finds the entry `selector` names (an index, else a name) in `items`.
  auto select = [&](auto& items, std::string_view what) -> int {
    if (selector.empty()) {
      diag.add(tag, key,
               "say which entry: " + std::string(what) + "[INDEX]." + std::string(leaf) + " or " +
                   std::string(what) + "[NAME]." + std::string(leaf));
      return -1;
    }
    int index = -1;
    auto [end, ec] = std::from_chars(selector.data(), selector.data() + selector.size(), index);
    if (ec == std::errc() && end == selector.data() + selector.size()) {
      if (index >= 0 && static_cast<size_t>(index) < items.size()) return index;
      diag.add(tag, key,
               "no entry " + std::string(selector) + ": the file has " +
                   std::to_string(items.size()) + " " + std::string(what));
      return -1;
    }
    std::string names;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].name == selector) return static_cast<int>(i);
      names += (names.empty() ? "" : ", ") + items[i].name;
    }
    diag.add(tag, key,
             "no " + std::string(what) + " entry named " + in_quotes(selector) +
                 " (known: " + names + ")");
    return -1;
  };

  if (section == "server" && selector.empty()) {
    apply(server_fields(), config.server, "server." + std::string(leaf));
  } else if (section == "knowledge" && selector.empty()) {
    apply(knowledge_fields(), config.knowledge, "knowledge." + std::string(leaf));
  } else if (section == "models") {
    if (int i = select(config.models, "models"); i >= 0)
      apply(model_fields(), config.models[i],
            "models[" + std::to_string(i) + "]." + std::string(leaf));
  } else if (section == "groups") {
    if (int i = select(config.groups, "groups"); i >= 0)
      apply(group_fields(), config.groups[i],
            "groups[" + std::to_string(i) + "]." + std::string(leaf));
  } else {
    diag.add(
        tag, key,
        "unknown section; overrides start with server., knowledge., models[...]. or groups[...].");
  }
}

Result<ClusterConfig> parse_with_overrides(std::string_view text, const std::string& source,
                                           const std::vector<std::string>& overrides) {
  ClusterConfig config;
  config.source = source;
  config.base_dir = directory_of(source);
  config.server.web_root_path = resolve_path("", config.server.web_root);
  Diagnostics diag;
  parse_structure(text, config, diag);
  if (!diag.empty()) return diag.to_error();
  for (const std::string& o : overrides) apply_override_value(config, o, diag);
  if (!diag.empty()) return diag.to_error();
  if (Status s = validate_cluster_config(config); !s) return s.error();
  return config;
}

}  // namespace

Result<ClusterConfig> parse_cluster_config(std::string_view yaml_text,
                                           const std::string& source_name) {
  return parse_with_overrides(yaml_text, source_name, {});
}

Result<ClusterConfig> load_cluster_config(const std::string& path,
                                          const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return Error{path + ":1: is a directory; expected a YAML file (e.g. configs/local.yaml)"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{path + ":1: cannot open the cluster config file: " + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error{path + ":1: error reading the cluster config file"};
  return parse_with_overrides(text.str(), path, overrides);
}

Result<ClusterConfig> load_cluster_config(const std::string& path) {
  return load_cluster_config(path, {});
}

Status apply_overrides(ClusterConfig& config, const std::vector<std::string>& assignments) {
  ClusterConfig copy = config;
  Diagnostics diag;
  for (const std::string& a : assignments) apply_override_value(copy, a, diag);
  if (!diag.empty()) return diag.to_error();
  if (Status s = validate_cluster_config(copy); !s) {
    // Name the overrides on every line: they are what made the config invalid.
    std::string tag = assignments.size() == 1 ? "override " : "overrides ";
    for (size_t i = 0; i < assignments.size(); ++i)
      tag += (i ? ", " : "") + in_quotes(assignments[i], 200);
    std::string out;
    std::istringstream lines(s.message());
    for (std::string line; std::getline(lines, line);) {
      if (!out.empty()) out += '\n';
      out += line.starts_with("override \"") ? line : tag + ": " + line;
    }
    return Error{out};
  }
  config = std::move(copy);
  return {};
}

Status apply_override(ClusterConfig& config, std::string_view assignment) {
  return apply_overrides(config, {std::string(assignment)});
}

}  // namespace shardserve
