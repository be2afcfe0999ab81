#include "wire/messages.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

namespace shardserve::wire {
namespace {

using nlohmann::json;

Hello sample_hello() {
  return Hello{"g1", "smollm2-135m", 2, 32, 1024, 16, 8192, 49152};
}

SequenceRequest sample_request() {
  SequenceRequest q;
  q.id = 1234567890123;
  q.prompt = {1, 0, 127, 128, 255, 256, 65535, 65536, 49151};
  q.sampling.temperature = 0.7f;
  q.sampling.top_k = 40;
  q.sampling.top_p = 0.95f;
  q.sampling.min_p = 0.05f;
  q.sampling.repetition_penalty = 1.1f;
  q.sampling.presence_penalty = -0.5f;
  q.sampling.frequency_penalty = 0.25f;
  q.sampling.penalty_last_n = -1;
  q.sampling.logit_bias = {{5, -100.0f}, {49151, 2.5f}};
  q.sampling.seed = std::numeric_limits<uint64_t>::max();
  q.sampling.logprobs = true;
  q.sampling.top_logprobs = 20;
  q.max_tokens = 300;
  q.stop_tokens = {2, 49152 - 1};
  q.grammar = "root ::= \"{\" [a-z]* \"}\"\n" + std::string(8000, ' ');  // past kMaxText
  q.score_prompt = true;
  q.cache_salt = 0xFEDCBA9876543210ull;
  q.resume_tokens = {7, 0, 49151};
  return q;
}

TokenEvents sample_events() {
  TokenEvents m;
  m.step = 77;
  TokenEvent a;
  a.id = 1;
  a.token = 42;
  a.logprob = -0.125f;
  a.top = {{42, -0.125f}, {7, -2.5f}};
  a.prompt_tokens = 9;
  a.generated_tokens = 1;
  TokenEvent b;
  b.id = 2;
  b.token = -1;
  b.logprob = -std::numeric_limits<float>::infinity();
  b.finish = FinishReason::Cancelled;
  b.prompt_tokens = 3;
  b.generated_tokens = 12;
  b.prompt_scores = {{.token = 5, .logprob = -3.5f, .top = {{9, -0.5f}, {5, -3.5f}}},
                     {.token = 0, .logprob = -0.0f, .top = {}}};
  TokenEvent c;
  c.id = 3;
  c.token = 49151;
  c.logprob = -1e-7f;
  c.finish = FinishReason::Length;
  c.prompt_tokens = 100000;
  c.generated_tokens = 4096;
  c.cached_tokens = 99968;
  m.events = {a, b, c};
  return m;
}

void expect_same(const SequenceRequest& a, const SequenceRequest& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.prompt, b.prompt);
  EXPECT_EQ(a.max_tokens, b.max_tokens);
  EXPECT_EQ(a.stop_tokens, b.stop_tokens);
  EXPECT_EQ(a.grammar, b.grammar);
  EXPECT_EQ(a.score_prompt, b.score_prompt);
  EXPECT_EQ(a.cache_salt, b.cache_salt);
  EXPECT_EQ(a.resume_tokens, b.resume_tokens);
  const SamplingParams& x = a.sampling;
  const SamplingParams& y = b.sampling;
  EXPECT_EQ(x.temperature, y.temperature);
  EXPECT_EQ(x.top_k, y.top_k);
  EXPECT_EQ(x.top_p, y.top_p);
  EXPECT_EQ(x.min_p, y.min_p);
  EXPECT_EQ(x.repetition_penalty, y.repetition_penalty);
  EXPECT_EQ(x.presence_penalty, y.presence_penalty);
  EXPECT_EQ(x.frequency_penalty, y.frequency_penalty);
  EXPECT_EQ(x.penalty_last_n, y.penalty_last_n);
  EXPECT_EQ(x.logit_bias, y.logit_bias);
  EXPECT_EQ(x.seed, y.seed);
  EXPECT_EQ(x.logprobs, y.logprobs);
  EXPECT_EQ(x.top_logprobs, y.top_logprobs);
}

void expect_same(const TokenEvents& a, const TokenEvents& b) {
  EXPECT_EQ(a.step, b.step);
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    const TokenEvent& x = a.events[i];
    const TokenEvent& y = b.events[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.token, y.token);
    EXPECT_EQ(x.logprob, y.logprob);
    ASSERT_EQ(x.top.size(), y.top.size());
    for (size_t k = 0; k < x.top.size(); ++k) {
      EXPECT_EQ(x.top[k].token, y.top[k].token);
      EXPECT_EQ(x.top[k].logprob, y.top[k].logprob);
    }
    EXPECT_EQ(x.finish, y.finish);
    EXPECT_EQ(x.prompt_tokens, y.prompt_tokens);
    EXPECT_EQ(x.generated_tokens, y.generated_tokens);
    EXPECT_EQ(x.prompt_scores, y.prompt_scores);
  }
}

