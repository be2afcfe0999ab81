#include "coordinator/serving/knowledge_endpoints.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

namespace shardserve {
namespace {

using json = nlohmann::ordered_json;
using knowledge::FileRecord;
using knowledge::VectorStoreRecord;

// Purposes we keep files for: the knowledge base searches them.
const std::set<std::string, std::less<>> kPurposes = {"assistants", "user_data"};

Response ok(const json& body) {
  return Response::json(200, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

Response fail(const Error& e, std::string param = {}) {
  return Response::error(api::ApiError::from(e.code, e.message, std::move(param)));
}

Response no_such(std::string_view what, std::string_view id) {
  return Response::error(
      api::ApiError::not_found("No such " + std::string(what) + " object: " + std::string(id)));
}

json file_json(const FileRecord& f) {
  return {{"id", f.id},
          {"object", "file"},
          {"bytes", f.bytes},
          {"created_at", f.created_at},
          {"filename", f.filename},
          {"purpose", f.purpose},
          {"status", "processed"},
          {"status_details", nullptr}};
}

json vector_store_json(const VectorStoreRecord& s, int64_t usage_bytes) {
  return {{"id", s.id},
          {"object", "vector_store"},
          {"created_at", s.created_at},
          {"name", s.name},
          {"usage_bytes", usage_bytes},
          {"file_counts",
           {{"in_progress", 0},
            {"completed", s.file_count},
            {"failed", 0},
            {"cancelled", 0},
            {"total", s.file_count}}},
          {"status", "completed"},
          {"expires_at", nullptr},
          {"last_active_at", s.created_at},
          {"metadata", json::object()}};
}

json vector_store_file_json(const FileRecord& f, std::string_view store_id) {
  return {{"id", f.id},
          {"object", "vector_store.file"},
          {"usage_bytes", f.bytes},
          {"created_at", f.created_at},
          {"vector_store_id", store_id},
          {"status", "completed"},
          {"last_error", nullptr},
          {"attributes", json::object()}};
}

std::optional<std::string> query_arg(const QueryArgs& q, std::string_view key) {
  for (const auto& [k, v] : q)
    if (k == key) return v;
  return std::nullopt;
}

// limit / order / after, as OpenAI's list endpoints take them.
struct Page {
  size_t limit = 0;
  bool ascending = false;
  std::string after;
};

api::ApiResult<Page> read_page(const QueryArgs& q, size_t default_limit, size_t max_limit) {
  Page p;
  p.limit = default_limit;
  if (auto v = query_arg(q, "limit")) {
    size_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || end != v->data() + v->size() || n < 1 || n > max_limit)
      return api::ApiError::bad_request("'limit' must be an integer from 1 to " +
                                            std::to_string(max_limit) + ", got '" + *v + "'",
                                        "limit");
    p.limit = n;
  }
  if (auto v = query_arg(q, "order")) {
    if (*v != "asc" && *v != "desc")
      return api::ApiError::bad_request("'order' must be 'asc' or 'desc', got '" + *v + "'",
                                        "order");
    p.ascending = *v == "asc";
  }
  if (auto v = query_arg(q, "after")) p.after = *v;
  return p;
}

// One page of `items` (newest first as the store lists them) as OpenAI's list object.
template <typename T, typename ToJson>
json page_json(std::vector<T> items, const Page& page, ToJson to_json) {
  if (page.ascending) std::reverse(items.begin(), items.end());
  size_t start = 0;
  if (!page.after.empty()) {
    auto it =
        std::find_if(items.begin(), items.end(), [&](const T& x) { return x.id == page.after; });
    start = it == items.end() ? items.size() : static_cast<size_t>(it - items.begin()) + 1;
  }
  const size_t end = std::min(items.size(), start + page.limit);
  json data = json::array();
  for (size_t i = start; i < end; ++i) data.push_back(to_json(items[i]));
  return {{"object", "list"},
          {"data", data},
          {"first_id", start < end ? json(items[start].id) : json(nullptr)},
          {"last_id", start < end ? json(items[end - 1].id) : json(nullptr)},
          {"has_more", end < items.size()}};
}

// The body as a JSON object whose keys are all in `allowed`, or the 400.
api::ApiResult<json> read_object(std::string_view body, const std::set<std::string>& allowed) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded())
    return api::ApiError::bad_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload.)");
  if (!j.is_object()) return api::ApiError::bad_request("the request body must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (!allowed.count(key))
      return api::ApiError::bad_request("Unrecognized request argument supplied: " + key, key);
  return j;
}

int64_t usage_bytes(knowledge::KnowledgeBase& kb, const std::string& owner,
                    const std::string& store_id) {
  auto files = kb.store_files(owner, store_id);
  int64_t total = 0;
  if (files.ok())
    for (const FileRecord& f : files.value()) total += f.bytes;
  return total;
}

}  // namespace

