#include "coordinator/serving/embeddings_endpoint.h"

#include <chrono>
#include <string>

#include "api/embedding_request.h"
#include "coordinator/serving/embeddings.h"

namespace shardserve {

Response post_embeddings(EndpointContext& ctx, std::string_view body) {
  const auto arrived = std::chrono::steady_clock::now();
  auto r = api::parse_embedding_request(body);
  if (!r.ok()) return Response::error(r.error());
  const std::string& name = r->model;
  const ServedModel* model = find_model(ctx.models, name);
  if (!model) return Response::error(api::ApiError::model_not_found(name));
  if (model->task != ModelTask::kEmbed)
    return Response::error(api::ApiError::bad_request(
        "model '" + name +
            "' is a chat model and makes no embeddings; use /v1/chat/completions or "
            "/v1/completions",
        "model"));
  auto ticket = ctx.admission.admit();
  if (!ticket.ok()) return Response::error(ticket.error());
  auto result = create_embeddings(ctx.link, *model, *r,
                                  arrived + std::chrono::seconds(ctx.config.request_timeout_s));
  if (!result.ok()) return Response::error(result.error());
  ctx.metrics.prompt_tokens.with({name}).inc(static_cast<uint64_t>(result->prompt_tokens));
  ctx.metrics.request_duration.with({name}).observe(seconds_since(arrived));
  return Response::json(200, api::dump_json(result->body));
}

}  // namespace shardserve
