// The CUDA backend's speed on the default model (issue 7): prefill tokens/s, decode tokens/s at
// batch 1 and 32, and the fraction of the device's copy bandwidth that decode reaches (weight
// bytes read per step over the step's time, against a device-to-device copy's read + write
// bytes per second, measured in the same run). Validates first: the greedy continuation of a
// golden prompt must match tests/golden for 8 tokens, else it says so and times nothing.
//
//   build/bench/cuda/cuda_decode_bench [--model PATH] [--device N] [--prompt N] [--steps N]
//                                      [--skip-validation 1]
// --skip-validation 1 times a model whose greedy text cannot match the golden tokens (random
// weights, scripts/gpu-check --random-model); it says so in its first line.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/cuda/cuda_llama_model.h"
#include "model/cuda/device.h"

namespace shardserve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Device-to-device copy: bytes read + written per second (best of 10).
double copy_bandwidth() {
  const size_t bytes = size_t{1} << 30;
  gpu::DeviceMemory a(bytes), b(bytes);
  gpu::Stream stream;
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  float best_ms = 1e30f;
  for (int i = 0; i < 10; ++i) {
    CUDA_CHECK(cudaEventRecord(start, stream.get()));
    CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
    CUDA_CHECK(cudaEventRecord(stop, stream.get()));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    best_ms = std::min(best_ms, ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 2.0 * static_cast<double>(bytes) / (best_ms / 1e3);
}

bool validate(CudaLlamaModel& model) {
  std::ifstream in("tests/golden/generation_golden.json");
  if (!in.good()) {
    std::printf(
        "validation: tests/golden/generation_golden.json not found (run from the repo root)\n");
    return false;
  }
  const nlohmann::json c = nlohmann::json::parse(in)["cases"][0];
  const std::vector<TokenId> prompt = c["prompt_tokens"].get<std::vector<TokenId>>();
  const std::vector<TokenId> golden = c["greedy_tokens"].get<std::vector<TokenId>>();
  KvCache kv(*model.kv_shape(64, 16));
  if (!model.reserve_kv(kv.shape()).ok() || !kv.reserve(0, 64).ok()) return false;
  std::vector<TokenId> out, next;
  SeqChunk chunk{.seq = 0, .start_pos = 0, .tokens = prompt, .need_logits = true};
  model.forward_greedy({&chunk, 1}, kv, nullptr, &next);
  out.push_back(next[0]);
  while (out.size() < 8) {
    const TokenId t = out.back();
    SeqChunk step{.seq = 0,
                  .start_pos = static_cast<int64_t>(prompt.size() + out.size()) - 1,
                  .tokens = {&t, 1},
                  .need_logits = true};
    model.forward_greedy({&step, 1}, kv, nullptr, &next);
    out.push_back(next[0]);
  }
  const bool ok = std::equal(out.begin(), out.end(), golden.begin());
  std::printf("validation: greedy continuation of '%s' %s the golden tokens for 8 steps\n",
              c["prompt"].get<std::string>().c_str(), ok ? "matches" : "DOES NOT match");
  return ok;
}

int run(int argc, char** argv) {
  std::string path = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
  int device = 0, prompt_len = 512, steps = 64;
  bool skip_validation = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--model"))
      path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--device"))
      device = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--prompt"))
      prompt_len = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--steps"))
      steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--skip-validation"))
      skip_validation = std::atoi(argv[i + 1]) != 0;
  }
  auto file = gguf::File::open(path);
  if (!file) {
    std::fprintf(stderr, "%s\n", file.error().message.c_str());
    return 1;
  }
  const int max_batch = 32;
  // Sized for the largest step below: the prefill chunk, or a 16-token prefill per sequence.
  auto loaded = CudaLlamaModel::load(
      **file, 1, 0, device, nullptr,
      {.max_step_tokens = std::max(prompt_len, 16 * max_batch), .max_step_chunks = max_batch});
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 1;
  }
  CudaLlamaModel& model = **loaded;
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  if (skip_validation)
    std::printf("validation: skipped (--skip-validation): timings of an unchecked model\n");
  else if (!validate(model))
    return 1;

  const double bandwidth = copy_bandwidth();
  // Bytes a step reads: the weights but the embedding and RoPE tables (a few rows of those).
  const double weight_bytes = static_cast<double>(model.bytes_read_per_step());
  std::printf(
      "device: %s; copy bandwidth (read + write): %.0f GB/s; weights read per step: %.1f MiB\n",
      prop.name, bandwidth / 1e9, weight_bytes / 1048576.0);

  KvCache kv(*model.kv_shape(max_batch * ((prompt_len + steps) / 16 + 2), 16));
  if (!model.reserve_kv(kv.shape()).ok()) return 1;
  std::vector<TokenId> prompt(prompt_len);
  for (int i = 0; i < prompt_len; ++i) prompt[i] = 100 + (i * 37) % 20000;
  std::vector<TokenId> next;

  // Prefill: one chunk of prompt_len tokens, best of 3.
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    kv.release(0);
    if (!kv.reserve(0, prompt_len).ok()) return 1;
    SeqChunk chunk{.seq = 0, .start_pos = 0, .tokens = prompt, .need_logits = true};
    const auto start = Clock::now();
    model.forward_greedy({&chunk, 1}, kv, nullptr, &next);
    best = std::min(best, seconds_since(start));
  }
  kv.release(0);
  std::printf("prefill: %d tokens in %.2f ms: %.0f tokens/s\n", prompt_len, best * 1e3,
              prompt_len / best);

  // Decode at batch 1 and 32: a 16-token prefill per sequence, then `steps` timed steps.
  for (int batch : {1, max_batch}) {
    std::vector<SeqChunk> chunks(batch);
    std::vector<TokenId> tokens(batch, 0);
    for (int b = 0; b < batch; ++b) {
      if (!kv.reserve(b, 16 + steps + 1).ok()) return 1;
      chunks[b] = {
          .seq = b, .start_pos = 0, .tokens = {prompt.data() + b, 16}, .need_logits = true};
    }
    model.forward_greedy(chunks, kv, nullptr, &next);
    const auto start = Clock::now();
    for (int s = 0; s < steps; ++s) {
      for (int b = 0; b < batch; ++b) {
        tokens[b] = next[b];
        chunks[b] = {.seq = b, .start_pos = 16 + s, .tokens = {&tokens[b], 1}, .need_logits = true};
      }
      model.forward_greedy(chunks, kv, nullptr, &next);
    }
    const double per_step = seconds_since(start) / steps;
    std::printf(
        "decode batch %2d: %.3f ms/step, %.0f tokens/s, weights read at %.0f GB/s = %.1f%% "
        "of the copy bandwidth\n",
        batch, per_step * 1e3, batch / per_step, weight_bytes / per_step / 1e9,
        100.0 * weight_bytes / per_step / bandwidth);
    for (int b = 0; b < batch; ++b) kv.release(b);
  }
  return 0;
}

}  // namespace
}  // namespace shardserve

int main(int argc, char** argv) {
  if (auto reason = shardserve::gpu::cuda_unavailable_reason()) {
    std::fprintf(stderr, "%s: nothing to measure\n", reason->c_str());
    return 1;
  }
  return shardserve::run(argc, argv);
}