api::ApiError knowledge_off() {
  return api::ApiError::not_found(
      "The knowledge base (files and vector stores) is turned off on this server. Set "
      "knowledge.data_dir in the cluster config, with an embedding model served, to turn it "
      "on.");
}

// --- files ---

Response post_file(const KnowledgeCall& call, const MultipartUpload& upload) {
  // The streamed file is ours until add_file takes it (and removes it, whatever happens).
  struct RemoveUnlessTaken {
    const std::string& path;
    bool taken = false;
    ~RemoveUnlessTaken() {
      if (!taken && !path.empty()) ::unlink(path.c_str());
    }
  } streamed{upload.file.temp_path};
  if (!upload.error.empty()) return Response::error(api::ApiError::bad_request(upload.error));
  if (!upload.has_file)
    return Response::error(api::ApiError::bad_request(
        "the form has no 'file' field: send multipart/form-data with the file under 'file' and "
        "'purpose' (\"assistants\")",
        "file"));
  if (!upload.has_purpose)
    return Response::error(api::ApiError::bad_request(
        "'purpose' is required: \"assistants\" (or \"user_data\")", "purpose"));
  if (!kPurposes.count(upload.file.purpose))
    return Response::error(api::ApiError::bad_request(
        "'purpose' \"" + upload.file.purpose +
            "\" is not kept here: this server keeps files for search (\"assistants\" or "
            "\"user_data\")",
        "purpose"));
  streamed.taken = true;
  const auto start = std::chrono::steady_clock::now();
  knowledge::UploadStats stats;
  auto record = call.kb->add_file(call.owner, upload.file, &stats);
  if (call.metrics) {
    const char* outcome = record.ok()                                       ? "stored"
                          : record.error().code == ErrorCode::kInvalidInput ? "refused"
                                                                            : "failed";
    call.metrics->knowledge_uploads.with({outcome}).inc();
    if (record.ok()) {
      call.metrics->knowledge_chunks.get().inc(stats.chunks);
      call.metrics->knowledge_upload_time.get().observe(seconds_since(start));
    }
  }
  if (!record.ok()) return fail(record.error(), "file");
  return ok(file_json(record.value()));
}

Response list_files(const KnowledgeCall& call) {
  auto page = read_page(call.query, 10000, 10000);
  if (!page.ok()) return Response::error(page.error());
  auto files = call.kb->list_files(call.owner);
  if (!files.ok()) return fail(files.error());
  if (auto purpose = query_arg(call.query, "purpose")) {
    std::erase_if(files.value(), [&](const FileRecord& f) { return f.purpose != *purpose; });
  }
  return ok(page_json(std::move(files.value()), page.value(), file_json));
}

Response get_file(const KnowledgeCall& call) {
  auto f = call.kb->get_file(call.owner, call.ids.at(0));
  if (!f.ok()) return fail(f.error());
  if (!f.value()) return no_such("File", call.ids[0]);
  return ok(file_json(*f.value()));
}

Response get_file_content(const KnowledgeCall& call) {
  auto f = call.kb->get_file(call.owner, call.ids.at(0));
  if (!f.ok()) return fail(f.error());
  if (!f.value()) return no_such("File", call.ids[0]);
  auto bytes = call.kb->file_bytes(call.owner, call.ids[0]);
  if (!bytes.ok()) return fail(bytes.error());
  if (!bytes.value()) return no_such("File", call.ids[0]);
  Response r = Response::json(200, std::move(*bytes.value()));
  r.content_type = "application/octet-stream";
  return r;
}

Response delete_file(const KnowledgeCall& call) {
  auto deleted = call.kb->delete_file(call.owner, call.ids.at(0));
  if (!deleted.ok()) return fail(deleted.error());
  if (!deleted.value()) return no_such("File", call.ids[0]);
  return ok({{"id", call.ids[0]}, {"object", "file"}, {"deleted", true}});
}

// --- vector stores ---

