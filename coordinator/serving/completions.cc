#include "coordinator/serving/completions.h"

#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/openai_request.h"
#include "api/openai_response.h"
#include "api/request_id.h"
#include "api/sse.h"
#include "coordinator/serving/answer_shaper.h"
#include "coordinator/serving/echo.h"
#include "coordinator/serving/generation.h"
#include "coordinator/serving/grounding.h"
#include "coordinator/serving/prompt.h"
#include "coordinator/serving/structured_output.h"
#include "model/tokenizer/chat_prompt.h"

namespace shardserve {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

// One request's generations (one per prompt) and what the response needs to know.
// How a chat choice's text is shaped into reasoning, content and tool calls (answer_shaper.h).
struct Shaping {
  std::optional<ReasoningTags> reasoning;
  bool opens_reasoning = false;
  std::optional<ToolFormat> tools;

  AnswerShaper make() const { return AnswerShaper(reasoning, opens_reasoning, tools); }
};

struct Job {
  std::vector<std::unique_ptr<Generation>> generations;
  api::ResponseMeta meta;
  bool chat = true;
  bool logprobs = false;
  Shaping shaping;                                           // chat only
  api::ordered_json citations = api::ordered_json::array();  // file_search sources (chat)
  Clock::time_point arrived;
  Clock::time_point deadline;

