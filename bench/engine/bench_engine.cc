// Times our engine on the CPU with a given number of threads, through the model's real forward
// pass (RankModel::forward with the chunks a scheduler step would hold):
// - one sequence: prefill of a prompt (one chunk), then greedy decoding at batch 1;
// - with --streams N (N > 1): N sequences, each prefilled with a short prompt of its own (one
//   step of N chunks, not timed), then decoded together, one token per sequence per step (N
//   one-token chunks a step, as the scheduler batches running sequences); tokens/s is
//   N x steps / time. Validated after timing: the last stream decoded alone must pick the same
//   tokens (exit status 1 otherwise).
// Prints one JSON object, so that bench/engine/compare_llamacpp.py and
// bench/quant/compare_types.py can put it next to llama.cpp measured in the same run.
// --max-seconds caps each decode measurement (after at least 2 steps) for slow weight types:
// the JSON says how many steps were timed.
//
//   bench_engine MODEL [--prompt-tokens N] [--decode-tokens N] [--threads N] [--repeat N]
//                      [--streams N] [--stream-prompt-tokens N] [--stream-decode-tokens N]
//                      [--max-seconds S] [--skip-single 1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "model/gguf/gguf.h"
#include "model/llama/llama_model.h"

using namespace shardserve;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kBlockSize = 16;

double elapsed(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Args {
  std::string model;
  int prompt_tokens = 128, decode_tokens = 128, threads = 2, repeat = 3;
  int streams = 1, stream_prompt_tokens = 16, stream_decode_tokens = 0;  // 0: decode_tokens
  double max_seconds = 0;                                                // 0: no cap
  bool skip_single = false;
};

bool parse(int argc, char** argv, Args& a) {
  if (argc < 2) return false;
  a.model = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const char* key = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (!std::strcmp(key, "--prompt-tokens"))
      a.prompt_tokens = v;
    else if (!std::strcmp(key, "--decode-tokens"))
      a.decode_tokens = v;
    else if (!std::strcmp(key, "--threads"))
      a.threads = v;
    else if (!std::strcmp(key, "--repeat"))
      a.repeat = v;
    else if (!std::strcmp(key, "--streams"))
      a.streams = v;
    else if (!std::strcmp(key, "--stream-prompt-tokens"))
      a.stream_prompt_tokens = v;
    else if (!std::strcmp(key, "--stream-decode-tokens"))
      a.stream_decode_tokens = v;
    else if (!std::strcmp(key, "--max-seconds"))
      a.max_seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(key, "--skip-single"))
      a.skip_single = v != 0;
    else
      return false;
  }
  if (a.stream_decode_tokens == 0) a.stream_decode_tokens = a.decode_tokens;
  return a.prompt_tokens > 0 && a.decode_tokens > 0 && a.threads > 0 && a.repeat > 0 &&
         a.streams > 0 && a.stream_prompt_tokens > 0 && a.stream_decode_tokens > 0 &&
         a.max_seconds >= 0 && (!a.skip_single || a.streams > 1);
}

// A fixed, ordinary prompt: token ids cycling through a common range, shifted per sequence.
std::vector<TokenId> prompt_for(int64_t seq, int n) {
  std::vector<TokenId> p(n);
  for (int i = 0; i < n; ++i) p[i] = static_cast<TokenId>(300 + (i * 37 + seq * 101) % 5000);
  return p;
}

TokenId argmax(const float* row, int64_t n) {
  return static_cast<TokenId>(std::max_element(row, row + n) - row);
}

struct Timing {
  double tokens_per_s = 0;
  int steps = 0;  // decode steps timed (fewer than asked when --max-seconds stopped them)
};

class Bench {
 public:
  Bench(LlamaModel& model, const Args& a) : model_(model), a_(a), pool_(a.threads) {}

  // Prefill of one sequence's prompt, then decode at batch 1: {prefill, decode}.
  bool single(Timing& prefill, Timing& decode) {
    const int n_positions = a_.prompt_tokens + a_.decode_tokens;
    KvCache kv(*model_.kv_shape(n_positions / kBlockSize + 2, kBlockSize));
    if (!kv.reserve(0, n_positions).ok()) return false;
    const std::vector<TokenId> prompt = prompt_for(0, a_.prompt_tokens);
    auto t0 = Clock::now();
    SeqChunk chunk{.seq = 0, .start_pos = 0, .tokens = prompt, .need_logits = true};
    if (!step({&chunk, 1}, kv)) return false;
    prefill = {a_.prompt_tokens / elapsed(t0), 1};

    t0 = Clock::now();
    int i = 0;
    for (; i < a_.decode_tokens && !over_budget(t0, i); ++i) {
      TokenId next = argmax(logits_.data(), model_.config().n_vocab);
      SeqChunk one{
          .seq = 0, .start_pos = a_.prompt_tokens + i, .tokens = {&next, 1}, .need_logits = true};
      if (!step({&one, 1}, kv)) return false;
    }
    decode = {i / elapsed(t0), i};
    return true;
  }