Response post_vector_store(const KnowledgeCall& call, std::string_view body) {
  auto j = read_object(
      body, {"name", "file_ids", "metadata", "chunking_strategy", "expires_after", "description"});
  if (!j.ok()) return Response::error(j.error());
  const json& r = j.value();
  std::string name;
  if (r.contains("name") && !r["name"].is_null()) {
    if (!r["name"].is_string() || r["name"].get<std::string>().size() > 256)
      return Response::error(
          api::ApiError::bad_request("'name' must be a string of at most 256 characters", "name"));
    name = r["name"].get<std::string>();
  }
  std::vector<std::string> file_ids;
  if (r.contains("file_ids") && !r["file_ids"].is_null()) {
    if (!r["file_ids"].is_array() || r["file_ids"].size() > 500)
      return Response::error(api::ApiError::bad_request(
          "'file_ids' must be a list of at most 500 file ids", "file_ids"));
    for (const auto& id : r["file_ids"]) {
      if (!id.is_string())
        return Response::error(
            api::ApiError::bad_request("'file_ids' must hold strings", "file_ids"));
      file_ids.push_back(id.get<std::string>());
    }
  }
  if (r.contains("metadata") && !r["metadata"].is_null() && !r["metadata"].empty())
    return Response::error(api::ApiError::bad_request(
        "'metadata' is not kept by this server; leave it out", "metadata"));
  if (r.contains("expires_after") && !r["expires_after"].is_null())
    return Response::error(api::ApiError::bad_request(
        "vector stores here do not expire; leave 'expires_after' out", "expires_after"));
  if (r.contains("chunking_strategy") && !r["chunking_strategy"].is_null() &&
      r["chunking_strategy"] != json{{"type", "auto"}})
    return Response::error(api::ApiError::bad_request(
        "only {\"type\": \"auto\"} chunking is offered (the server's knowledge.chunk_chars and "
        "knowledge.chunk_overlap_chars)",
        "chunking_strategy"));
  auto created = call.kb->create_vector_store(call.owner, name, file_ids);
  if (!created.ok()) return fail(created.error(), "file_ids");
  return ok(vector_store_json(created.value(), usage_bytes(*call.kb, call.owner, created->id)));
}

Response list_vector_stores(const KnowledgeCall& call) {
  auto page = read_page(call.query, 20, 100);
  if (!page.ok()) return Response::error(page.error());
  auto stores = call.kb->list_vector_stores(call.owner);
  if (!stores.ok()) return fail(stores.error());
  return ok(page_json(std::move(stores.value()), page.value(), [&](const VectorStoreRecord& s) {
    return vector_store_json(s, usage_bytes(*call.kb, call.owner, s.id));
  }));
}

Response get_vector_store(const KnowledgeCall& call) {
  auto s = call.kb->get_vector_store(call.owner, call.ids.at(0));
  if (!s.ok()) return fail(s.error());
  if (!s.value()) return no_such("VectorStore", call.ids[0]);
  return ok(vector_store_json(*s.value(), usage_bytes(*call.kb, call.owner, call.ids[0])));
}

Response delete_vector_store(const KnowledgeCall& call) {
  auto deleted = call.kb->delete_vector_store(call.owner, call.ids.at(0));
  if (!deleted.ok()) return fail(deleted.error());
  if (!deleted.value()) return no_such("VectorStore", call.ids[0]);
  return ok({{"id", call.ids[0]}, {"object", "vector_store.deleted"}, {"deleted", true}});
}

Response post_vector_store_file(const KnowledgeCall& call, std::string_view body) {
  const std::string& store_id = call.ids.at(0);
  auto j = read_object(body, {"file_id", "attributes", "chunking_strategy"});
  if (!j.ok()) return Response::error(j.error());
  const json& r = j.value();
  if (!r.contains("file_id") || !r["file_id"].is_string())
    return Response::error(
        api::ApiError::bad_request("'file_id' is required: the id of an uploaded file", "file_id"));
  if (r.contains("attributes") && !r["attributes"].is_null() && !r["attributes"].empty())
    return Response::error(api::ApiError::bad_request(
        "file attributes are not kept by this server; leave 'attributes' out", "attributes"));
  const std::string file_id = r["file_id"].get<std::string>();
  auto store = call.kb->get_vector_store(call.owner, store_id);
  if (!store.ok()) return fail(store.error());
  if (!store.value()) return no_such("VectorStore", store_id);
  auto file = call.kb->get_file(call.owner, file_id);
  if (!file.ok()) return fail(file.error());
  if (!file.value()) return no_such("File", file_id);
  if (Status s = call.kb->attach_file(call.owner, store_id, file_id); !s.ok())
    return fail(s.error(), "file_id");
  return ok(vector_store_file_json(*file.value(), store_id));
}

Response list_vector_store_files(const KnowledgeCall& call) {
  const std::string& store_id = call.ids.at(0);
  auto page = read_page(call.query, 20, 100);
  if (!page.ok()) return Response::error(page.error());
  auto store = call.kb->get_vector_store(call.owner, store_id);
  if (!store.ok()) return fail(store.error());
  if (!store.value()) return no_such("VectorStore", store_id);
  auto files = call.kb->store_files(call.owner, store_id);
  if (!files.ok()) return fail(files.error());
  std::reverse(files.value().begin(), files.value().end());  // newest first, as other lists
  return ok(page_json(std::move(files.value()), page.value(),
                      [&](const FileRecord& f) { return vector_store_file_json(f, store_id); }));
}

