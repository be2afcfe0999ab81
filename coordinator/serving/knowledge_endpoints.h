// The knowledge base's API in OpenAI's shapes (issue 19): files and vector stores.
//
//   POST   /v1/files                          multipart: file, purpose -> file object
//   GET    /v1/files                          ?limit&after&order&purpose -> list
//   GET    /v1/files/{id}                     file object
//   GET    /v1/files/{id}/content             the bytes as uploaded
//   DELETE /v1/files/{id}                     {id, object: "file", deleted}
//   POST   /v1/vector_stores                  {name, file_ids} -> vector store object
//   GET    /v1/vector_stores                  ?limit&after&order -> list
//   GET    /v1/vector_stores/{id}             vector store object
//   DELETE /v1/vector_stores/{id}             {id, object: "vector_store.deleted", deleted}
//   POST   /v1/vector_stores/{id}/files       {file_id} -> vector store file object
//   GET    /v1/vector_stores/{id}/files       list of vector store file objects
//   GET    /v1/vector_stores/{id}/files/{fid} vector store file object
//   DELETE /v1/vector_stores/{id}/files/{fid} {id, object: "vector_store.file.deleted", ...}
//   POST   /v1/vector_stores/{id}/search      {query, max_num_results, ranking_options}
//                                             -> vector_store.search_results.page
//
// Each function answers one route for one owner (the caller's API key, hashed). Bodies are
// validated like the other endpoints: malformed JSON, unknown keys, wrong types and values
// out of range are 400s naming the field; an id this owner has no object for is a 404 in
// OpenAI's words ("No such File object: file-..."); the knowledge base turned off
// (knowledge.data_dir unset) is a 404 that says how to turn it on. Processing is synchronous:
// an upload is answered once its chunks are embedded and committed (status "processed"), so
// vector store files are always "completed".
//
// Extensions: a search result carries `chunk` {id, index, begin, end} (where in the file's
// text the passage is), so that answers can cite file and chunk.
//
// Thread-safety: as EndpointContext; the KnowledgeBase is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordinator/knowledge/knowledge_base.h"
#include "coordinator/serving/endpoint.h"

namespace shardserve {

// Query-string arguments of a request, in order.
using QueryArgs = std::vector<std::pair<std::string, std::string>>;

// What every knowledge route gets: the knowledge base (nullptr: turned off), who asks, the
// path's ids and the query string.
struct KnowledgeCall {
  knowledge::KnowledgeBase* kb = nullptr;
  metrics::ServerMetrics* metrics = nullptr;  // uploads and searches are counted when set
  std::string owner;
  std::vector<std::string> ids;  // the path's {id} segments, in order
  QueryArgs query;
};

// A multipart upload as the HTTP layer streamed it to disk; `error` set when the form was
// unusable (then `file` has no path).
struct MultipartUpload {
  knowledge::UploadedFile file;
  bool has_file = false;
  bool has_purpose = false;
  std::string error;
};

// Takes the streamed file (upload.file.temp_path): it is removed whatever the answer.
Response post_file(const KnowledgeCall& call, const MultipartUpload& upload);
Response list_files(const KnowledgeCall& call);
Response get_file(const KnowledgeCall& call);
Response get_file_content(const KnowledgeCall& call);
Response delete_file(const KnowledgeCall& call);

Response post_vector_store(const KnowledgeCall& call, std::string_view body);
Response list_vector_stores(const KnowledgeCall& call);
Response get_vector_store(const KnowledgeCall& call);
Response delete_vector_store(const KnowledgeCall& call);
Response post_vector_store_file(const KnowledgeCall& call, std::string_view body);
Response list_vector_store_files(const KnowledgeCall& call);
Response get_vector_store_file(const KnowledgeCall& call);
Response delete_vector_store_file(const KnowledgeCall& call);
Response post_vector_store_search(const KnowledgeCall& call, std::string_view body);

// The 404 for a knowledge route while the knowledge base is off.
api::ApiError knowledge_off();

}  // namespace shardserve
