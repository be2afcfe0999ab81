// Chat answers grounded in the knowledge base (issue 19): a chat request that carries the
// `file_search` tool gets the passages of its vector stores that best match the question in
// its prompt, and its answer lists them as citations.
//
// The tool, in either of OpenAI's spellings (Responses API, or nested like function tools):
//   {"type": "file_search", "vector_store_ids": ["vs_..."], "max_num_results": 5}
//   {"type": "file_search", "file_search": {"vector_store_ids": [...], "max_num_results": 5}}
// max_num_results is 1..20 (default 5). The query is the text of the last user message.
//
// Promise: `ground_chat_request` returns the body to generate from and the citations. Without a
// file_search tool the body is returned unchanged and there are no citations. With one, the
// tool is taken out of `tools` (with `tools` and an "auto"/"none"/"required" `tool_choice`
// removed when nothing else is left), the stores are searched, and the passages are added to
// the system message (a new one first when the conversation has none) as numbered sources
// with the instruction to cite them as [1], [2]; the chat template renders it as any system
// message. `citations` lists the sources in that order: {index, file_id, filename,
// chunk: {id, index, begin, end}, score, text}. Errors: 400 naming the field for a malformed
// tool or no user message, 404 for a store the caller does not own, 400 when the knowledge
// base is off, 503 when the embedding model is not being served.
//
// The citations reach the client as an extension field: `citations` on the choice's message
// (non-streaming) and on the first delta of each choice (streaming, with the role).
//
// Thread-safety: a pure function of its inputs and the (thread-safe) knowledge base.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/openai_error.h"
#include "coordinator/knowledge/knowledge_base.h"

namespace shardserve {

struct GroundedRequest {
  std::string body;                  // what the chat parser gets
  nlohmann::ordered_json citations;  // array; empty without file_search
};

// `search_seconds` (when given) receives the time the search took (0: none ran).
api::ApiResult<GroundedRequest> ground_chat_request(std::string_view body,
                                                    knowledge::KnowledgeBase* kb,
                                                    std::string_view owner,
                                                    double* search_seconds = nullptr);

}  // namespace shardserve
