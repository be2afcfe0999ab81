// `shardserve generate`: load a GGUF model, optionally apply its chat template, and stream
// the continuation to stdout as it is produced. Timings go to stderr.
//
// By default it computes with the served model's arithmetic (LlamaArithmetic::kFastest, the
// row-parallel products summed per reduction segment as a worker group of one does), so a
// greedy prompt gives the text the API gives. --llama-cpp-arithmetic sums in llama.cpp's order
// instead (kLlamaCpp, whole dot products), which reproduces llama.cpp's logits bit for bit: for
// parity checks against llama.cpp.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "cli/commands.h"
#include "model/chat_template/chat_template.h"
#include "model/gguf/gguf.h"
#include "model/kv_cache/kv_cache.h"
#include "model/llama/llama_model.h"
#include "model/sampler/sampler.h"
#include "model/tokenizer/chat_prompt.h"
#include "model/tokenizer/tokenizer.h"
#include "parallel/single_rank_combiner.h"

namespace shardserve::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  std::string system;
  std::string chat_template;  // a Jinja file overriding the model's template (implies --chat)
  bool chat = false;
  bool verbose_prompt = false;
  bool llama_cpp_arithmetic = false;
  int max_tokens = 128;
  int threads = 2;
  int context = 0;  // 0: the model's trained context
  int prefill_chunk = 256;
  SamplingParams sampling;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int fail(const std::string& message) {
  std::fprintf(stderr, "shardserve generate: %s\n", message.c_str());
  return 1;
}

