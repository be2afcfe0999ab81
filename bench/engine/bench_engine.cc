// Times our engine on one sequence: prefill of a prompt (one chunk), then greedy decoding,
// on the CPU with a given number of threads. Prints one JSON object, so that
// bench/engine/compare_llamacpp.py can put it next to llama.cpp measured in the same run.
//
//   bench_engine MODEL [--prompt-tokens N] [--decode-tokens N] [--threads N] [--repeat N]
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

double elapsed(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Args {
  std::string model;
  int prompt_tokens = 128, decode_tokens = 128, threads = 2, repeat = 3;
};

bool parse(int argc, char** argv, Args& a) {
  if (argc < 2) return false;
  a.model = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    int v = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--prompt-tokens"))
      a.prompt_tokens = v;
    else if (!std::strcmp(argv[i], "--decode-tokens"))
      a.decode_tokens = v;
    else if (!std::strcmp(argv[i], "--threads"))
      a.threads = v;
    else if (!std::strcmp(argv[i], "--repeat"))
      a.repeat = v;
    else
      return false;
  }
  return a.prompt_tokens > 0 && a.decode_tokens > 0 && a.threads > 0 && a.repeat > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: %s MODEL [--prompt-tokens N] [--decode-tokens N] [--threads N] "
                 "[--repeat N]\n",
                 argv[0]);
    return 2;
  }
  auto file = gguf::File::open(a.model);
  if (!file) return std::fprintf(stderr, "%s\n", file.error().message.c_str()), 1;
  auto model = LlamaModel::load(**file);
  if (!model) return std::fprintf(stderr, "%s\n", model.error().message.c_str()), 1;
  const int64_t n_vocab = (*model)->config().n_vocab;

  // A fixed, ordinary prompt: token ids cycling through a common range.
  std::vector<TokenId> prompt(a.prompt_tokens);
  for (int i = 0; i < a.prompt_tokens; ++i) prompt[i] = 300 + (i * 37) % 5000;

  ThreadPool pool(a.threads);
  std::vector<double> prefill_tps, decode_tps;
  for (int rep = 0; rep < a.repeat; ++rep) {
    KvCache kv(*(*model)->kv_shape((a.prompt_tokens + a.decode_tokens) / 16 + 2, 16));
    if (!kv.reserve(0, a.prompt_tokens + a.decode_tokens).ok()) return 1;
    std::vector<float> logits;
    auto t0 = Clock::now();
    SeqChunk chunk{.seq = 0, .start_pos = 0, .tokens = prompt, .need_logits = true};
    if (!(*model)->forward({&chunk, 1}, &kv, {.pool = &pool}, &logits).ok()) return 1;
    prefill_tps.push_back(a.prompt_tokens / elapsed(t0));

    t0 = Clock::now();
    for (int i = 0; i < a.decode_tokens; ++i) {
      TokenId next = static_cast<TokenId>(
          std::max_element(logits.begin(), logits.begin() + n_vocab) - logits.begin());
      SeqChunk step{
          .seq = 0, .start_pos = a.prompt_tokens + i, .tokens = {&next, 1}, .need_logits = true};
      if (!(*model)->forward({&step, 1}, &kv, {.pool = &pool}, &logits).ok()) return 1;
    }
    decode_tps.push_back(a.decode_tokens / elapsed(t0));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf(
      "{\"engine\": \"shardserve\", \"threads\": %d, \"prompt_tokens\": %d, "
      "\"decode_tokens\": %d, \"prefill_tokens_per_s\": %.2f, "
      "\"decode_tokens_per_s\": %.2f}\n",
      a.threads, a.prompt_tokens, a.decode_tokens, median(prefill_tps), median(decode_tps));
  return 0;
}