Embeddings sample_embeddings() {
  Embeddings m{.step = 12, .dim = 4, .results = {}};
  m.results.push_back({.id = 3, .n_tokens = 7, .embedding = {0.5f, -1e-30f, 3.25f, -0.0f}});
  m.results.push_back({.id = 9,
                       .n_tokens = 256,
                       .embedding = {std::numeric_limits<float>::denorm_min(), 1.0f / 3, 2, 4}});
  return m;
}

// A heartbeat of a two-GPU group: one device reports everything, the other no power.
GroupHeartbeat sample_gpu_heartbeat() {
  GroupHeartbeat h{3, 4, 100, 1024, 99999, 5000, 4096, 60, 70, 35};
  h.gpus.push_back({.device = 0,
                    .name = "NVIDIA H200",
                    .memory_used_bytes = int64_t{40} << 30,
                    .memory_total_bytes = int64_t{141} << 30,
                    .utilization = 0.97,
                    .memory_utilization = 0.5,
                    .temperature_celsius = 61,
                    .power_watts = 512.25,
                    .power_limit_watts = 700});
  h.gpus.push_back({.device = 3,
                    .name = "",
                    .memory_used_bytes = 0,
                    .memory_total_bytes = int64_t{80} << 30,
                    .utilization = 0,
                    .memory_utilization = 1,
                    .temperature_celsius = -5,
                    .power_watts = std::nullopt,
                    .power_limit_watts = std::nullopt});
  return h;
}

std::vector<std::string> every_encoding() {
  return {encode(UpMessage(sample_hello())),
          encode(UpMessage(sample_gpu_heartbeat())),
          encode(UpMessage(sample_events())),
          encode(UpMessage(Rejected{5, "the prompt is too long"})),
          encode(UpMessage(Goodbye{})),
          encode(DownMessage(Welcome{7})),
          encode(DownMessage(Submit{sample_request()})),
          encode(DownMessage(Cancel{8})),
          encode(DownMessage(CoordinatorHeartbeat{0})),
          encode(DownMessage(Shutdown{})),
          encode(UpMessage(sample_embeddings())),
          encode(DownMessage(Embed{11, {101, 7592, 102}}))};
}

// Decodes with whichever decoder the message's direction needs; both must never throw.
bool decodes(std::string_view bytes) {
  const bool up = decode_up(bytes).ok();
  const bool down = decode_down(bytes).ok();
  EXPECT_FALSE(up && down);
  return up || down;
}

std::string pack(const json& j) {
  std::string out;
  json::to_msgpack(j, out);
  return out;
}

TEST(Wire, UpMessagesRoundTrip) {
  auto hello = decode_up(encode(UpMessage(sample_hello())));
  ASSERT_TRUE(hello.ok()) << hello.error().message;
  EXPECT_EQ(std::get<Hello>(*hello), sample_hello());

  const GroupHeartbeat load{3, 4, 100, 1024, std::numeric_limits<int64_t>::max()};
  auto heartbeat = decode_up(encode(UpMessage(load)));
  ASSERT_TRUE(heartbeat.ok()) << heartbeat.error().message;
  EXPECT_EQ(std::get<GroupHeartbeat>(*heartbeat), load);

  auto events = decode_up(encode(UpMessage(sample_events())));
  ASSERT_TRUE(events.ok()) << events.error().message;
  expect_same(std::get<TokenEvents>(*events), sample_events());

  auto empty_step = decode_up(encode(UpMessage(TokenEvents{1, {}})));
  ASSERT_TRUE(empty_step.ok()) << empty_step.error().message;
  EXPECT_TRUE(std::get<TokenEvents>(*empty_step).events.empty());

  const Rejected rejected{5, "the group is re-registering", ErrorCode::kUnavailable};
  auto r = decode_up(encode(UpMessage(rejected)));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(std::get<Rejected>(*r), rejected);

  auto bye = decode_up(encode(UpMessage(Goodbye{})));
  ASSERT_TRUE(bye.ok());
  EXPECT_TRUE(std::holds_alternative<Goodbye>(*bye));
}