  // --streams sequences prefilled in one step, then decoded together.
  bool streams(Timing& decode) {
    const int n = a_.streams, n_positions = a_.stream_prompt_tokens + a_.stream_decode_tokens;
    KvCache kv(*model_.kv_shape(n * (n_positions / kBlockSize + 2), kBlockSize));
    std::vector<std::vector<TokenId>> prompts;
    std::vector<SeqChunk> chunks;
    for (int s = 0; s < n; ++s) {
      if (!kv.reserve(s, n_positions).ok()) return false;
      prompts.push_back(prompt_for(s, a_.stream_prompt_tokens));
    }
    for (int s = 0; s < n; ++s)
      chunks.push_back({.seq = s, .start_pos = 0, .tokens = prompts[s], .need_logits = true});
    if (!step(chunks, kv)) return false;

    const int64_t n_vocab = model_.config().n_vocab;
    std::vector<TokenId> next(n);
    streamed_.clear();
    auto t0 = Clock::now();
    int i = 0;
    for (; i < a_.stream_decode_tokens && !over_budget(t0, i); ++i) {
      for (int s = 0; s < n; ++s) {
        next[s] = argmax(logits_.data() + s * n_vocab, n_vocab);
        if (s == n - 1) streamed_.push_back(next[s]);
        chunks[s] = {.seq = s,
                     .start_pos = a_.stream_prompt_tokens + i,
                     .tokens = {&next[s], 1},
                     .need_logits = true};
      }
      if (!step(chunks, kv)) return false;
    }
    decode = {static_cast<double>(n) * i / elapsed(t0), i};
    if (checked_) return true;
    checked_ = true;
    return check_alone(i);
  }

 private:
  // Validates the first batched run (untimed): the last stream, decoded alone for as many steps,
  // must pick the same tokens, since a sequence's logits do not depend on its batch.
  bool check_alone(int steps) {
    const int64_t last = a_.streams - 1, n_vocab = model_.config().n_vocab;
    KvCache kv(*model_.kv_shape((a_.stream_prompt_tokens + steps) / kBlockSize + 2, kBlockSize));
    if (!kv.reserve(0, a_.stream_prompt_tokens + steps).ok()) return false;
    const std::vector<TokenId> prompt = prompt_for(last, a_.stream_prompt_tokens);
    SeqChunk chunk{.seq = 0, .start_pos = 0, .tokens = prompt, .need_logits = true};
    if (!step({&chunk, 1}, kv)) return false;
    for (int i = 0; i < steps; ++i) {
      TokenId next = argmax(logits_.data(), n_vocab);
      if (next != streamed_[i]) {
        std::fprintf(stderr, "stream %lld: token %d is %d decoded alone but %d in the batch\n",
                     static_cast<long long>(last), i, next, streamed_[i]);
        return false;
      }
      SeqChunk one{.seq = 0,
                   .start_pos = a_.stream_prompt_tokens + i,
                   .tokens = {&next, 1},
                   .need_logits = true};
      if (!step({&one, 1}, kv)) return false;
    }
    return true;
  }

  bool step(std::span<const SeqChunk> chunks, KvCache& kv) {
    Status s = model_.forward(chunks, &kv, {.pool = &pool_}, &logits_);
    if (!s.ok()) std::fprintf(stderr, "forward: %s\n", s.error().message.c_str());
    return s.ok();
  }

  bool over_budget(Clock::time_point t0, int steps) const {
    return a_.max_seconds > 0 && steps >= 2 && elapsed(t0) > a_.max_seconds;
  }

  LlamaModel& model_;
  const Args& a_;
  ThreadPool pool_;
  std::vector<float> logits_;
  std::vector<TokenId> streamed_;  // the last stream's tokens in the batched run
  bool checked_ = false;
};

Timing median(std::vector<Timing> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end(),
            [](const Timing& x, const Timing& y) { return x.tokens_per_s < y.tokens_per_s; });
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: %s MODEL [--prompt-tokens N] [--decode-tokens N] [--threads N] "
                 "[--repeat N] [--streams N] [--stream-prompt-tokens N] "
                 "[--stream-decode-tokens N] [--max-seconds S] [--skip-single 1]\n",
                 argv[0]);
    return 2;
  }
  auto file = gguf::File::open(a.model);
  if (!file) return std::fprintf(stderr, "%s\n", file.error().message.c_str()), 1;
  auto model = LlamaModel::load(**file);
  if (!model) return std::fprintf(stderr, "%s\n", model.error().message.c_str()), 1;

  Bench bench(**model, a);
  std::vector<Timing> prefill, decode, stream_decode;
  for (int rep = 0; rep < a.repeat; ++rep) {
    if (!a.skip_single) {
      Timing p, d;
      if (!bench.single(p, d)) return 1;
      prefill.push_back(p);
      decode.push_back(d);
    }
    if (a.streams > 1) {
      Timing d;
      if (!bench.streams(d)) return 1;
      stream_decode.push_back(d);
    }
  }
  const Timing p = median(prefill), d = median(decode), sd = median(stream_decode);
  std::printf(
      "{\"engine\": \"shardserve\", \"threads\": %d, \"prompt_tokens\": %d, "
      "\"decode_tokens\": %d, \"prefill_tokens_per_s\": %.2f, "
      "\"decode_tokens_per_s\": %.2f",
      a.threads, a.prompt_tokens, d.steps, p.tokens_per_s, d.tokens_per_s);
  if (a.streams > 1)
    std::printf(
        ", \"streams\": %d, \"stream_prompt_tokens\": %d, \"stream_decode_steps\": %d, "
        "\"stream_decode_tokens_per_s\": %.2f",
        a.streams, a.stream_prompt_tokens, sd.steps, sd.tokens_per_s);
  std::printf("}\n");
  return 0;
}
