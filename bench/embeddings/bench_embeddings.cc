// Times our BERT encoder (token ids in, normalised embeddings out; no tokenizer) at several
// batch sizes on the CPU with a given number of threads. Prints one JSON object, so that
// bench/embeddings/compare_reference.py can put it next to sentence-transformers measured in the
// same run. Validates before it times: every embedding has unit norm and a sequence encoded in a
// batch has the bits it has alone.
//
//   bench_embeddings MODEL_DIR [--inputs FILE.json] [--batch N]... [--threads N]
//                    [--min-seconds S] [--rounds N] [--dump OUT.json]
//
// FILE.json is {"sequences": [[ids incl. CLS and SEP], ...]}; without it, 64 synthetic sentences
// of 24 to 36 tokens. Batches take consecutive sequences, cycling through the list. --dump writes
// every input's embedding ({"embeddings": [[...], ...]}) for a comparison with a reference.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "model/bert/bert_model.h"
#include "model/kernels/cpu/quant.h"

using namespace shardserve;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string model_dir, inputs, dump;
  std::vector<int> batches;
  int threads = 2, rounds = 3;
  double min_seconds = 2.0;
};

bool parse(int argc, char** argv, Args& a) {
  if (argc < 2) return false;
  a.model_dir = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const char* k = argv[i];
    const char* v = argv[i + 1];
    if (!std::strcmp(k, "--inputs")) {
      a.inputs = v;
    } else if (!std::strcmp(k, "--dump")) {
      a.dump = v;
    } else if (!std::strcmp(k, "--batch")) {
      a.batches.push_back(std::atoi(v));
    } else if (!std::strcmp(k, "--threads")) {
      a.threads = std::atoi(v);
    } else if (!std::strcmp(k, "--rounds")) {
      a.rounds = std::atoi(v);
    } else if (!std::strcmp(k, "--min-seconds")) {
      a.min_seconds = std::atof(v);
    } else {
      return false;
    }
  }
  if (a.batches.empty()) a.batches = {1, 32};
  for (int b : a.batches)
    if (b < 1) return false;
  return a.threads > 0 && a.rounds > 0 && a.min_seconds > 0;
}

std::vector<std::vector<TokenId>> synthetic_inputs() {
  std::mt19937 rng(42);
  std::vector<std::vector<TokenId>> seqs;
  for (int s = 0; s < 64; ++s) {
    std::vector<TokenId> ids = {101};  // [CLS]
    const int words = 22 + static_cast<int>(rng() % 13);
    for (int w = 0; w < words; ++w) ids.push_back(static_cast<TokenId>(1996 + rng() % 27000));
    ids.push_back(102);  // [SEP]
    seqs.push_back(ids);
  }
  return seqs;
}

std::vector<std::span<const TokenId>> batch_at(const std::vector<std::vector<TokenId>>& seqs,
                                               size_t first, int size) {
  std::vector<std::span<const TokenId>> b;
  for (int i = 0; i < size; ++i) b.emplace_back(seqs[(first + i) % seqs.size()]);
  return b;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "bench_embeddings: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: %s MODEL_DIR [--inputs FILE.json] [--batch N]... [--threads N] "
                 "[--min-seconds S] [--rounds N] [--dump OUT.json]\n",
                 argv[0]);
    return 2;
  }
  auto config = read_bert_config(a.model_dir);
  if (!config) return fail(config.error().message);
  auto file = safetensors::File::open(a.model_dir + "/model.safetensors");
  if (!file) return fail(file.error().message);
  auto model = BertModel::load(**file, *config);
  if (!model) return fail(model.error().message);
  BertModel& m = **model;

  std::vector<std::vector<TokenId>> seqs;
  if (a.inputs.empty()) {
    seqs = synthetic_inputs();
  } else {
    std::ifstream in(a.inputs);
    if (!in) return fail("cannot read " + a.inputs);
    seqs = nlohmann::json::parse(in).at("sequences").get<std::vector<std::vector<TokenId>>>();
  }
  if (seqs.empty()) return fail("no input sequences");
  for (const auto& s : seqs)
    if (s.empty() || static_cast<int64_t>(s.size()) > config->max_seq_len)
      return fail("an input sequence has " + std::to_string(s.size()) + " tokens (1 to " +
                  std::to_string(config->max_seq_len) + " allowed)");

  ThreadPool pool(a.threads);
  const int64_t dim = m.dim();
  const int max_batch = *std::max_element(a.batches.begin(), a.batches.end());
  std::vector<float> out(static_cast<size_t>(max_batch) * dim), alone(dim);

  // Validate: unit norms, and batching does not change a sequence's bits.
  {
    const auto b = batch_at(seqs, 0, max_batch);
    m.encode(b, pool, nullptr, out.data());
    for (int i = 0; i < max_batch; ++i) {
      double norm = 0;
      for (int64_t k = 0; k < dim; ++k) norm += double(out[i * dim + k]) * out[i * dim + k];
      if (std::fabs(std::sqrt(norm) - 1.0) > 1e-5) return fail("an embedding is not normalised");
    }
    for (int i : {0, max_batch - 1}) {
      m.encode({&b[i], 1}, pool, nullptr, alone.data());
      if (std::memcmp(alone.data(), &out[i * dim], dim * sizeof(float)) != 0)
        return fail("batching changed an embedding");
    }
  }

  if (!a.dump.empty()) {
    std::vector<std::span<const TokenId>> all(seqs.begin(), seqs.end());
    std::vector<float> embeddings(seqs.size() * dim);
    m.encode(all, pool, nullptr, embeddings.data());
    nlohmann::json rows = nlohmann::json::array();
    for (size_t i = 0; i < seqs.size(); ++i)
      rows.push_back(std::vector<float>(&embeddings[i * dim], &embeddings[(i + 1) * dim]));
    std::ofstream(a.dump) << nlohmann::json{{"embeddings", rows}}.dump();
  }

  nlohmann::json results = nlohmann::json::array();
  for (int batch : a.batches) {
    std::vector<double> rates, token_rates;
    size_t next = 0;
    for (int round = 0; round < a.rounds; ++round) {
      int64_t n_seqs = 0, n_tokens = 0;
      const auto t0 = Clock::now();
      double seconds = 0;
      while (seconds < a.min_seconds) {
        const auto b = batch_at(seqs, next, batch);
        next = (next + batch) % seqs.size();
        m.encode(b, pool, nullptr, out.data());
        n_seqs += batch;
        for (const auto& s : b) n_tokens += static_cast<int64_t>(s.size());
        seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      }
      rates.push_back(n_seqs / seconds);
      token_rates.push_back(n_tokens / seconds);
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    results.push_back({{"batch", batch},
                       {"embeddings_per_s", median(rates)},
                       {"tokens_per_s", median(token_rates)}});
  }
  int64_t total_tokens = 0;
  for (const auto& s : seqs) total_tokens += static_cast<int64_t>(s.size());
  const nlohmann::json report = {
      {"engine", "shardserve"},
      {"threads", a.threads},
      {"isa", kernels::isa_name(kernels::best_isa())},
      {"mean_tokens", static_cast<double>(total_tokens) / static_cast<double>(seqs.size())},
      {"results", results}};
  std::printf("%s\n", report.dump().c_str());
  return 0;
}