TEST(Wire, DownMessagesRoundTrip) {
  auto welcome = decode_down(encode(DownMessage(Welcome{42})));
  ASSERT_TRUE(welcome.ok()) << welcome.error().message;
  EXPECT_EQ(std::get<Welcome>(*welcome).group_id, 42u);

  auto submit = decode_down(encode(DownMessage(Submit{sample_request()})));
  ASSERT_TRUE(submit.ok()) << submit.error().message;
  expect_same(std::get<Submit>(*submit).request, sample_request());

  SequenceRequest defaults;  // default SamplingParams, no stops
  defaults.prompt = {1};
  auto plain = decode_down(encode(DownMessage(Submit{defaults})));
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  expect_same(std::get<Submit>(*plain).request, defaults);

  auto cancel = decode_down(encode(DownMessage(Cancel{9})));
  ASSERT_TRUE(cancel.ok());
  EXPECT_EQ(std::get<Cancel>(*cancel).request_id, 9);

  auto heartbeat = decode_down(encode(DownMessage(CoordinatorHeartbeat{3})));
  ASSERT_TRUE(heartbeat.ok());
  EXPECT_EQ(std::get<CoordinatorHeartbeat>(*heartbeat).group_id, 3u);

  auto shutdown = decode_down(encode(DownMessage(Shutdown{})));
  ASSERT_TRUE(shutdown.ok());
  EXPECT_TRUE(std::holds_alternative<Shutdown>(*shutdown));
}

TEST(Wire, EmbeddingsRoundTripBitForBit) {
  auto up = decode_up(encode(UpMessage(sample_embeddings())));
  ASSERT_TRUE(up.ok()) << up.error().message;
  const Embeddings& got = std::get<Embeddings>(*up);
  ASSERT_EQ(got.results.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(std::memcmp(got.results[i].embedding.data(),
                          sample_embeddings().results[i].embedding.data(), 4 * sizeof(float)),
              0);
  EXPECT_EQ(got, sample_embeddings());
  // A 384-float embedding costs its 1536 bytes plus a few bytes of framing.
  Embeddings one{
      .step = 1,
      .dim = 384,
      .results = {{.id = 1, .n_tokens = 30, .embedding = std::vector<float>(384, 0.1f)}}};
  EXPECT_LT(encode(UpMessage(one)).size(), 1536u + 32u);

  auto down = decode_down(encode(DownMessage(Embed{11, {101, 7592, 102}})));
  ASSERT_TRUE(down.ok()) << down.error().message;
  EXPECT_EQ(std::get<Embed>(*down), (Embed{11, {101, 7592, 102}}));
  EXPECT_EQ(submit_id(encode(DownMessage(Embed{11, {}}))), 11);
}

TEST(Wire, EmbeddingFieldsAreValidated) {
  json m = json::from_msgpack(encode(UpMessage(sample_embeddings())));
  m[3] = 5;  // dim no longer matches the 16-byte embeddings
  auto r = decode_up(pack(m));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Embeddings.results[0].embedding: expected 5 float32 values"),
            std::string::npos)
      << r.error().message;
  m = json::from_msgpack(encode(UpMessage(sample_embeddings())));
  m[4][1][1] = 0;
  EXPECT_FALSE(decode_up(pack(m)).ok());
  m = json::from_msgpack(encode(UpMessage(sample_embeddings())));
  m[4][0][2] = json::array({0.5, 1.0, 2.0, 3.0});
  EXPECT_FALSE(decode_up(pack(m)).ok());
  auto empty = decode_down(encode(DownMessage(Embed{1, {}})));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("Embed.tokens"), std::string::npos);
}

