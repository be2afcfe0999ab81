// POST /v1/embeddings, past parsing: the inputs of a request become token sequences, each is
// encoded by a live worker group serving the model, and the embeddings come back in input
// order as OpenAI's embedding list.
//
// Text inputs go through the model's WordPiece tokenizer with [CLS] and [SEP] (as
// sentence-transformers encodes); token-id inputs are sent as given. An input longer than the
// model's maximum (ServedModel::context_length) is a 400 naming the input and the numbers,
// unless the request sets the `truncate` extension: then text keeps its first tokens and its
// [SEP], token ids their first tokens, as sentence-transformers truncates. Other errors:
// `dimensions` other than the model's size (400), token ids outside the vocabulary (400), no
// live group (503), a group that refuses (400) or dies (500) while the inputs are in flight,
// and the deadline passing (500). Inputs go to the least-loaded group one by one, so a request
// with many inputs spreads over every group of the model. Thread-safe (GroupLink is).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/embedding_request.h"
#include "api/openai_error.h"
#include "coordinator/group_link.h"
#include "coordinator/serving/served_model.h"

namespace shardserve {

struct EmbeddingsResult {
  nlohmann::ordered_json body;  // the embedding list
  int64_t prompt_tokens = 0;
};

// The embeddings themselves: inputs.size() rows of model.embedding_dim floats, row-major, in
// input order (the knowledge base embeds its chunks through this).
struct EmbeddedInputs {
  std::vector<float> data;
  int64_t prompt_tokens = 0;
};
api::ApiResult<EmbeddedInputs> embed_inputs(GroupLink& link, const ServedModel& model,
                                            const api::EmbeddingRequest& request,
                                            std::chrono::steady_clock::time_point deadline);

api::ApiResult<EmbeddingsResult> create_embeddings(GroupLink& link, const ServedModel& model,
                                                   const api::EmbeddingRequest& request,
                                                   std::chrono::steady_clock::time_point deadline);

}  // namespace shardserve