  int64_t prompt_tokens() const {
    int64_t n = 0;
    for (const auto& g : generations) n += g->prompt_tokens();
    return n;
  }
  int64_t cached_tokens() const {
    int64_t n = 0;
    for (const auto& g : generations) n += g->cached_tokens();
    return n;
  }
  int64_t completion_tokens() const {
    int64_t n = 0;
    for (const auto& g : generations) n += g->completion_tokens();
    return n;
  }
  bool done() const {
    for (const auto& g : generations)
      if (!g->done()) return false;
    return true;
  }
  void cancel() {
    for (auto& g : generations) g->cancel();
  }
  // Progress of every generation, waiting up to `timeout` in total.
  api::ApiResult<std::vector<ChoiceUpdate>> next(milliseconds timeout) {
    std::vector<ChoiceUpdate> all;
    for (auto& g : generations) {
      if (g->done()) continue;
      auto updates = g->next(timeout);
      if (!updates.ok()) return updates.error();
      timeout = milliseconds(0);
      for (auto& u : updates.value()) all.push_back(std::move(u));
    }
    return all;
  }
};

// What a request asks for once it is parsed and its model found.
struct Prompts {
  const ServedModel* model = nullptr;
  api::GenerationOptions options;
  std::vector<std::vector<TokenId>> tokens;  // one sequence per prompt
  std::string grammar;                       // GBNF the output must follow; "": free text
  Shaping shaping;
  std::vector<std::string> echo;      // completions with echo: each prompt's text
  std::vector<TokenId> shown_tokens;  // control tokens the answer shows (tool call openers)
};

// The chat model named `name`: 404 if none is served, 400 if it is an embedding model.
api::ApiResult<const ServedModel*> chat_model(const EndpointContext& ctx, const std::string& name) {
  const ServedModel* model = find_model(ctx.models, name);
  if (!model) return api::ApiError::model_not_found(name);
  if (model->task != ModelTask::kChat)
    return api::ApiError::bad_request(
        "model '" + name + "' is an embedding model; use /v1/embeddings", "model");
  return model;
}

api::ApiResult<Prompts> parse_chat(const EndpointContext& ctx, std::string_view body) {
  auto r = api::parse_chat_completion_request(body);
  if (!r.ok()) return r.error();
  auto model = chat_model(ctx, r->model);
  if (!model.ok()) return model.error();
  const ServedModel& m = **model;
  const bool tools = !r->tools.empty() && r->tool_choice.mode != api::ToolChoice::Mode::kNone;
  if (tools && r->response_format.type != api::ResponseFormat::Type::kText)
    return api::ApiError::bad_request(
        "response_format cannot be combined with tools unless tool_choice is \"none\"",
        "response_format");
  auto text = chat_prompt_text(m, *r);
  if (!text.ok()) return text.error();
  const bool opens_reasoning = m.reasoning && prompt_opens_reasoning(*text, *m.reasoning);
  Prompts p{.model = &m, .options = r->options};
  if (tools) {
    const ToolAnswerContext context{.control_opener = !m.tool_control_tokens.empty(),
                                    .reasoning = m.reasoning.has_value(),
                                    .opens_reasoning = opens_reasoning};
    auto g =
        tool_call_grammar(m.tool_format, r->tools, r->tool_choice, r->parallel_tool_calls, context);
    if (!g) return api::ApiError::bad_request(g.error().message, "tools", "unsupported_schema");
    p.grammar = std::move(*g);
    p.shown_tokens = m.tool_control_tokens;
  } else {
    auto g = response_format_grammar(r->response_format);
    if (!g.ok()) return g.error();
    p.grammar = std::move(*g);
  }
  p.tokens.push_back(encode_chat_prompt(*m.tokenizer, *text));
  p.shaping = {.reasoning = m.reasoning,
               .opens_reasoning = opens_reasoning,
               .tools = tools ? std::optional(m.tool_format) : std::nullopt};
  return p;
}

api::ApiResult<Prompts> parse_completion(const EndpointContext& ctx, std::string_view body) {
  auto r = api::parse_completion_request(body);
  if (!r.ok()) return r.error();
  auto model = chat_model(ctx, r->model);
  if (!model.ok()) return model.error();
  auto tokens = completion_prompts(**model, *r);
  if (!tokens.ok()) return tokens.error();
  Prompts p{.model = *model, .options = r->options, .tokens = std::move(tokens.value())};
  if (p.options.echo)
    for (size_t i = 0; i < p.tokens.size(); ++i)
      p.echo.push_back(echo_text(*p.model->tokenizer, r->prompts[i], p.tokens[i]));
  return p;
}

// The metrics of a request that has ended well.
void record_finish(metrics::ServerMetrics& metrics, const Job& job) {
  const std::string& model = job.meta.model;
  metrics.generation_tokens.with({model}).inc(static_cast<uint64_t>(job.completion_tokens()));
  metrics.request_duration.with({model}).observe(seconds_since(job.arrived));
  metrics.request_prompt_tokens.with({model}).observe(static_cast<double>(job.prompt_tokens()));
  metrics.request_generation_tokens.with({model}).observe(
      static_cast<double>(job.completion_tokens()));
}

// Non-streaming: wait for every choice, then one JSON body.
Response complete(const EndpointContext& ctx, Job& job) {
  std::map<int, std::string> text;
  std::map<int, std::vector<api::TokenLogprobs>> logprobs;
  std::map<int, api::FinishReason> finish;
  bool first = true;
  while (!job.done()) {
    if (Clock::now() > job.deadline) {
      job.cancel();
      return Response::error(api::ApiError::server_error("the request timed out"));
    }
    auto updates = job.next(milliseconds(200));
    if (!updates.ok()) {
      job.cancel();
      return Response::error(updates.error());
    }
    for (ChoiceUpdate& u : updates.value()) {
      if (first && !u.text.empty()) {
        ctx.metrics.time_to_first_token.with({job.meta.model}).observe(seconds_since(job.arrived));
        first = false;
      }
      text[u.index] += u.text;
      auto& lp = logprobs[u.index];
      lp.insert(lp.end(), u.logprobs.begin(), u.logprobs.end());
      if (u.finish) finish[u.index] = *u.finish;
    }
  }
  const api::Usage usage{job.prompt_tokens(), job.completion_tokens(), job.cached_tokens()};
  record_finish(ctx.metrics, job);
  auto choice_logprobs = [&](int i) {
    return job.logprobs ? std::optional(logprobs[i]) : std::nullopt;
  };
  if (job.chat) {
    std::vector<api::ChatChoice> choices;
    for (auto& [i, t] : text) {
      AnswerShaper shaper = job.shaping.make();
      ShapedAnswer a = shape_answer(shaper, t);
      // Text that only separates calls is no content.
      if (!a.tool_calls.empty() && a.content.find_first_not_of(" \t\r\n") == std::string::npos)
        a.content.clear();
      api::FinishReason f = finish[i];
      if (!a.tool_calls.empty() && f == api::FinishReason::Stop) f = api::FinishReason::ToolCalls;
      choices.push_back({.index = i,
                         .content = std::move(a.content),
                         .finish = f,
                         .logprobs = choice_logprobs(i),
                         .tool_calls = std::move(a.tool_calls),
                         .reasoning_content = std::move(a.reasoning)});
    }
    api::ordered_json body = api::chat_completion(job.meta, choices, usage);
    if (!job.citations.empty())
      for (auto& choice : body["choices"]) choice["message"]["citations"] = job.citations;
    return Response::json(200, api::dump_json(body));
  }
  std::vector<api::CompletionChoice> choices;
  for (auto& [i, t] : text) choices.push_back({i, t, finish[i], choice_logprobs(i)});
  return Response::json(200, api::dump_json(api::completion(job.meta, choices, usage)));
}

// One shaped piece of a chat choice as its chunk; a call's start gets its id here.
api::ordered_json chunk_of(const api::ResponseMeta& meta, int index, const AnswerEvent& e) {
  switch (e.kind) {
    case AnswerEvent::Kind::kReasoning:
      return api::chat_chunk_reasoning(meta, index, e.text);
    case AnswerEvent::Kind::kCallStart:
      return api::chat_chunk_tool_call(meta, index, e.call, api::new_tool_call_id(), e.text);
    case AnswerEvent::Kind::kArguments:
      return api::chat_chunk_tool_arguments(meta, index, e.call, e.text);
    case AnswerEvent::Kind::kContent:
      break;
  }
  return api::chat_chunk_content(meta, index, e.text);
}

// Streaming: Server-Sent Events as the text arrives; keep-alive comments while waiting. The
// stream holds the request's admission ticket until it ends.
Response stream(const EndpointContext& ctx, std::shared_ptr<Job> job, Admission::Ticket ticket) {
  Response res;
  res.content_type = "text/event-stream";
  res.headers = {{"Cache-Control", "no-cache"},
                 {"X-Accel-Buffering", "no"}};  // nginx: do not buffer this response
  res.stream = [&metrics = ctx.metrics, job, ticket](StreamSink& sink) {
    auto write = [&](const std::string& s) { return sink.write(s); };
    const api::ResponseMeta& meta = job->meta;
    std::map<int, bool> started;
    std::map<int, Clock::time_point> last_text;  // per choice: when its text last came
    std::map<int, AnswerShaper> shapers;         // per chat choice
    std::map<int, int> calls;                    // per chat choice: tool calls started
    bool first = true;
    auto last_write = Clock::now();
    while (!job->done()) {
      if (!sink.writable()) {  // the client went away: free its sequences
        job->cancel();
        return false;
      }
      if (Clock::now() > job->deadline) {
        job->cancel();
        write(api::sse_error(api::ApiError::server_error("the request timed out")));
        sink.done();
        return true;
      }
      auto updates = job->next(milliseconds(100));
      if (!updates.ok()) {
        job->cancel();
        write(api::sse_error(updates.error()));
        sink.done();
        return true;
      }
      if (updates.value().empty()) {
        if (Clock::now() - last_write > std::chrono::seconds(1)) {
          if (!write(api::sse_comment("keep-alive"))) return false;
          last_write = Clock::now();
        }
        continue;
      }
      for (ChoiceUpdate& u : updates.value()) {
        const std::vector<api::TokenLogprobs>* lp = job->logprobs ? &u.logprobs : nullptr;
        if (job->chat) {
          if (!started[u.index]) {
            api::ordered_json role = api::chat_chunk_role(meta, u.index);
            if (!job->citations.empty()) role["choices"][0]["delta"]["citations"] = job->citations;
            write(api::sse_data(role));
            started[u.index] = true;
            shapers.emplace(u.index, job->shaping.make());
          }
          AnswerShaper& shaper = shapers.at(u.index);
          if (!shaper.shapes()) {
            if (!u.text.empty() || (lp && !lp->empty()))
              write(api::sse_data(api::chat_chunk_content(meta, u.index, u.text, lp)));
          } else {
            std::vector<AnswerEvent> events = shaper.push(u.text);
            if (u.finish)
              for (AnswerEvent& e : shaper.finish()) events.push_back(std::move(e));
            for (const AnswerEvent& e : events) write(api::sse_data(chunk_of(meta, u.index, e)));
            for (const AnswerEvent& e : events)
              if (e.kind == AnswerEvent::Kind::kCallStart) ++calls[u.index];
            if (lp && !lp->empty())  // the tokens' log-probabilities, apart from the shaping
              write(api::sse_data(api::chat_chunk_content(meta, u.index, "", lp)));
          }
          if (u.finish) {
            api::FinishReason f = *u.finish;
            if (calls[u.index] > 0 && f == api::FinishReason::Stop)
              f = api::FinishReason::ToolCalls;
            write(api::sse_data(api::chat_chunk_finish(meta, u.index, f)));
          }
        } else if (!u.text.empty() || u.finish) {
          write(api::sse_data(
              api::completion_chunk(meta, u.index, u.text, u.finish, lp, u.text_offset)));
        }
        if (!u.text.empty()) {
          if (first) {
            metrics.time_to_first_token.with({meta.model}).observe(seconds_since(job->arrived));
            first = false;
          } else if (auto it = last_text.find(u.index); it != last_text.end()) {
            metrics.inter_token_latency.with({meta.model}).observe(seconds_since(it->second));
          }
          last_text[u.index] = Clock::now();
        }
      }
      last_write = Clock::now();
    }
    if (meta.include_usage) {
      const api::Usage usage{job->prompt_tokens(), job->completion_tokens(), job->cached_tokens()};
      write(api::sse_data(job->chat ? api::chat_chunk_usage(meta, usage)
                                    : api::completion_chunk_usage(meta, usage)));
    }
    write(api::sse_done());
    record_finish(metrics, *job);
    sink.done();
    return true;
  };
  return res;
}

Response post(EndpointContext& ctx, std::string_view request_body, bool chat,
              std::string_view owner) {
  const Clock::time_point arrived = Clock::now();
  api::ordered_json citations = api::ordered_json::array();
  std::string grounded_body;
  std::string_view body = request_body;
  if (chat) {  // the file_search tool: the knowledge base's passages join the prompt
    double searched_s = 0;
    auto grounded = ground_chat_request(request_body, ctx.knowledge, owner, &searched_s);
    if (!grounded.ok()) return Response::error(grounded.error());
    if (searched_s > 0) ctx.metrics.knowledge_search_time.get().observe(searched_s);
    grounded_body = std::move(grounded.value().body);
    citations = std::move(grounded.value().citations);
    body = grounded_body;
  }
  auto prompts = chat ? parse_chat(ctx, body) : parse_completion(ctx, body);
  if (!prompts.ok()) return Response::error(prompts.error());
  const ServedModel& model = *prompts->model;
  const api::GenerationOptions& options = prompts->options;

  auto ticket = ctx.admission.admit();
  if (!ticket.ok()) return Response::error(ticket.error());

  auto job = std::make_shared<Job>();
  job->arrived = arrived;
  job->deadline = arrived + std::chrono::seconds(ctx.config.request_timeout_s);
  job->chat = chat;
  job->logprobs = options.logprobs;
  job->shaping = prompts->shaping;
  job->citations = std::move(citations);
  job->meta = {.id = chat ? api::new_chat_completion_id() : api::new_completion_id(),
               .created = unix_now(),
               .model = model.name,
               .include_usage = options.include_usage};
  for (size_t i = 0; i < prompts->tokens.size(); ++i) {
    auto g = Generation::start(
        ctx.link, ctx.router, model, std::move(prompts->tokens[i]), options,
        static_cast<int>(i) * options.n, chat ? "messages" : "prompt",
        ChoiceShape{
            .grammar = prompts->grammar,
            .echo_text = i < prompts->echo.size() ? std::move(prompts->echo[i]) : std::string(),
            .shown_tokens = prompts->shown_tokens},
        Failover{.wait = std::chrono::seconds(ctx.config.failover_timeout_s),
                 .metrics = &ctx.metrics});
    if (!g.ok()) {
      job->cancel();
      return Response::error(g.error());
    }
    ctx.metrics.router_decisions.with({(*g)->group_name(), (*g)->route_reason()}).inc();
    job->generations.push_back(std::move(g.value()));
  }
  ctx.metrics.prompt_tokens.with({model.name}).inc(static_cast<uint64_t>(job->prompt_tokens()));

  if (options.stream) return stream(ctx, std::move(job), std::move(ticket.value()));
  return complete(ctx, *job);
}

}  // namespace

Response post_chat_completions(EndpointContext& ctx, std::string_view body,
                               std::string_view owner) {
  return post(ctx, body, true, owner);
}

Response post_completions(EndpointContext& ctx, std::string_view body) {
  return post(ctx, body, false, "");
}

}  // namespace shardserve
