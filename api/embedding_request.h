// Parsing and validation of POST /v1/embeddings bodies.
//
// Like the chat and completions parsers (api/openai_request.h), parse_embedding_request takes
// the raw body and returns either a fully validated request or the ApiError (status 400) to
// send back, never throwing: malformed JSON, a missing required field, a wrong type, a value out
// of range -> 400 with `param` naming the field ("input", "input[3]", "input[1][0]",
// "dimensions") in OpenAI's words; any key not listed below -> 400 "Unrecognized request
// argument supplied: <key>". A field sent as JSON null means "not set" (its default).
//
// `input` (required) takes OpenAI's four forms; each becomes one entry of `inputs`:
//   "some text"                 one text input
//   ["text a", "text b"]        one text input per string
//   [101, 7592, 102]            one input of token ids
//   [[101, 7592], [101, 102]]   one token-id input per list
// Every string has at least one character, every token-id list at least one id, every id is an
// integer in [0, 2^31). A list holds one kind of element only, and at most kMaxEmbeddingInputs
// of them; a flat list of token ids is a single input, bounded by the model's maximum length
// (below), not by kMaxEmbeddingInputs.
//
// What is left to the caller (it has the model): whether `model` is served (404
// ApiError::model_not_found), token ids below the vocabulary size, each input's length in
// tokens against the model's maximum input length (a 400 unless `truncate`), and `dimensions`
// against the model's embedding size.
//
// Pure function: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/openai_error.h"

namespace shardserve::api {

inline constexpr int kMaxEmbeddingInputs = 2048;  // inputs in one request (OpenAI's limit)

// One input: text to tokenize, or token ids (>= 0, not yet checked against the vocabulary).
// The same type as a completions Prompt (api/openai_request.h).
using EmbeddingInput = std::variant<std::string, std::vector<int32_t>>;

struct EmbeddingRequest {
  std::string model;
  // In request order, at least one and at most kMaxEmbeddingInputs: the response's data[i]
  // answers inputs[i].
  std::vector<EmbeddingInput> inputs;
  // encoding_format: "float" (false, the default): each embedding a JSON array of numbers;
  // "base64" (true): the little-endian float32 bytes in base64 (api/embedding_response.h).
  bool base64 = false;
  std::optional<int64_t> dimensions;  // >= 1; nullopt: the model's own embedding size
  std::string user;                   // end-user id, for logs only
  // Extension (not in OpenAI's API; false, OpenAI's behaviour, when absent): an input longer
  // than the model's maximum input length is truncated to it, keeping its start as
  // sentence-transformers does, instead of failing with 400.
  bool truncate = false;
};

// Parses and validates a /v1/embeddings body.
ApiResult<EmbeddingRequest> parse_embedding_request(std::string_view body);

}  // namespace shardserve::api
