#include "coordinator/serving/embeddings.h"

#include <memory>
#include <string>
#include <vector>

#include "api/embedding_response.h"

namespace shardserve {
namespace {

using Clock = std::chrono::steady_clock;

std::string input_name(size_t i, size_t n) {
  return n == 1 ? std::string("input") : "input[" + std::to_string(i) + "]";
}

// The tokens of every input, truncated or refused as the header says.
api::ApiResult<std::vector<std::vector<TokenId>>> tokenize(const ServedModel& model,
                                                           const api::EmbeddingRequest& r) {
  const WordPieceTokenizer& wp = *model.wordpiece;
  const size_t max = static_cast<size_t>(model.context_length);
  std::vector<std::vector<TokenId>> out;
  out.reserve(r.inputs.size());
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const std::string name = input_name(i, r.inputs.size());
    std::vector<TokenId> tokens;
    if (const auto* text = std::get_if<std::string>(&r.inputs[i])) {
      tokens = wp.encode(*text, /*add_special=*/true);
      if (tokens.size() > max && r.truncate) {
        tokens.resize(max - 1);
        tokens.push_back(wp.sep_id());
      }
    } else {
      const auto& ids = std::get<std::vector<int32_t>>(r.inputs[i]);
      tokens.assign(ids.begin(), ids.end());
      if (tokens.size() > max && r.truncate) tokens.resize(max);
      for (TokenId t : tokens)
        if (t < 0 || t >= wp.n_vocab())
          return api::ApiError::bad_request("'" + name + "' has token id " + std::to_string(t) +
                                                ", outside the vocabulary of " +
                                                std::to_string(wp.n_vocab()) + " tokens",
                                            name);
    }
    if (tokens.size() > max)
      return api::ApiError::bad_request(
          "'" + name + "' is " + std::to_string(tokens.size()) + " tokens long, but model '" +
              model.name + "' embeds at most " + std::to_string(max) +
              " tokens per input. Shorten it, or set \"truncate\": true to embed its first " +
              std::to_string(max) + " tokens.",
          name, "context_length_exceeded");
    out.push_back(std::move(tokens));
  }
  return out;
}

}  // namespace

api::ApiResult<EmbeddedInputs> embed_inputs(GroupLink& link, const ServedModel& model,
                                            const api::EmbeddingRequest& request,
                                            Clock::time_point deadline) {
  if (request.dimensions && *request.dimensions != model.embedding_dim)
    return api::ApiError::bad_request(
        "model '" + model.name + "' makes embeddings of " + std::to_string(model.embedding_dim) +
            " dimensions and cannot shorten them; 'dimensions' must be " +
            std::to_string(model.embedding_dim) + " or left out (it is " +
            std::to_string(*request.dimensions) + ")",
        "dimensions");
  auto inputs = tokenize(model, request);
  if (!inputs.ok()) return inputs.error();

  // Send every input, then collect the answers in order.
  struct Pending {
    uint64_t group = 0;
    int64_t id = 0;
    std::shared_ptr<RequestEvents> events;
  };
  std::vector<Pending> pending;
  pending.reserve(inputs.value().size());
  auto cancel_all = [&] {
    for (const Pending& p : pending) link.cancel(p.group, p.id);
  };
  for (std::vector<TokenId>& tokens : inputs.value()) {
    auto group = link.least_loaded(model.name);
    if (!group) {
      cancel_all();
      return api::ApiError::unavailable("no worker group is serving model '" + model.name +
                                        "' right now; try again shortly");
    }
    const int64_t id = link.next_request_id();
    auto events = link.submit_embed(group->id, {id, std::move(tokens)});
    if (!events.ok()) {
      cancel_all();
      return api::ApiError::from(events.error().code, "could not send the input to worker group '" +
                                                          group->hello.group_name +
                                                          "': " + events.error().message);
    }
    pending.push_back({group->id, id, std::move(events.value())});
  }

  const int64_t dim = model.embedding_dim;
  std::vector<float> data;
  data.reserve(pending.size() * static_cast<size_t>(dim));
  int64_t prompt_tokens = 0;
  for (size_t i = 0; i < pending.size(); ++i) {
    std::optional<RequestEvent> e;
    while (!e) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        cancel_all();
        return api::ApiError::server_error("the request timed out");
      }
      e = pending[i].events->pop(std::min(left, std::chrono::milliseconds(200)));
    }
    const std::string name = input_name(i, pending.size());
    if (e->kind == RequestEvent::Kind::Rejected) {
      cancel_all();
      return api::ApiError::from(e->code, "the worker group refused '" + name + "': " + e->error,
                                 name);
    }
    if (e->kind != RequestEvent::Kind::Embedded ||
        static_cast<int64_t>(e->embedding.size()) != dim) {
      cancel_all();
      return api::ApiError::server_error(
          "embedding '" + name + "' failed: " +
          (e->error.empty() ? "the group sent no embedding of " + std::to_string(dim) + " values"
                            : e->error));
    }
    data.insert(data.end(), e->embedding.begin(), e->embedding.end());
    prompt_tokens += e->n_tokens;
  }
  return EmbeddedInputs{std::move(data), prompt_tokens};
}

api::ApiResult<EmbeddingsResult> create_embeddings(GroupLink& link, const ServedModel& model,
                                                   const api::EmbeddingRequest& request,
                                                   Clock::time_point deadline) {
  auto embedded = embed_inputs(link, model, request, deadline);
  if (!embedded.ok()) return embedded.error();
  const EmbeddedInputs& e = embedded.value();
  return EmbeddingsResult{
      api::embedding_list(model.name, e.data, model.embedding_dim, request.base64, e.prompt_tokens),
      e.prompt_tokens};
}

}  // namespace shardserve
