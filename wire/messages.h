// The messages between the coordinator and the leaders of worker groups (ARCHITECTURE.md, "How a
// request travels").
//
// Every message is one ZeroMQ frame holding one MessagePack array:
//     [protocol version, message type, field, field, ...]
// Fields are positional (no keys on the wire) and listed in the comment of each struct. The
// version comes first in every message, so a peer built from another shardserve release is
// recognised as such ("protocol version mismatch") instead of as garbage. Any change to a
// message's fields bumps kProtocolVersion; peers must speak the same version.
//
// Down (coordinator -> group): Welcome, Submit, Cancel, CoordinatorHeartbeat, Shutdown, Embed.
// Up (group -> coordinator):   Hello, GroupHeartbeat, TokenEvents, Rejected, Goodbye,
//                              Embeddings.
// Results are batched: one TokenEvents message per step carries every sequence that advanced
// (or finished) in that step; one Embeddings message per step of an embedding group carries
// every embedding the step computed.
//
// encode() never fails. decode_up() / decode_down() validate every field (types, ranges, array
// sizes, trailing bytes, nesting depth) and return an Error for anything else; they never throw
// and never read out of bounds, whatever the input. Checks that need the group's model (token
// ids below n_vocab, prompt length against the context) are the receiver's job.
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "wire/sequence.h"