Response get_vector_store_file(const KnowledgeCall& call) {
  const std::string& store_id = call.ids.at(0);
  auto files = call.kb->store_files(call.owner, store_id);
  if (!files.ok()) return fail(files.error());
  for (const FileRecord& f : files.value())
    if (f.id == call.ids.at(1)) return ok(vector_store_file_json(f, store_id));
  return no_such("VectorStoreFile", call.ids[1]);
}

Response delete_vector_store_file(const KnowledgeCall& call) {
  auto detached = call.kb->detach_file(call.owner, call.ids.at(0), call.ids.at(1));
  if (!detached.ok()) return fail(detached.error());
  if (!detached.value()) return no_such("VectorStoreFile", call.ids[1]);
  return ok({{"id", call.ids[1]}, {"object", "vector_store.file.deleted"}, {"deleted", true}});
}

Response post_vector_store_search(const KnowledgeCall& call, std::string_view body) {
  const std::string& store_id = call.ids.at(0);
  auto j = read_object(body,
                       {"query", "max_num_results", "rewrite_query", "filters", "ranking_options"});
  if (!j.ok()) return Response::error(j.error());
  const json& r = j.value();
  std::vector<std::string> queries;
  if (r.contains("query") && r["query"].is_string()) {
    queries.push_back(r["query"].get<std::string>());
  } else if (r.contains("query") && r["query"].is_array()) {
    for (const auto& q : r["query"])
      if (q.is_string()) queries.push_back(q.get<std::string>());
    if (queries.size() != r["query"].size()) queries.clear();
  }
  std::erase_if(queries, [](const std::string& q) { return q.empty(); });
  if (queries.empty() || queries.size() > 10)
    return Response::error(api::ApiError::bad_request(
        "'query' is required: a non-empty string, or a list of 1 to 10 of them", "query"));
  size_t k = 10;
  if (r.contains("max_num_results") && !r["max_num_results"].is_null()) {
    const json& m = r["max_num_results"];
    if (!m.is_number_integer() || m.get<int64_t>() < 1 || m.get<int64_t>() > 50)
      return Response::error(api::ApiError::bad_request(
          "'max_num_results' must be an integer from 1 to 50", "max_num_results"));
    k = static_cast<size_t>(m.get<int64_t>());
  }
  if (r.contains("rewrite_query") && !r["rewrite_query"].is_null() &&
      !r["rewrite_query"].is_boolean())
    return Response::error(
        api::ApiError::bad_request("'rewrite_query' must be true or false", "rewrite_query"));
  if (r.contains("filters") && !r["filters"].is_null())
    return Response::error(api::ApiError::bad_request(
        "attribute filters are not offered: files here carry no attributes", "filters"));
  double threshold = -1;
  if (r.contains("ranking_options") && !r["ranking_options"].is_null()) {
    const json& o = r["ranking_options"];
    if (!o.is_object())
      return Response::error(
          api::ApiError::bad_request("'ranking_options' must be an object", "ranking_options"));
    for (const auto& [key, value] : o.items()) {
      if (key == "score_threshold" && value.is_number() && value.get<double>() >= 0 &&
          value.get<double>() <= 1) {
        threshold = value.get<double>();
      } else if (key == "ranker" && value.is_string()) {
        // One ranker here: cosine similarity of the embeddings.
      } else {
        return Response::error(api::ApiError::bad_request(
            "'ranking_options." + key +
                "' is not understood (score_threshold: a number from 0 to 1; ranker: a string)",
            "ranking_options." + key));
      }
    }
  }
  std::string query;
  for (const std::string& q : queries) query += (query.empty() ? "" : "\n") + q;
  auto store = call.kb->get_vector_store(call.owner, store_id);
  if (!store.ok()) return fail(store.error());
  if (!store.value()) return no_such("VectorStore", store_id);
  const auto start = std::chrono::steady_clock::now();
  auto hits = call.kb->search(call.owner, {store_id}, query, k);
  if (!hits.ok()) return fail(hits.error());
  if (call.metrics) call.metrics->knowledge_search_time.get().observe(seconds_since(start));
  json data = json::array();
  for (const knowledge::SearchHit& h : hits.value()) {
    if (h.score < threshold) continue;
    data.push_back({{"file_id", h.chunk.file_id},
                    {"filename", h.filename},
                    {"score", std::isfinite(h.score) ? h.score : 0.0f},
                    {"attributes", json::object()},
                    {"content", json::array({{{"type", "text"}, {"text", h.chunk.text}}})},
                    {"chunk",
                     {{"id", h.chunk.id},
                      {"index", h.chunk.index},
                      {"begin", h.chunk.begin},
                      {"end", h.chunk.end}}}});
  }
  return ok({{"object", "vector_store.search_results.page"},
             {"search_query", queries},
             {"data", data},
             {"has_more", false},
             {"next_page", nullptr}});
}

}  // namespace shardserve
