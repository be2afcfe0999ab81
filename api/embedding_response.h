// Builder for POST /v1/embeddings response bodies, in OpenAI's shape and key order (checked
// against the official CreateEmbeddingResponse schema by tests/api/test_schemas.py):
//
//   {"object": "list",
//    "data": [{"object": "embedding", "index": 0, "embedding": [0.0123, -0.5, ...]}, ...],
//    "model": "...",
//    "usage": {"prompt_tokens": N, "total_tokens": N}}
//
// Float form: each value is stored as the double nearest to the float's shortest decimal
// (std::to_chars), not as the float widened to double, whose text is a 17-digit expansion
// ("0.10000000149011612" for 0.1f). Serialised with dump_json, every float32 reads back to its
// own bits, whether the client parses the number as float32 or as a double narrowed to float32
// (JSON parsers, then numpy.float32; verified once for every finite float32, tested on a sample).
// The text is the shortest that does so except for ±7.038531e-26, whose shortest decimal narrows
// wrongly through double and is sent widened instead, and a few values (0.14% of the floats in
// [1e-4, 1]) where nlohmann's double printer (Grisu2) falls back to 17 digits of the same double.
// Base64 form (encoding_format "base64"): each "embedding" is a string, the base64
// (api/base64.h) of the row's float32 values as little-endian bytes, which is what OpenAI's SDKs
// decode (numpy.frombuffer(base64.b64decode(s), dtype="<f4")).
//
// Values must be finite: JSON has no NaN or infinity (dump_json would write null), so a
// non-finite embedding is a model failure for the caller to report as a server error.
//
// Pure function: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include <nlohmann/json.hpp>

namespace shardserve::api {

// The response for data.size() / dim embeddings: row i of `data` (n x dim floats, row-major)
// is data[i] of the list, answering the request's inputs[i]. `prompt_tokens` counts the tokens
// of every input as embedded (after truncation); it is also total_tokens. dim >= 1 and
// data.size() a multiple of dim are preconditions (checked; a violation aborts).
nlohmann::ordered_json embedding_list(std::string_view model, std::span<const float> data,
                                      int64_t dim, bool base64, int64_t prompt_tokens);

}  // namespace shardserve::api