namespace shardserve::wire {

inline constexpr uint32_t kProtocolVersion = 8;

// Upper bound on one encoded message; links refuse larger frames (ZMQ_MAXMSGSIZE), and the
// decoder refuses messages with more values than kMaxValues (bounds its memory).
inline constexpr int64_t kMaxMessageBytes = int64_t{16} << 20;
inline constexpr int64_t kMaxValues = int64_t{1} << 21;

// ---- group -> coordinator ---------------------------------------------------------------

// First message of a group leader, repeated until a Welcome arrives.
// [v, 1, group_name, model, tp, max_batch, kv_blocks, block_size, context_length, n_vocab]
struct Hello {
  std::string group_name;      // from the cluster config; unique per cluster, non-empty
  std::string model;           // the model name requests are routed by, non-empty
  int64_t tp = 1;              // ranks in the group (>= 1)
  int64_t max_batch = 0;       // running sequences per step (>= 1)
  int64_t kv_blocks = 0;       // KV-cache blocks per rank (>= 1)
  int64_t block_size = 0;      // positions per block (>= 1)
  int64_t context_length = 0;  // positions per sequence (>= 1)
  int64_t n_vocab = 0;         // valid token ids are [0, n_vocab) (>= 1)
  bool operator==(const Hello&) const = default;
};

// One GPU of the group as NVML saw it at the heartbeat (as nvidia-smi shows it). A figure the
// device did not report is absent (nil on the wire), never 0.
// [device, name, memory_used_bytes, memory_total_bytes, utilization, memory_utilization,
//  temperature_celsius, power_watts, power_limit_watts]
struct GpuReading {
  int64_t device = 0;  // the device index, as in the group's `devices` (>= 0)
  std::string name;    // e.g. "NVIDIA H200"; may be empty
  std::optional<int64_t> memory_used_bytes, memory_total_bytes;  // >= 0
  std::optional<double> utilization;          // fraction of the sample period a kernel ran, 0..1
  std::optional<double> memory_utilization;   // fraction of it memory was read or written, 0..1
  std::optional<double> temperature_celsius;  // finite
  std::optional<double> power_watts, power_limit_watts;  // finite, >= 0
  bool operator==(const GpuReading&) const = default;
};

// At most this many GpuReadings per heartbeat.
inline constexpr size_t kMaxGpuReadings = 1024;

// Load report, every heartbeat interval (1 s by default). All counts >= 0; the prefix and
// speculation counts are totals since the group started. `gpus`: the group's GPUs the leader's
// host can see (empty for a cpu group, or where NVML is unavailable).
// [v, 2, running, waiting, kv_used_blocks, kv_total_blocks, steps, prefix_prompt_tokens,
//  prefix_hit_tokens, kv_cached_blocks, spec_proposed_tokens, spec_accepted_tokens,
//  [GpuReading...]]
struct GroupHeartbeat {
  int64_t running = 0;  // sequences in the batch
  int64_t waiting = 0;  // sequences queued for admission
  int64_t kv_used_blocks = 0;
  int64_t kv_total_blocks = 0;
  int64_t steps = 0;                 // steps run since the group started
  int64_t prefix_prompt_tokens = 0;  // prompt tokens of admitted sequences
  int64_t prefix_hit_tokens = 0;     // of them, found in the prefix cache
  int64_t kv_cached_blocks = 0;      // blocks holding a cached prefix now
  int64_t spec_proposed_tokens = 0;  // draft tokens proposed by speculative decoding
  int64_t spec_accepted_tokens = 0;  // of them, accepted
  std::vector<GpuReading> gpus;
  bool operator==(const GroupHeartbeat&) const = default;
};

// Everything one step produced.
// [v, 3, step, [[id, token, logprob, [[token, logprob]...], finish, prompt_tokens,
//                generated_tokens, [[token, logprob, [[token, logprob]...]]...],
//                cached_tokens], ...]]
// token is -1 for an event that reports only a finish or prompt scores, else >= 0; finish is a
// FinishReason; the list is the event's prompt_scores.
struct TokenEvents {
  uint64_t step = 0;
  std::vector<TokenEvent> events;
};

// The group could not accept a Submit or Embed (a prompt that does not fit the group's
// context or KV cache, a token outside the vocabulary, the group re-registering, ...). The
// request is over; no events follow. `code` says whose fault it is (base/status.h): the
// coordinator answers kInvalidInput with 400, kUnavailable with 503, kInternal with 500.
// [v, 4, request_id, reason, code]
struct Rejected {
  int64_t request_id = 0;
  std::string reason;
  ErrorCode code = ErrorCode::kInvalidInput;
  bool operator==(const Rejected&) const = default;
};

// The embeddings one step of an embedding group computed. Each embedding is `dim` float32
// values, sent as MessagePack bin of little-endian bytes (exact, and a quarter of the size of
// a float array). n_tokens >= 1 is the input's length as encoded.
// [v, 6, step, dim, [[id, n_tokens, bin], ...]]
struct EmbeddingResult {
  int64_t id = 0;
  int64_t n_tokens = 0;
  std::vector<float> embedding;  // dim values
  bool operator==(const EmbeddingResult&) const = default;
};
struct Embeddings {
  uint64_t step = 0;
  int64_t dim = 0;  // >= 1
  std::vector<EmbeddingResult> results;
  bool operator==(const Embeddings&) const = default;
};

// The group is leaving (orderly shutdown). [v, 5]
struct Goodbye {
  bool operator==(const Goodbye&) const = default;
};

// ---- coordinator -> group ---------------------------------------------------------------

// Answer to Hello: the group is registered under group_id (>= 1). [v, 16, group_id]
struct Welcome {
  uint64_t group_id = 0;
  bool operator==(const Welcome&) const = default;
};

// Start a sequence. prompt is non-empty, token ids >= 0, max_tokens >= 0,
// top_logprobs in [0, 20], top_k >= 0, penalty_last_n >= -1.
// [v, 17, id, [prompt...], [temperature, top_k, top_p, min_p, repetition_penalty,
//   presence_penalty, frequency_penalty, penalty_last_n, [[token, bias]...], seed,
//   logprobs, top_logprobs], max_tokens, [stop_tokens...], grammar, score_prompt, cache_salt,
//   [resume_tokens...]]
struct Submit {
  SequenceRequest request;
};

// Stop a sequence (idempotent; unknown ids are ignored). [v, 18, request_id]
struct Cancel {
  int64_t request_id = 0;
  bool operator==(const Cancel&) const = default;
};

// Liveness, every heartbeat interval, and the answer to any message from a group the
// coordinator does not know. group_id is the id the coordinator has for this group, 0 for
// "unknown: say Hello again" (the coordinator restarted or declared the group dead).
// [v, 19, group_id]
struct CoordinatorHeartbeat {
  uint64_t group_id = 0;
  bool operator==(const CoordinatorHeartbeat&) const = default;
};

// The group should finish and exit (the cluster is being stopped). [v, 20]
struct Shutdown {
  bool operator==(const Shutdown&) const = default;
};

// Encode one input with an embedding group's model; the answer is its EmbeddingResult (or a
// Rejected). tokens is non-empty, ids >= 0, special tokens ([CLS], [SEP]) included.
// [v, 21, request_id, [tokens...]]
struct Embed {
  int64_t request_id = 0;
  std::vector<TokenId> tokens;
  bool operator==(const Embed&) const = default;
};

using UpMessage = std::variant<Hello, GroupHeartbeat, TokenEvents, Rejected, Goodbye, Embeddings>;
using DownMessage = std::variant<Welcome, Submit, Cancel, CoordinatorHeartbeat, Shutdown, Embed>;

std::string encode(const UpMessage& message);
std::string encode(const DownMessage& message);

// Errors name the message and field, e.g. "Submit.sampling.top_logprobs: expected an integer
// in [0, 20], got 21", or "protocol version mismatch: peer speaks 2, this build speaks 1".
Result<UpMessage> decode_up(std::string_view bytes);
Result<DownMessage> decode_down(std::string_view bytes);

// For a Submit or Embed that decode_down() refused: its request id when that much can be read,
// so the group can answer with Rejected instead of leaving the request unanswered; else -1.
int64_t submit_id(std::string_view bytes);

// "Hello", "Submit", ... for logs.
const char* message_name(const UpMessage& message);
const char* message_name(const DownMessage& message);

}  // namespace shardserve::wire
