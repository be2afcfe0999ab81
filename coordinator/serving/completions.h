// POST /v1/chat/completions and POST /v1/completions, past routing.
//
// The body is parsed and validated (400), the model looked up (404 unknown, 400 an embedding
// model), the prompt tokens made (serving/prompt.h), a place taken among the requests in
// flight (429, serving/admission.h) and one Generation started per prompt on the least-loaded
// live group of the model (503 none, serving/generation.h). Then either
//   - one JSON body once every choice has finished (chat.completion / text_completion), or
//   - with "stream": true, Server-Sent Events as the text arrives: per choice a role chunk
//     (chat), content chunks and a finish chunk; the usage chunk when stream_options asks for
//     it; then [DONE]. A keep-alive comment goes out after a second without events.
// A group that fails or refuses mid-request, or server.request_timeout_s passing, ends the
// request: an error object, or an error event in a stream that has begun. A client that goes
// away mid-stream has its sequences cancelled at the groups' next step.
//
// A chat request with the file_search tool is grounded first (serving/grounding.h): the best
// passages of its vector stores join the prompt and the answer carries them as `citations`.
//
// Metrics: prompt tokens when the generations start; time to first token, inter-token
// latency (streams), generation tokens, duration and per-request token histograms at the end.
//
// Thread-safety: as EndpointContext; a call and the stream it returns run on the thread of
// their request.
#pragma once

#include <string_view>

#include "coordinator/serving/endpoint.h"

namespace shardserve {

// `owner`: whose vector stores a file_search tool may search (serving/grounding.h).
Response post_chat_completions(EndpointContext& ctx, std::string_view body,
                               std::string_view owner = "");
Response post_completions(EndpointContext& ctx, std::string_view body);

}  // namespace shardserve