// The chat template's source: the --chat-template file, else the model's own.
Result<std::string> chat_template_source(const GenerateOptions& o, const gguf::File& file) {
  if (o.chat_template.empty()) {
    auto source = file.get_string("tokenizer.chat_template");
    if (!source)
      return Error{"--chat needs a chat template, but the model has none (" +
                   source.error().message + "); give one with --chat-template FILE"};
    return std::string(*source);
  }
  std::ifstream in(o.chat_template, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Error{"cannot read --chat-template " + o.chat_template};
  return text;
}

// The prompt text: as given, or the chat template applied to one user turn.
Result<std::string> build_prompt(const GenerateOptions& o, const gguf::File& file,
                                 const Tokenizer& tokenizer) {
  if (!o.chat) return o.prompt;
  auto source = chat_template_source(o, file);
  if (!source) return source.error();
  auto tmpl = ChatTemplate::parse(*source);
  if (!tmpl) {
    const std::string where =
        o.chat_template.empty() ? "the model's chat template" : o.chat_template;
    return Error{where + ": " + tmpl.error().message};
  }
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
  messages.push_back({{"role", "user"}, {"content", o.prompt}});
  nlohmann::ordered_json context = {{"messages", messages},
                                    {"add_generation_prompt", true},
                                    {"bos_token", chat_bos_token(tokenizer)},
                                    {"eos_token", chat_eos_token(tokenizer)}};
  return tmpl->render(context);
}

int run_generate(const GenerateOptions& o) {
  auto file = gguf::File::open(o.model);
  if (!file) return fail(file.error().message);
  auto tokenizer = Tokenizer::from_gguf(**file);
  if (!tokenizer) return fail(o.model + ": " + tokenizer.error().message);
  auto model = LlamaModel::load(
      **file, 1, 0,
      o.llama_cpp_arithmetic ? LlamaArithmetic::kLlamaCpp : LlamaArithmetic::kFastest);
  if (!model) return fail(o.model + ": " + model.error().message);
  const LlamaConfig& config = (*model)->config();

  auto prompt_text = build_prompt(o, **file, **tokenizer);
  if (!prompt_text) return fail(prompt_text.error().message);
  // A chat prompt's BOS text (`{{ bos_token }}`) and the vocabulary's BOS become one token.
  std::vector<TokenId> prompt = o.chat ? encode_chat_prompt(**tokenizer, *prompt_text)
                                       : (*tokenizer)->encode(*prompt_text, true, true);
  if (prompt.empty()) return fail("the prompt is empty");
  if (o.verbose_prompt) {
    std::fprintf(stderr, "prompt text: %s\nprompt tokens (%zu):", prompt_text->c_str(),
                 prompt.size());
    for (TokenId t : prompt) std::fprintf(stderr, " %d", t);
    std::fprintf(stderr, "\n");
  }

  const int64_t context = o.context > 0 ? o.context : config.context_length;
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt >= context)
    return fail("the prompt has " + std::to_string(n_prompt) + " tokens, but the context holds " +
                std::to_string(context) + "; shorten it or raise --context");
  const int64_t max_new = std::min<int64_t>(o.max_tokens, context - n_prompt);

  const int64_t block_size = 16;
  KvCache kv(*(*model)->kv_shape((n_prompt + max_new + block_size - 1) / block_size, block_size));
  if (Status s = kv.reserve(0, n_prompt + max_new); !s) return fail(s.message());
  ThreadPool pool(o.threads);
  SingleRankCombiner served_sums;
  const StepResources resources{.pool = &pool,
                                .combiner = o.llama_cpp_arithmetic ? nullptr : &served_sums};
  Sampler sampler(o.sampling);
  IncrementalDecoder decoder(**tokenizer);
  std::vector<float> logits;

  // Prefill in chunks; logits only for the last prompt token.
  const auto t_prompt = Clock::now();
  for (int64_t begin = 0; begin < n_prompt; begin += o.prefill_chunk) {
    const int64_t end = std::min<int64_t>(n_prompt, begin + o.prefill_chunk);
    SeqChunk chunk{.seq = 0,
                   .start_pos = begin,
                   .tokens = std::span<const TokenId>(prompt).subspan(begin, end - begin),
                   .need_logits = end == n_prompt};
    if (Status s = (*model)->forward({&chunk, 1}, &kv, resources, &logits); !s)
      return fail(s.message());
  }
  const double prompt_s = seconds_since(t_prompt);

  // Decode: sample, print, feed back.
  const auto t_gen = Clock::now();
  std::vector<TokenId> generated;
  while (static_cast<int64_t>(generated.size()) < max_new) {
    const TokenId token = sampler.sample(logits, prompt, generated).token;
    if ((*tokenizer)->is_end_of_generation(token)) break;
    generated.push_back(token);
    std::cout << decoder.push(token) << std::flush;
    if (static_cast<int64_t>(generated.size()) == max_new) break;
    SeqChunk chunk{.seq = 0,
                   .start_pos = n_prompt + static_cast<int64_t>(generated.size()) - 1,
                   .tokens = {&generated.back(), 1},
                   .need_logits = true};
    if (Status s = (*model)->forward({&chunk, 1}, &kv, resources, &logits); !s)
      return fail(s.message());
  }
  std::cout << decoder.flush() << std::endl;
  const double gen_s = seconds_since(t_gen);

  std::fprintf(stderr, "prompt: %lld tokens in %.3f s (%.1f tokens/s)\n",
               static_cast<long long>(n_prompt), prompt_s, n_prompt / prompt_s);
  std::fprintf(stderr, "generation: %zu tokens in %.3f s (%.1f tokens/s)\n", generated.size(),
               gen_s, generated.empty() ? 0.0 : generated.size() / gen_s);
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with a model on this machine");
  GenerateOptions& o = *options;
  cmd->add_option("-m,--model", o.model, "GGUF model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-p,--prompt", o.prompt, "Prompt text")->required();
  cmd->add_flag("--chat", o.chat, "Apply the model's chat template to the prompt (a user turn)");
  cmd->add_option("--chat-template", o.chat_template,
                  "A Jinja chat template file to use instead of the model's (implies --chat)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--system", o.system, "System message (with --chat)");
  cmd->add_flag("--verbose-prompt", o.verbose_prompt, "Print the prompt text and tokens to stderr");
  cmd->add_flag("--llama-cpp-arithmetic", o.llama_cpp_arithmetic,
                "Sum in llama.cpp's order, which reproduces llama.cpp's logits bit for bit (for "
                "parity checks; slower). Default: the served model's arithmetic, so greedy "
                "output is the API's");
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Tokens to generate at most")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-t,--threads", o.threads, "CPU threads")->check(CLI::Range(1, 1024));
  cmd->add_option("--context", o.context, "Context length (default: the model's)")
      ->check(CLI::Range(0, 1 << 22));
  cmd->add_option("--temperature", o.sampling.temperature, "0 is greedy")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", o.sampling.top_k, "0 is off")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--top-p", o.sampling.top_p, "1 is off")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", o.sampling.min_p, "0 is off")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty", o.sampling.repetition_penalty, "1 is off")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--presence-penalty", o.sampling.presence_penalty)->check(CLI::Range(-2.0, 2.0));
  cmd->add_option("--frequency-penalty", o.sampling.frequency_penalty)
      ->check(CLI::Range(-2.0, 2.0));
  cmd->add_option("--seed", o.sampling.seed, "Random seed");
  cmd->callback([options, &exit_code] {
    if (!options->chat_template.empty()) options->chat = true;
    exit_code = run_generate(*options);
  });
}

}  // namespace shardserve::cli
