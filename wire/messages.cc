#include "wire/messages.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

namespace shardserve::wire {
namespace {

using nlohmann::json;

enum Type : uint8_t {
  kHello = 1,
  kGroupHeartbeat = 2,
  kTokenEvents = 3,
  kRejected = 4,
  kGoodbye = 5,
  kEmbeddings = 6,
  kWelcome = 16,
  kSubmit = 17,
  kCancel = 18,
  kCoordinatorHeartbeat = 19,
  kShutdown = 20,
  kEmbed = 21,
};

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxText = 4096;        // names, reasons
constexpr size_t kMaxGrammar = 1 << 20;  // a request's GBNF grammar
constexpr int kMaxDepth = 8;             // the deepest message (TokenEvents) nests 7 arrays

// ---- encoding ---------------------------------------------------------------------------

json header(Type type) {
  json j = json::array();
  j.push_back(kProtocolVersion);
  j.push_back(static_cast<uint32_t>(type));
  return j;
}

json token_array(const std::vector<TokenId>& tokens) {
  json::array_t a;
  a.reserve(tokens.size());
  for (TokenId t : tokens) a.emplace_back(t);
  return a;
}

json sampling_json(const SamplingParams& s) {
  json::array_t bias;
  bias.reserve(s.logit_bias.size());
  for (const auto& [token, value] : s.logit_bias) bias.push_back(json::array({token, value}));
  return json::array({s.temperature, s.top_k, s.top_p, s.min_p, s.repetition_penalty,
                      s.presence_penalty, s.frequency_penalty, s.penalty_last_n, std::move(bias),
                      s.seed, s.logprobs, s.top_logprobs});
}

json top_json(const std::vector<TokenLogprob>& top) {
  json::array_t a;
  a.reserve(top.size());
  for (const TokenLogprob& t : top) a.push_back(json::array({t.token, t.logprob}));
  return a;
}

json event_json(const TokenEvent& e) {
  json::array_t scores;
  scores.reserve(e.prompt_scores.size());
  for (const ScoredToken& s : e.prompt_scores)
    scores.push_back(json::array({s.token, s.logprob, top_json(s.top)}));
  return json::array({e.id, e.token, e.logprob, top_json(e.top), static_cast<uint8_t>(e.finish),
                      e.prompt_tokens, e.generated_tokens, std::move(scores), e.cached_tokens});
}

// An absent figure is nil.
template <typename T>
json optional_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json gpus_json(const std::vector<GpuReading>& gpus) {
  json::array_t a;
  a.reserve(gpus.size());
  for (const GpuReading& g : gpus) {
    a.push_back(
        json::array({g.device, g.name, optional_json(g.memory_used_bytes),
                     optional_json(g.memory_total_bytes), optional_json(g.utilization),
                     optional_json(g.memory_utilization), optional_json(g.temperature_celsius),
                     optional_json(g.power_watts), optional_json(g.power_limit_watts)}));
  }
  return a;
}

// float32 values as a MessagePack bin of their little-endian bytes.
json float_bytes(const std::vector<float>& values) {
  static_assert(std::endian::native == std::endian::little, "wire floats are little-endian");
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return json::binary(std::move(bytes));
}

std::string pack(const json& j) {
  std::string out;
  json::to_msgpack(j, out);
  return out;
}

// ---- parsing ----------------------------------------------------------------------------

// A value for an error message: never throws (invalid UTF-8 is replaced), at most 40 bytes.
std::string show(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// Builds the DOM like json::from_msgpack, but stops at kMaxDepth nested containers and
// kMaxValues values, so hostile input can neither overflow the (recursive) reader's stack nor
// blow up memory.
class BoundedDomParser {
 public:
  explicit BoundedDomParser(json& root) : dom_(root, /*allow_exceptions=*/false) {}

  bool null() { return count() && dom_.null(); }
  bool boolean(bool v) { return count() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return count() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return count() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return count() && dom_.number_float(v, s);
  }
  bool string(json::string_t& v) { return count() && dom_.string(v); }
  bool binary(json::binary_t& v) { return count() && dom_.binary(v); }
  bool start_object(std::size_t n) { return enter() && dom_.start_object(n); }
  bool key(json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  bool count() {
    if (++values_ <= kMaxValues) return true;
    error_ = "more than " + std::to_string(kMaxValues) + " values";
    return false;
  }
  bool enter() {
    if (!count()) return false;
    if (++depth_ <= kMaxDepth) return true;
    error_ = "arrays nested deeper than " + std::to_string(kMaxDepth);
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int depth_ = 0;
  int64_t values_ = 0;
  std::string error_;
};

Result<json> parse(std::string_view bytes) {
  if (bytes.empty()) return Error{"wire: empty message"};
  if (static_cast<int64_t>(bytes.size()) > kMaxMessageBytes)
    return Error{"wire: message of " + std::to_string(bytes.size()) + " bytes exceeds the limit"};
  json root;
  BoundedDomParser sax(root);
  bool ok = false;
  try {
    ok = json::sax_parse(bytes.begin(), bytes.end(), &sax, nlohmann::json::input_format_t::msgpack,
                         /*strict=*/true);
  } catch (const std::exception& e) {  // json's size checks throw even without exceptions
    return Error{std::string("wire: not MessagePack: ") + e.what()};
  }
  if (!ok) {
    return Error{"wire: not MessagePack: " +
                 (sax.error().empty() ? std::string("malformed") : sax.error())};
  }
  return root;
}

// Reads fields of one message and remembers the first error. After an error every read
// returns a harmless default, so decoders can read straight through and check ok() at the end.
class Reader {
 public:
  explicit Reader(const char* message) : message_(message) {}

  bool ok() const { return error_.empty(); }
  Error error() const { return Error{error_}; }

  // Names the element of a list being read: "TokenEvents.events[3].token".
  void enter(const char* list, size_t index) {
    list_ = list;
    index_ = index;
  }
  void leave() { list_ = nullptr; }

  const json& array(const json& j, const char* field, size_t min_size, size_t max_size) {
    static const json kEmpty = json::array();
    if (!ok()) return kEmpty;
    if (!j.is_array()) {
      fail(field, "expected an array, got " + type_of(j));
      return kEmpty;
    }
    if (j.size() < min_size || j.size() > max_size) {
      std::string want = std::to_string(min_size);
      if (max_size != min_size)
        want += max_size == SIZE_MAX ? " or more" : " to " + std::to_string(max_size);
      fail(field, "expected " + want + " elements, got " + std::to_string(j.size()));
      return kEmpty;
    }
    return j;
  }

  int64_t integer(const json& j, const char* field, int64_t lo, int64_t hi) {
    if (!ok()) return lo;
    bool in_range = false;
    int64_t v = 0;
    if (j.is_number_unsigned()) {
      const uint64_t u = j.get<uint64_t>();
      in_range = u <= static_cast<uint64_t>(hi) && (lo <= 0 || u >= static_cast<uint64_t>(lo));
      v = in_range ? static_cast<int64_t>(u) : 0;
    } else if (j.is_number_integer()) {
      v = j.get<int64_t>();
      in_range = v >= lo && v <= hi;
    } else {
      fail(field, "expected an integer, got " + type_of(j));
      return lo;
    }
    if (!in_range) {
      fail(field, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "], got " + show(j));
      return lo;
    }
    return v;
  }

  bool boolean(const json& j, const char* field) {
    if (!ok()) return false;
    if (!j.is_boolean()) {
      fail(field, "expected true or false, got " + type_of(j));
      return false;
    }
    return j.get<bool>();
  }

  uint64_t unsigned64(const json& j, const char* field, uint64_t lo) {
    if (!ok()) return lo;
    if (!j.is_number_unsigned() || j.get<uint64_t>() < lo) {
      fail(field, "expected an integer >= " + std::to_string(lo) + ", got " + describe(j));
      return lo;
    }
    return j.get<uint64_t>();
  }

  // finite: reject NaN and infinities; otherwise only NaN is rejected.
  float real(const json& j, const char* field, bool finite) {
    if (!ok()) return 0.0f;
    if (!j.is_number()) {
      fail(field, "expected a number, got " + type_of(j));
      return 0.0f;
    }
    const double d = j.get<double>();
    const float f = static_cast<float>(d);
    if (std::isnan(d) || (finite && !std::isfinite(f))) {
      fail(field,
           std::string("expected a ") + (finite ? "finite " : "") + "number, got " + show(j));
      return 0.0f;
    }
    return f;
  }

  // nil, or an integer in [lo, hi].
  std::optional<int64_t> optional_integer(const json& j, const char* field, int64_t lo,
                                          int64_t hi) {
    if (j.is_null() || !ok()) return std::nullopt;
    const int64_t v = integer(j, field, lo, hi);
    return ok() ? std::optional<int64_t>(v) : std::nullopt;
  }

  // nil, or a finite number in [lo, hi] (kept as a double).
  std::optional<double> optional_real(const json& j, const char* field, double lo, double hi) {
    if (j.is_null() || !ok()) return std::nullopt;
    if (!j.is_number()) {
      fail(field, "expected a number or nil, got " + type_of(j));
      return std::nullopt;
    }
    const double d = j.get<double>();
    if (!std::isfinite(d) || d < lo || d > hi) {
      fail(field, "expected a finite number in [" + show(json(lo)) + ", " + show(json(hi)) +
                      "], got " + show(j));
      return std::nullopt;
    }
    return d;
  }

  std::string text(const json& j, const char* field, bool non_empty, size_t max_bytes = kMaxText) {
    if (!ok()) return {};
    if (!j.is_string()) {
      fail(field, "expected a string, got " + type_of(j));
      return {};
    }
    const std::string& s = j.get_ref<const std::string&>();
    if (s.size() > max_bytes) {
      fail(field, "string of " + std::to_string(s.size()) + " bytes is too long");
      return {};
    }
    if (non_empty && s.empty()) {
      fail(field, "must not be empty");
      return {};
    }
    return s;
  }

  // A bin of exactly n little-endian float32 values.
  std::vector<float> floats(const json& j, const char* field, size_t n) {
    if (!ok()) return {};
    if (!j.is_binary()) {
      fail(field, "expected binary float32 data, got " + type_of(j));
      return {};
    }
    const auto& bytes = j.get_binary();
    if (bytes.size() != n * sizeof(float)) {
      fail(field, "expected " + std::to_string(n) + " float32 values (" +
                      std::to_string(n * sizeof(float)) + " bytes), got " +
                      std::to_string(bytes.size()) + " bytes");
      return {};
    }
    std::vector<float> out(n);
    if (n) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }

  std::vector<TokenId> tokens(const json& j, const char* field, bool non_empty) {
    std::vector<TokenId> out;
    const json& a = array(j, field, non_empty ? 1 : 0, SIZE_MAX);
    out.reserve(a.size());
    for (const json& t : a) {
      out.push_back(static_cast<TokenId>(integer(t, field, 0, kInt32Max)));
      if (!ok()) return {};
    }
    return out;
  }

 private:
  static std::string type_of(const json& j) {
    return j.is_number_float() ? "a float" : std::string(j.type_name());
  }
  static std::string describe(const json& j) { return j.is_number() ? show(j) : type_of(j); }
  void fail(const char* field, const std::string& what) {
    if (!ok()) return;
    error_ = std::string("wire: ") + message_ + ".";
    if (list_) error_ += std::string(list_) + "[" + std::to_string(index_) + "].";
    error_ += std::string(field) + ": " + what;
  }

  const char* message_;
  const char* list_ = nullptr;
  size_t index_ = 0;
  std::string error_;
};

// ---- per-message decoders: `m` is the whole message array, size already checked ----------

Hello read_hello(Reader& r, const json& m) {
  Hello h;
  h.group_name = r.text(m[2], "group_name", true);
  h.model = r.text(m[3], "model", true);
  h.tp = r.integer(m[4], "tp", 1, kInt32Max);
  h.max_batch = r.integer(m[5], "max_batch", 1, kInt64Max);
  h.kv_blocks = r.integer(m[6], "kv_blocks", 1, kInt64Max);
  h.block_size = r.integer(m[7], "block_size", 1, kInt64Max);
  h.context_length = r.integer(m[8], "context_length", 1, kInt64Max);
  h.n_vocab = r.integer(m[9], "n_vocab", 1, kInt32Max);
  return h;
}

GroupHeartbeat read_group_heartbeat(Reader& r, const json& m) {
  GroupHeartbeat h;
  h.running = r.integer(m[2], "running", 0, kInt64Max);
  h.waiting = r.integer(m[3], "waiting", 0, kInt64Max);
  h.kv_used_blocks = r.integer(m[4], "kv_used_blocks", 0, kInt64Max);
  h.kv_total_blocks = r.integer(m[5], "kv_total_blocks", 0, kInt64Max);
  h.steps = r.integer(m[6], "steps", 0, kInt64Max);
  h.prefix_prompt_tokens = r.integer(m[7], "prefix_prompt_tokens", 0, kInt64Max);
  h.prefix_hit_tokens = r.integer(m[8], "prefix_hit_tokens", 0, kInt64Max);
  h.kv_cached_blocks = r.integer(m[9], "kv_cached_blocks", 0, kInt64Max);
  h.spec_proposed_tokens = r.integer(m[10], "spec_proposed_tokens", 0, kInt64Max);
  h.spec_accepted_tokens = r.integer(m[11], "spec_accepted_tokens", 0, kInt64Max);
  const json& gpus = r.array(m[12], "gpus", 0, kMaxGpuReadings);
  h.gpus.reserve(gpus.size());
  constexpr double kHuge = 1e9;  // watts, degrees: anything a sensor could mean
  for (size_t i = 0; i < gpus.size() && r.ok(); ++i) {
    r.enter("gpus", i);
    const json& g = r.array(gpus[i], "gpu", 9, 9);
    if (!r.ok()) break;
    GpuReading gpu;
    gpu.device = r.integer(g[0], "device", 0, kInt32Max);
    gpu.name = r.text(g[1], "name", false, 256);
    gpu.memory_used_bytes = r.optional_integer(g[2], "memory_used_bytes", 0, kInt64Max);
    gpu.memory_total_bytes = r.optional_integer(g[3], "memory_total_bytes", 0, kInt64Max);
    gpu.utilization = r.optional_real(g[4], "utilization", 0, 1);
    gpu.memory_utilization = r.optional_real(g[5], "memory_utilization", 0, 1);
    gpu.temperature_celsius = r.optional_real(g[6], "temperature_celsius", -kHuge, kHuge);
    gpu.power_watts = r.optional_real(g[7], "power_watts", 0, kHuge);
    gpu.power_limit_watts = r.optional_real(g[8], "power_limit_watts", 0, kHuge);
    h.gpus.push_back(std::move(gpu));
  }
  r.leave();
  return h;
}

// [[token, logprob]...], at most 20 pairs.
// `field`, `token_field` and `logprob_field` name the list and a pair's two values in errors.
std::vector<TokenLogprob> read_top(Reader& r, const json& j, const char* field,
                                   const char* token_field, const char* logprob_field) {
  std::vector<TokenLogprob> out;
  const json& top = r.array(j, field, 0, 20);
  out.reserve(top.size());
  for (size_t k = 0; k < top.size() && r.ok(); ++k) {
    const json& pair = r.array(top[k], field, 2, 2);
    if (!r.ok()) break;
    TokenLogprob t;
    t.token = static_cast<TokenId>(r.integer(pair[0], token_field, 0, kInt32Max));
    t.logprob = r.real(pair[1], logprob_field, false);
    out.push_back(t);
  }
  return out;
}

TokenEvents read_token_events(Reader& r, const json& m) {
  TokenEvents out;
  out.step = r.unsigned64(m[2], "step", 0);
  const json& events = r.array(m[3], "events", 0, SIZE_MAX);
  out.events.reserve(events.size());
  for (size_t i = 0; i < events.size() && r.ok(); ++i) {
    r.enter("events", i);
    const json& e = r.array(events[i], "event", 9, 9);
    if (!r.ok()) break;
    TokenEvent ev;
    ev.id = r.integer(e[0], "id", 0, kInt64Max);
    ev.token = static_cast<TokenId>(r.integer(e[1], "token", -1, kInt32Max));
    ev.logprob = r.real(e[2], "logprob", false);
    ev.top = read_top(r, e[3], "top", "top.token", "top.logprob");
    ev.finish = static_cast<FinishReason>(
        r.integer(e[4], "finish", 0, static_cast<int64_t>(FinishReason::Cancelled)));
    ev.prompt_tokens = r.integer(e[5], "prompt_tokens", 0, kInt64Max);
    ev.generated_tokens = r.integer(e[6], "generated_tokens", 0, kInt64Max);
    const json& scores = r.array(e[7], "prompt_scores", 0, SIZE_MAX);
    ev.prompt_scores.reserve(scores.size());
    for (size_t k = 0; k < scores.size() && r.ok(); ++k) {
      const json& s = r.array(scores[k], "prompt_scores", 3, 3);
      if (!r.ok()) break;
      ScoredToken scored;
      scored.token = static_cast<TokenId>(r.integer(s[0], "prompt_scores.token", 0, kInt32Max));
      scored.logprob = r.real(s[1], "prompt_scores.logprob", false);
      scored.top = read_top(r, s[2], "prompt_scores.top", "prompt_scores.top.token",
                            "prompt_scores.top.logprob");
      ev.prompt_scores.push_back(std::move(scored));
    }
    ev.cached_tokens = r.integer(e[8], "cached_tokens", 0, kInt64Max);
    out.events.push_back(std::move(ev));
  }
  r.leave();
  return out;
}

Rejected read_rejected(Reader& r, const json& m) {
  Rejected out;
  out.request_id = r.integer(m[2], "request_id", 0, kInt64Max);
  out.reason = r.text(m[3], "reason", false);
  out.code = static_cast<ErrorCode>(
      r.integer(m[4], "code", 0, static_cast<int64_t>(ErrorCode::kUnavailable)));
  return out;
}

SamplingParams read_sampling(Reader& r, const json& j) {
  SamplingParams s;
  const json& a = r.array(j, "sampling", 12, 12);
  if (!r.ok()) return s;
  s.temperature = r.real(a[0], "sampling.temperature", true);
  s.top_k = static_cast<int32_t>(r.integer(a[1], "sampling.top_k", 0, kInt32Max));
  s.top_p = r.real(a[2], "sampling.top_p", true);
  s.min_p = r.real(a[3], "sampling.min_p", true);
  s.repetition_penalty = r.real(a[4], "sampling.repetition_penalty", true);
  s.presence_penalty = r.real(a[5], "sampling.presence_penalty", true);
  s.frequency_penalty = r.real(a[6], "sampling.frequency_penalty", true);
  s.penalty_last_n =
      static_cast<int32_t>(r.integer(a[7], "sampling.penalty_last_n", -1, kInt32Max));
  const json& bias = r.array(a[8], "sampling.logit_bias", 0, SIZE_MAX);
  s.logit_bias.reserve(bias.size());
  for (size_t i = 0; i < bias.size() && r.ok(); ++i) {
    const json& pair = r.array(bias[i], "sampling.logit_bias", 2, 2);
    if (!r.ok()) break;
    const auto token =
        static_cast<TokenId>(r.integer(pair[0], "sampling.logit_bias.token", 0, kInt32Max));
    const float value = r.real(pair[1], "sampling.logit_bias.bias", false);
    s.logit_bias.emplace_back(token, value);
  }
  s.seed = r.unsigned64(a[9], "sampling.seed", 0);
  s.logprobs = r.boolean(a[10], "sampling.logprobs");
  s.top_logprobs = static_cast<int32_t>(r.integer(a[11], "sampling.top_logprobs", 0, 20));
  return s;
}

Embeddings read_embeddings(Reader& r, const json& m) {
  Embeddings out;
  out.step = r.unsigned64(m[2], "step", 0);
  out.dim = r.integer(m[3], "dim", 1, kInt32Max);
  const json& results = r.array(m[4], "results", 0, SIZE_MAX);
  out.results.reserve(results.size());
  for (size_t i = 0; i < results.size() && r.ok(); ++i) {
    r.enter("results", i);
    const json& e = r.array(results[i], "result", 3, 3);
    if (!r.ok()) break;
    EmbeddingResult result;
    result.id = r.integer(e[0], "id", 0, kInt64Max);
    result.n_tokens = r.integer(e[1], "n_tokens", 1, kInt64Max);
    result.embedding = r.floats(e[2], "embedding", static_cast<size_t>(out.dim));
    out.results.push_back(std::move(result));
  }
  r.leave();
  return out;
}

Submit read_submit(Reader& r, const json& m) {
  Submit out;
  SequenceRequest& q = out.request;
  q.id = r.integer(m[2], "id", 0, kInt64Max);
  q.prompt = r.tokens(m[3], "prompt", true);
  q.sampling = read_sampling(r, m[4]);
  q.max_tokens = r.integer(m[5], "max_tokens", 0, kInt64Max);
  q.stop_tokens = r.tokens(m[6], "stop_tokens", false);
  q.grammar = r.text(m[7], "grammar", false, kMaxGrammar);
  q.score_prompt = r.boolean(m[8], "score_prompt");
  q.cache_salt = r.unsigned64(m[9], "cache_salt", 0);
  q.resume_tokens = r.tokens(m[10], "resume_tokens", false);
  return out;
}

// What every message type looks like on the wire.
struct Layout {
  Type type;
  const char* name;
  size_t fields;  // after the header
  bool up;        // group -> coordinator
};

constexpr Layout kLayouts[] = {
    {kHello, "Hello", 8, true},
    {kGroupHeartbeat, "GroupHeartbeat", 11, true},
    {kTokenEvents, "TokenEvents", 2, true},
    {kRejected, "Rejected", 3, true},
    {kGoodbye, "Goodbye", 0, true},
    {kEmbeddings, "Embeddings", 3, true},
    {kWelcome, "Welcome", 1, false},
    {kSubmit, "Submit", 9, false},
    {kCancel, "Cancel", 1, false},
    {kCoordinatorHeartbeat, "CoordinatorHeartbeat", 1, false},
    {kShutdown, "Shutdown", 0, false},
    {kEmbed, "Embed", 2, false},
};

const Layout* layout_of(uint64_t type) {
  for (const Layout& layout : kLayouts)
    if (layout.type == type) return &layout;
  return nullptr;
}

struct Parsed {
  json message;
  Type type;
  const char* name;
};

// Parses the bytes and checks what every message shares: an array, the protocol version, a
// known type travelling in the right direction, and the type's number of fields.
Result<Parsed> parse_message(std::string_view bytes, bool up) {
  auto parsed = parse(bytes);
  if (!parsed) return parsed.error();
  const json& m = *parsed;
  if (!m.is_array())
    return Error{"wire: expected a message array, got " + std::string(m.type_name())};
  if (m.size() < 2) return Error{"wire: message has no header (version, type)"};
  if (!m[0].is_number_unsigned())
    return Error{"wire: the protocol version must be an unsigned integer, got " + show(m[0])};
  if (m[0].get<uint64_t>() != kProtocolVersion) {
    return Error{"wire: protocol version mismatch: peer speaks " + show(m[0]) +
                 ", this build speaks " + std::to_string(kProtocolVersion) +
                 " (run the coordinator and the worker groups from the same shardserve release)"};
  }
  const Layout* layout = m[1].is_number_unsigned() ? layout_of(m[1].get<uint64_t>()) : nullptr;
  if (!layout) return Error{"wire: unknown message type " + show(m[1])};
  if (layout->up != up) {
    return Error{std::string("wire: ") + layout->name +
                 (up ? " goes from the coordinator to a group, not from a group"
                     : " goes from a group to the coordinator, not to a group")};
  }
  if (m.size() != layout->fields + 2) {
    return Error{std::string("wire: ") + layout->name + ": expected " +
                 std::to_string(layout->fields) + " fields, got " + std::to_string(m.size() - 2)};
  }
  return Parsed{std::move(*parsed), layout->type, layout->name};
}

template <typename Variant, typename T>
Result<Variant> finish(Reader& r, T value) {
  if (!r.ok()) return r.error();
  return Variant(std::move(value));
}

}  // namespace

std::string encode(const UpMessage& message) {
  return std::visit(
      [](const auto& m) -> std::string {
        using T = std::decay_t<decltype(m)>;
        json j;
        if constexpr (std::is_same_v<T, Hello>) {
          j = header(kHello);
          for (json f :
               {json(m.group_name), json(m.model), json(m.tp), json(m.max_batch), json(m.kv_blocks),
                json(m.block_size), json(m.context_length), json(m.n_vocab)})
            j.push_back(std::move(f));
        } else if constexpr (std::is_same_v<T, GroupHeartbeat>) {
          j = header(kGroupHeartbeat);
          for (int64_t v : {m.running, m.waiting, m.kv_used_blocks, m.kv_total_blocks, m.steps,
                            m.prefix_prompt_tokens, m.prefix_hit_tokens, m.kv_cached_blocks,
                            m.spec_proposed_tokens, m.spec_accepted_tokens})
            j.push_back(v);
          j.push_back(gpus_json(m.gpus));
        } else if constexpr (std::is_same_v<T, TokenEvents>) {
          j = header(kTokenEvents);
          j.push_back(m.step);
          json::array_t events;
          events.reserve(m.events.size());
          for (const TokenEvent& e : m.events) events.push_back(event_json(e));
          j.push_back(std::move(events));
        } else if constexpr (std::is_same_v<T, Rejected>) {
          j = header(kRejected);
          j.push_back(m.request_id);
          j.push_back(m.reason);
          j.push_back(static_cast<uint8_t>(m.code));
        } else if constexpr (std::is_same_v<T, Embeddings>) {
          j = header(kEmbeddings);
          j.push_back(m.step);
          j.push_back(m.dim);
          json::array_t results;
          results.reserve(m.results.size());
          for (const EmbeddingResult& e : m.results)
            results.push_back(json::array({e.id, e.n_tokens, float_bytes(e.embedding)}));
          j.push_back(std::move(results));
        } else {
          static_assert(std::is_same_v<T, Goodbye>);
          j = header(kGoodbye);
        }
        return pack(j);
      },
      message);
}

std::string encode(const DownMessage& message) {
  return std::visit(
      [](const auto& m) -> std::string {
        using T = std::decay_t<decltype(m)>;
        json j;
        if constexpr (std::is_same_v<T, Welcome>) {
          j = header(kWelcome);
          j.push_back(m.group_id);
        } else if constexpr (std::is_same_v<T, Submit>) {
          const SequenceRequest& q = m.request;
          j = header(kSubmit);
          j.push_back(q.id);
          j.push_back(token_array(q.prompt));
          j.push_back(sampling_json(q.sampling));
          j.push_back(q.max_tokens);
          j.push_back(token_array(q.stop_tokens));
          j.push_back(q.grammar);
          j.push_back(q.score_prompt);
          j.push_back(q.cache_salt);
          j.push_back(token_array(q.resume_tokens));
        } else if constexpr (std::is_same_v<T, Cancel>) {
          j = header(kCancel);
          j.push_back(m.request_id);
        } else if constexpr (std::is_same_v<T, CoordinatorHeartbeat>) {
          j = header(kCoordinatorHeartbeat);
          j.push_back(m.group_id);
        } else if constexpr (std::is_same_v<T, Embed>) {
          j = header(kEmbed);
          j.push_back(m.request_id);
          j.push_back(token_array(m.tokens));
        } else {
          static_assert(std::is_same_v<T, Shutdown>);
          j = header(kShutdown);
        }
        return pack(j);
      },
      message);
}

static Result<UpMessage> decode_up_fields(std::string_view bytes) {
  auto parsed = parse_message(bytes, /*up=*/true);
  if (!parsed) return parsed.error();
  const json& m = parsed->message;
  Reader r(parsed->name);
  switch (parsed->type) {
    case kHello:
      return finish<UpMessage>(r, read_hello(r, m));
    case kGroupHeartbeat:
      return finish<UpMessage>(r, read_group_heartbeat(r, m));
    case kTokenEvents:
      return finish<UpMessage>(r, read_token_events(r, m));
    case kRejected:
      return finish<UpMessage>(r, read_rejected(r, m));
    case kGoodbye:
      return UpMessage(Goodbye{});
    case kEmbeddings:
      return finish<UpMessage>(r, read_embeddings(r, m));
    default:
      break;
  }
  return Error{"wire: unhandled message type"};  // unreachable: parse_message checked it
}

static Result<DownMessage> decode_down_fields(std::string_view bytes) {
  auto parsed = parse_message(bytes, /*up=*/false);
  if (!parsed) return parsed.error();
  const json& m = parsed->message;
  Reader r(parsed->name);
  switch (parsed->type) {
    case kWelcome:
      return finish<DownMessage>(r, Welcome{r.unsigned64(m[2], "group_id", 1)});
    case kSubmit:
      return finish<DownMessage>(r, read_submit(r, m));
    case kCancel:
      return finish<DownMessage>(r, Cancel{r.integer(m[2], "request_id", 0, kInt64Max)});
    case kCoordinatorHeartbeat:
      return finish<DownMessage>(r, CoordinatorHeartbeat{r.unsigned64(m[2], "group_id", 0)});
    case kShutdown:
      return DownMessage(Shutdown{});
    case kEmbed:
      return finish<DownMessage>(
          r, Embed{r.integer(m[2], "request_id", 0, kInt64Max), r.tokens(m[3], "tokens", true)});
    default:
      break;
  }
  return Error{"wire: unhandled message type"};  // unreachable: parse_message checked it
}

Result<UpMessage> decode_up(std::string_view bytes) {
  try {
    return decode_up_fields(bytes);
  } catch (const std::exception& e) {  // not expected: every read is checked first
    return Error{std::string("wire: malformed message: ") + e.what()};
  }
}

Result<DownMessage> decode_down(std::string_view bytes) {
  try {
    return decode_down_fields(bytes);
  } catch (const std::exception& e) {  // not expected: every read is checked first
    return Error{std::string("wire: malformed message: ") + e.what()};
  }
}

int64_t submit_id(std::string_view bytes) {
  auto parsed = parse(bytes);
  if (!parsed) return -1;
  const json& m = *parsed;
  if (!m.is_array() || m.size() < 3 || !m[1].is_number_unsigned() ||
      (m[1].get<uint64_t>() != kSubmit && m[1].get<uint64_t>() != kEmbed) ||
      !m[2].is_number_unsigned() || m[2].get<uint64_t>() > static_cast<uint64_t>(kInt64Max))
    return -1;
  return static_cast<int64_t>(m[2].get<uint64_t>());
}

const char* message_name(const UpMessage& message) {
  static constexpr const char* kNames[] = {"Hello",    "GroupHeartbeat", "TokenEvents",
                                           "Rejected", "Goodbye",        "Embeddings"};
  return kNames[message.index()];
}

const char* message_name(const DownMessage& message) {
  static constexpr const char* kNames[] = {"Welcome",  "Submit", "Cancel", "CoordinatorHeartbeat",
                                           "Shutdown", "Embed"};
  return kNames[message.index()];
}

}  // namespace shardserve::wire
