#include "api/openai_response.h"

#include <cmath>

namespace shardserve::api {

namespace {

// JSON has no infinities; OpenAI reports impossible tokens as -9999.0.
double finite_logprob(double logprob) {
  return std::isfinite(logprob) ? logprob : -9999.0;
}

ordered_json byte_values(std::string_view token) {
  ordered_json bytes = ordered_json::array();
  for (char c : token) bytes.push_back(static_cast<int>(static_cast<unsigned char>(c)));
  return bytes;
}

// id, object, created, model, system_fingerprint: the head every object of a response shares.
ordered_json head(const ResponseMeta& meta, std::string_view object) {
  ordered_json j;
  j["id"] = meta.id;
  j["object"] = object;
  j["created"] = meta.created;
  j["model"] = meta.model;
  if (!meta.system_fingerprint.empty()) j["system_fingerprint"] = meta.system_fingerprint;
  return j;
}

ordered_json chat_chunk(const ResponseMeta& meta, int index, ordered_json delta,
                        ordered_json logprobs, ordered_json finish_reason) {
  ordered_json choice;
  choice["index"] = index;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = std::move(finish_reason);
  ordered_json j = head(meta, "chat.completion.chunk");
  j["choices"] = ordered_json::array({std::move(choice)});
  if (meta.include_usage) j["usage"] = nullptr;
  return j;
}

ordered_json usage_chunk(const ResponseMeta& meta, std::string_view object, const Usage& usage) {
  ordered_json j = head(meta, object);
  j["choices"] = ordered_json::array();
  j["usage"] = usage_object(usage);
  return j;
}

}  // namespace

std::string_view to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::ToolCalls:
      return "tool_calls";
  }
  return "stop";
}