TEST(Wire, TokenEventsAreCompact) {
  // One step of 64 sequences, no top logprobs: a few hundred bytes, not kilobytes.
  TokenEvents m{1, {}};
  for (int i = 0; i < 64; ++i) {
    TokenEvent e;
    e.id = 1'700'000'000'000'000 + i;
    e.token = 40000 + i;
    e.logprob = -0.5f;
    e.prompt_tokens = 100;
    e.generated_tokens = 20;
    m.events.push_back(e);
  }
  EXPECT_LT(encode(UpMessage(m)).size(), 64u * 30u);
}

TEST(Wire, EveryTruncationIsRejected) {
  for (const std::string& bytes : every_encoding()) {
    ASSERT_TRUE(decodes(bytes));
    for (size_t n = 0; n < bytes.size(); ++n)
      EXPECT_FALSE(decodes(std::string_view(bytes).substr(0, n))) << "prefix " << n;
    EXPECT_FALSE(decodes(bytes + '\0')) << "trailing byte";
  }
}

TEST(Wire, FlippedBitsNeverCrash) {
  // Decoding may succeed (a flipped digit is still a number) but must not crash or throw.
  for (const std::string& bytes : every_encoding()) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string copy = bytes;
        copy[i] = static_cast<char>(copy[i] ^ (1 << bit));
        decodes(copy);
      }
    }
  }
}

TEST(Wire, RandomGarbageIsRejected) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (!bytes.empty() && i % 2) bytes[0] = static_cast<char>(0x90 | (rng() % 16));  // an array
    decodes(bytes);
  }
  EXPECT_FALSE(decodes(""));
  EXPECT_FALSE(decodes("hello"));
}

TEST(Wire, HostileShapesAreRejected) {
  // Deep nesting would overflow the recursive reader's stack.
  auto deep = decode_up(std::string(1'000'000, '\x91'));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("nested"), std::string::npos) << deep.error().message;
  // An array that claims 4 billion elements and has none.
  EXPECT_FALSE(decodes(std::string("\xdd\xff\xff\xff\xff", 5)));
  // A string that claims 4 GB.
  EXPECT_FALSE(decodes(std::string("\x93\x01\x01\xdb\xff\xff\xff\xff", 8)));
  // Not an array, a map, floats where integers belong.
  EXPECT_FALSE(decodes(pack(json(1))));
  EXPECT_FALSE(decodes(pack(json::object({{"v", 1}}))));
  EXPECT_FALSE(decodes(pack(json::array({1.0, 18, 5}))));
  EXPECT_FALSE(decodes(pack(json::array({1, 18, 5.0}))));
  EXPECT_FALSE(decodes(pack(json::array())));
  EXPECT_FALSE(decodes(pack(json::array({1}))));
}

TEST(Wire, VersionMismatchIsNamed) {
  std::string bytes = encode(DownMessage(Welcome{1}));
  ASSERT_EQ(bytes[1], static_cast<char>(kProtocolVersion));  // [fixarray, version, ...]
  bytes[1] = static_cast<char>(kProtocolVersion + 1);
  auto r = decode_down(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("protocol version mismatch: peer speaks " +
                                   std::to_string(kProtocolVersion + 1) + ", this build speaks " +
                                   std::to_string(kProtocolVersion)),
            std::string::npos)
      << r.error().message;
  // Whatever follows the version, it is the version that is reported.
  auto other = decode_up(pack(json::array({99, "anything", json::array()})));
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("peer speaks 99"), std::string::npos);
}

TEST(Wire, DirectionAndTypeAreChecked) {
  auto wrong_way = decode_down(encode(UpMessage(sample_hello())));
  ASSERT_FALSE(wrong_way.ok());
  EXPECT_NE(wrong_way.error().message.find("Hello goes from a group"), std::string::npos)
      << wrong_way.error().message;
  EXPECT_FALSE(decode_up(encode(DownMessage(Cancel{1}))).ok());
  auto unknown = decode_up(pack(json::array({kProtocolVersion, 99})));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("unknown message type 99"), std::string::npos);
  auto extra = decode_down(pack(json::array({kProtocolVersion, 18, 5, 6})));
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.error().message.find("Cancel: expected 1 fields, got 2"), std::string::npos)
      << extra.error().message;
}

