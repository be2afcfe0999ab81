// POST /v1/embeddings, past routing: the body parsed and validated (400), the model looked up
// (404 unknown, 400 a chat model), a place taken among the requests in flight (429,
// serving/admission.h), then create_embeddings (serving/embeddings.h) within
// server.request_timeout_s. Metrics: prompt tokens and duration per model.
//
// Thread-safety: as EndpointContext.
#pragma once

#include <string_view>

#include "coordinator/serving/endpoint.h"

namespace shardserve {

Response post_embeddings(EndpointContext& ctx, std::string_view body);

}  // namespace shardserve