ordered_json usage_object(const Usage& usage) {
  ordered_json j;
  j["prompt_tokens"] = usage.prompt_tokens;
  j["completion_tokens"] = usage.completion_tokens;
  j["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  j["prompt_tokens_details"] = {{"cached_tokens", usage.cached_tokens}};
  return j;
}

// --- chat ---------------------------------------------------------------------------------

ordered_json chat_logprobs(std::span<const TokenLogprobs> tokens) {
  ordered_json content = ordered_json::array();
  for (const TokenLogprobs& t : tokens) {
    ordered_json entry;
    entry["token"] = t.token;
    entry["logprob"] = finite_logprob(t.logprob);
    entry["bytes"] = byte_values(t.token);
    ordered_json top = ordered_json::array();
    for (const TopLogprob& alt : t.top) {
      ordered_json a;
      a["token"] = alt.token;
      a["logprob"] = finite_logprob(alt.logprob);
      a["bytes"] = byte_values(alt.token);
      top.push_back(std::move(a));
    }
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  ordered_json j;
  j["content"] = std::move(content);
  j["refusal"] = nullptr;
  return j;
}

ordered_json chat_completion(const ResponseMeta& meta, std::span<const ChatChoice> choices,
                             const Usage& usage) {
  ordered_json j = head(meta, "chat.completion");
  ordered_json list = ordered_json::array();
  for (const ChatChoice& c : choices) {
    ordered_json message;
    message["role"] = "assistant";
    if (c.content.empty() && !c.tool_calls.empty()) {
      message["content"] = nullptr;
    } else {
      message["content"] = c.content;
    }
    if (!c.tool_calls.empty()) {
      ordered_json calls = ordered_json::array();
      for (const ToolCall& call : c.tool_calls) {
        ordered_json function;
        function["name"] = call.name;
        function["arguments"] = call.arguments;
        ordered_json entry;
        entry["id"] = call.id;
        entry["type"] = "function";
        entry["function"] = std::move(function);
        calls.push_back(std::move(entry));
      }
      message["tool_calls"] = std::move(calls);
    }
    if (!c.reasoning_content.empty()) message["reasoning_content"] = c.reasoning_content;
    message["refusal"] = nullptr;
    ordered_json choice;
    choice["index"] = c.index;
    choice["message"] = std::move(message);
    choice["logprobs"] = c.logprobs ? chat_logprobs(*c.logprobs) : ordered_json(nullptr);
    choice["finish_reason"] = to_string(c.finish);
    list.push_back(std::move(choice));
  }
  j["choices"] = std::move(list);
  j["usage"] = usage_object(usage);
  return j;
}

ordered_json chat_chunk_role(const ResponseMeta& meta, int index) {
  ordered_json delta;
  delta["role"] = "assistant";
  delta["content"] = "";
  return chat_chunk(meta, index, std::move(delta), nullptr, nullptr);
}

ordered_json chat_chunk_reasoning(const ResponseMeta& meta, int index, std::string_view text) {
  ordered_json delta;
  delta["reasoning_content"] = text;
  return chat_chunk(meta, index, std::move(delta), nullptr, nullptr);
}

ordered_json chat_chunk_content(const ResponseMeta& meta, int index, std::string_view text,
                                const std::vector<TokenLogprobs>* logprobs) {
  ordered_json delta;
  delta["content"] = text;
  return chat_chunk(meta, index, std::move(delta),
                    logprobs ? chat_logprobs(*logprobs) : ordered_json(nullptr), nullptr);
}

ordered_json chat_chunk_tool_call(const ResponseMeta& meta, int index, int call_index,
                                  std::string_view id, std::string_view name) {
  ordered_json function;
  function["name"] = name;
  function["arguments"] = "";
  ordered_json call;
  call["index"] = call_index;
  call["id"] = id;
  call["type"] = "function";
  call["function"] = std::move(function);
  ordered_json delta;
  delta["tool_calls"] = ordered_json::array({std::move(call)});
  return chat_chunk(meta, index, std::move(delta), nullptr, nullptr);
}

ordered_json chat_chunk_tool_arguments(const ResponseMeta& meta, int index, int call_index,
                                       std::string_view piece) {
  ordered_json function;
  function["arguments"] = piece;
  ordered_json call;
  call["index"] = call_index;
  call["function"] = std::move(function);
  ordered_json delta;
  delta["tool_calls"] = ordered_json::array({std::move(call)});
  return chat_chunk(meta, index, std::move(delta), nullptr, nullptr);
}

ordered_json chat_chunk_finish(const ResponseMeta& meta, int index, FinishReason finish) {
  return chat_chunk(meta, index, ordered_json::object(), nullptr, to_string(finish));
}

ordered_json chat_chunk_usage(const ResponseMeta& meta, const Usage& usage) {
  return usage_chunk(meta, "chat.completion.chunk", usage);
}

// --- text completions ---------------------------------------------------------------------

ordered_json completion_logprobs(std::span<const TokenLogprobs> tokens, int64_t text_offset) {
  ordered_json token_texts = ordered_json::array();
  ordered_json token_logprobs = ordered_json::array();
  ordered_json top_logprobs = ordered_json::array();
  ordered_json offsets = ordered_json::array();
  for (const TokenLogprobs& t : tokens) {
    token_texts.push_back(t.token);
    if (t.unscored) {
      token_logprobs.push_back(nullptr);
      top_logprobs.push_back(nullptr);
    } else {
      token_logprobs.push_back(finite_logprob(t.logprob));
      ordered_json top = ordered_json::object();
      for (const TopLogprob& alt : t.top) top[alt.token] = finite_logprob(alt.logprob);
      top_logprobs.push_back(std::move(top));
    }
    if (t.text_offset >= 0) text_offset = t.text_offset;
    offsets.push_back(text_offset);
    text_offset += static_cast<int64_t>(t.token.size());
  }
  ordered_json j;
  j["tokens"] = std::move(token_texts);
  j["token_logprobs"] = std::move(token_logprobs);
  j["top_logprobs"] = std::move(top_logprobs);
  j["text_offset"] = std::move(offsets);
  return j;
}

ordered_json completion(const ResponseMeta& meta, std::span<const CompletionChoice> choices,
                        const Usage& usage) {
  ordered_json j = head(meta, "text_completion");
  ordered_json list = ordered_json::array();
  for (const CompletionChoice& c : choices) {
    ordered_json choice;
    choice["text"] = c.text;
    choice["index"] = c.index;
    choice["logprobs"] = c.logprobs ? completion_logprobs(*c.logprobs) : ordered_json(nullptr);
    choice["finish_reason"] = to_string(c.finish);
    list.push_back(std::move(choice));
  }
  j["choices"] = std::move(list);
  j["usage"] = usage_object(usage);
  return j;
}

ordered_json completion_chunk(const ResponseMeta& meta, int index, std::string_view text,
                              std::optional<FinishReason> finish,
                              const std::vector<TokenLogprobs>* logprobs, int64_t text_offset) {
  ordered_json choice;
  choice["text"] = text;
  choice["index"] = index;
  choice["logprobs"] =
      logprobs ? completion_logprobs(*logprobs, text_offset) : ordered_json(nullptr);
  choice["finish_reason"] = finish ? ordered_json(to_string(*finish)) : ordered_json(nullptr);
  ordered_json j = head(meta, "text_completion");
  j["choices"] = ordered_json::array({std::move(choice)});
  if (meta.include_usage) j["usage"] = nullptr;
  return j;
}

ordered_json completion_chunk_usage(const ResponseMeta& meta, const Usage& usage) {
  return usage_chunk(meta, "text_completion", usage);
}

// --- models -------------------------------------------------------------------------------

ordered_json model_object(const ModelInfo& model) {
  ordered_json j;
  j["id"] = model.id;
  j["object"] = "model";
  j["created"] = model.created;
  j["owned_by"] = model.owned_by;
  if (model.max_model_len > 0) j["max_model_len"] = model.max_model_len;
  return j;
}

ordered_json model_list(std::span<const ModelInfo> models) {
  ordered_json data = ordered_json::array();
  for (const ModelInfo& m : models) data.push_back(model_object(m));
  ordered_json j;
  j["object"] = "list";
  j["data"] = std::move(data);
  return j;
}

}  // namespace shardserve::api