// A Submit with one field replaced.
std::string submit_with(size_t field, json value) {
  json m = json::from_msgpack(encode(DownMessage(Submit{sample_request()})));
  m[field] = std::move(value);
  return pack(m);
}
std::string sampling_with(size_t field, json value) {
  json m = json::from_msgpack(encode(DownMessage(Submit{sample_request()})));
  m[4][field] = std::move(value);
  return pack(m);
}

void expect_error(const std::string& bytes, const std::string& fragment) {
  auto r = decode_down(bytes);
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << fragment;
  EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
}

TEST(Wire, SubmitFieldsAreValidated) {
  expect_error(submit_with(2, -1), "Submit.id: expected an integer in [0,");
  expect_error(submit_with(3, json::array()), "Submit.prompt: expected 1 or more elements, got 0");
  expect_error(submit_with(3, json::array({1, -2})), "Submit.prompt: expected an integer in [0,");
  expect_error(submit_with(3, json::array({1, int64_t{1} << 40})), "Submit.prompt");
  expect_error(submit_with(3, "text"), "Submit.prompt: expected an array, got string");
  expect_error(submit_with(5, -1), "Submit.max_tokens");
  expect_error(submit_with(8, 1), "Submit.score_prompt: expected true or false");
  expect_error(submit_with(6, json::array({"x"})), "Submit.stop_tokens: expected an integer");
  expect_error(submit_with(7, 5), "Submit.grammar: expected a string, got number");
  expect_error(submit_with(7, std::string((1 << 20) + 1, 'x')), "Submit.grammar: string of");
  expect_error(submit_with(4, json::array({1, 2})), "Submit.sampling: expected 12 elements");
  expect_error(sampling_with(0, std::nan("")), "Submit.sampling.temperature: expected a finite");
  expect_error(sampling_with(0, "hot"), "Submit.sampling.temperature: expected a number");
  expect_error(sampling_with(1, -1), "Submit.sampling.top_k");
  expect_error(sampling_with(2, 1e300), "Submit.sampling.top_p: expected a finite");
  expect_error(sampling_with(7, -2), "Submit.sampling.penalty_last_n");
  expect_error(sampling_with(8, json::array({json::array({1})})),
               "Submit.sampling.logit_bias: expected 2 elements");
  expect_error(sampling_with(9, -1), "Submit.sampling.seed");
  expect_error(sampling_with(10, 1), "Submit.sampling.logprobs: expected true or false");
  expect_error(sampling_with(11, 21),
               "Submit.sampling.top_logprobs: expected an integer in [0, 20]");
}

TEST(Wire, OtherFieldsAreValidated) {
  auto hello = [](size_t field, json value) {
    json m = json::from_msgpack(encode(UpMessage(sample_hello())));
    m[field] = std::move(value);
    return decode_up(pack(m));
  };
  auto empty_name = hello(2, "");
  ASSERT_FALSE(empty_name.ok());
  EXPECT_NE(empty_name.error().message.find("Hello.group_name: must not be empty"),
            std::string::npos);
  EXPECT_FALSE(hello(4, 0).ok());  // tp
  EXPECT_FALSE(hello(9, 0).ok());  // n_vocab
  EXPECT_FALSE(hello(3, std::string(5000, 'm')).ok());

  json events = json::from_msgpack(encode(UpMessage(sample_events())));
  events[3][1][4] = 4;  // finish reason out of range
  auto bad_finish = decode_up(pack(events));
  ASSERT_FALSE(bad_finish.ok());
  EXPECT_NE(bad_finish.error().message.find("TokenEvents.events[1].finish"), std::string::npos)
      << bad_finish.error().message;
  events = json::from_msgpack(encode(UpMessage(sample_events())));
  events[3][0][1] = -2;  // token
  EXPECT_FALSE(decode_up(pack(events)).ok());
  events = json::from_msgpack(encode(UpMessage(sample_events())));
  events[3][0][2] = std::nan("");  // logprob
  EXPECT_FALSE(decode_up(pack(events)).ok());
  events = json::from_msgpack(encode(UpMessage(sample_events())));
  events[3][0].erase(6);
  EXPECT_FALSE(decode_up(pack(events)).ok());

  EXPECT_FALSE(decode_down(pack(json::array({kProtocolVersion, 16, 0}))).ok());  // group id 0
  EXPECT_FALSE(decode_up(pack(json::array({kProtocolVersion, 2, 1, 2, 3, 4, -5}))).ok());
}

TEST(Wire, GpuReadingsRoundTripWithAbsentFigures) {
  auto decoded = decode_up(encode(UpMessage(sample_gpu_heartbeat())));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(std::get<GroupHeartbeat>(*decoded), sample_gpu_heartbeat());

  // Absent is nil on the wire, distinct from 0.
  json m = json::from_msgpack(encode(UpMessage(sample_gpu_heartbeat())));
  EXPECT_TRUE(m[12][1][7].is_null());
  EXPECT_EQ(m[12][1][2], 0);
  GroupHeartbeat all_absent;
  all_absent.gpus.push_back({.device = 7});
  auto absent = decode_up(encode(UpMessage(all_absent)));
  ASSERT_TRUE(absent.ok()) << absent.error().message;
  const GpuReading& g = std::get<GroupHeartbeat>(*absent).gpus.at(0);
  EXPECT_EQ(g.device, 7);
  EXPECT_FALSE(g.memory_used_bytes || g.memory_total_bytes || g.utilization ||
               g.memory_utilization || g.temperature_celsius || g.power_watts ||
               g.power_limit_watts);
}

TEST(Wire, GpuReadingsAreValidated) {
  auto with = [](size_t field, json value) {
    json m = json::from_msgpack(encode(UpMessage(sample_gpu_heartbeat())));
    m[12][1][field] = std::move(value);
    return decode_up(pack(m));
  };
  auto bad_util = with(4, 1.5);
  ASSERT_FALSE(bad_util.ok());
  EXPECT_NE(bad_util.error().message.find("GroupHeartbeat.gpus[1].utilization"), std::string::npos)
      << bad_util.error().message;
  EXPECT_FALSE(with(0, -1).ok());                     // device
  EXPECT_FALSE(with(0, nullptr).ok());                // device is never absent
  EXPECT_FALSE(with(1, 5).ok());                      // name
  EXPECT_FALSE(with(1, std::string(300, 'n')).ok());  // name too long
  EXPECT_FALSE(with(2, -1).ok());                     // memory used
  EXPECT_FALSE(with(3, 1.5).ok());                    // memory total: an integer
  EXPECT_FALSE(with(5, -0.1).ok());                   // memory utilisation
  EXPECT_FALSE(with(6, std::nan("")).ok());           // temperature
  EXPECT_FALSE(with(6, "hot").ok());
  EXPECT_FALSE(with(7, -3).ok());  // power
  EXPECT_FALSE(with(8, std::numeric_limits<double>::infinity()).ok());
  EXPECT_TRUE(with(8, nullptr).ok());

  json m = json::from_msgpack(encode(UpMessage(sample_gpu_heartbeat())));
  m[12][0].erase(8);  // a reading of 8 figures
  EXPECT_FALSE(decode_up(pack(m)).ok());
  m = json::from_msgpack(encode(UpMessage(sample_gpu_heartbeat())));
  m[12] = nullptr;  // the list itself is not optional
  EXPECT_FALSE(decode_up(pack(m)).ok());
  m = json::from_msgpack(encode(UpMessage(sample_gpu_heartbeat())));
  const json one = m[12][0];
  m[12] = json::array();
  for (size_t i = 0; i < kMaxGpuReadings; ++i) m[12].push_back(one);
  EXPECT_TRUE(decode_up(pack(m)).ok());
  m[12].push_back(one);  // one too many
  EXPECT_FALSE(decode_up(pack(m)).ok());
}

TEST(Wire, SubmitIdOfAnUndecodableSubmit) {
  EXPECT_EQ(submit_id(submit_with(3, json::array())), 1234567890123);
  EXPECT_EQ(submit_id(encode(DownMessage(Cancel{3}))), -1);
  EXPECT_EQ(submit_id("garbage"), -1);
}

}  // namespace
}  // namespace shardserve::wire
