#include "coordinator/serving/grounding.h"

#include <chrono>
#include <optional>
#include <vector>

namespace shardserve {
namespace {

using json = nlohmann::ordered_json;

constexpr int64_t kDefaultResults = 5;
constexpr int64_t kMaxResults = 20;

struct FileSearch {
  std::vector<std::string> store_ids;
  size_t max_results = kDefaultResults;
};

// The tool's settings, or the 400 naming `param`.
api::ApiResult<FileSearch> read_tool(const json& tool, const std::string& param) {
  const json* settings = &tool;
  std::string where = param;
  if (tool.contains("file_search")) {
    settings = &tool["file_search"];
    where += ".file_search";
    if (!settings->is_object())
      return api::ApiError::bad_request("'" + where + "' must be an object", where);
  }
  FileSearch out;
  const std::string ids_param = where + ".vector_store_ids";
  if (!settings->contains("vector_store_ids") || !(*settings)["vector_store_ids"].is_array() ||
      (*settings)["vector_store_ids"].empty() || (*settings)["vector_store_ids"].size() > 10)
    return api::ApiError::bad_request(
        "'" + ids_param + "' is required: a list of 1 to 10 vector store ids", ids_param);
  for (const json& id : (*settings)["vector_store_ids"]) {
    if (!id.is_string() || id.get<std::string>().empty())
      return api::ApiError::bad_request("'" + ids_param + "' must hold vector store ids",
                                        ids_param);
    out.store_ids.push_back(id.get<std::string>());
  }
  if (settings->contains("max_num_results") && !(*settings)["max_num_results"].is_null()) {
    const json& m = (*settings)["max_num_results"];
    if (!m.is_number_integer() || m.get<int64_t>() < 1 || m.get<int64_t>() > kMaxResults)
      return api::ApiError::bad_request("'" + where +
                                            ".max_num_results' must be an integer from 1 to " +
                                            std::to_string(kMaxResults),
                                        where + ".max_num_results");
    out.max_results = static_cast<size_t>(m.get<int64_t>());
  }
  return out;
}

// The text of a message's content: a string, or the text parts of a list.
std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array())
    for (const json& part : content)
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        if (!out.empty()) out += '\n';
        out += part["text"].get<std::string>();
      }
  return out;
}

std::string sources_text(const json& citations) {
  std::string out =
      "Answer using the sources below when they hold the answer, and cite each source you use "
      "by its number in brackets, like [1]. If they do not hold the answer, say so.\n";
  for (const json& c : citations) {
    out.append("\n[").append(std::to_string(c["index"].get<int64_t>())).append("] ");
    out.append(c["filename"].get<std::string>()).append(":\n");
    out.append(c["text"].get<std::string>()).append("\n");
  }
  return out;
}

}  // namespace

api::ApiResult<GroundedRequest> ground_chat_request(std::string_view body,
                                                    knowledge::KnowledgeBase* kb,
                                                    std::string_view owner,
                                                    double* search_seconds) {
  if (search_seconds) *search_seconds = 0;
  GroundedRequest out{std::string(body), json::array()};
  // Cheap test first: most requests never name the tool.
  if (body.find("file_search") == std::string_view::npos) return out;
  json request = json::parse(body, nullptr, false);
  if (request.is_discarded() || !request.is_object() || !request.contains("tools") ||
      !request["tools"].is_array())
    return out;  // the chat parser reports what is wrong with it

  std::optional<FileSearch> search;
  json kept = json::array();
  const json& tools = request["tools"];
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& tool = tools[i];
    if (!tool.is_object() || tool.value("type", "") != "file_search") {
      kept.push_back(tool);
      continue;
    }
    const std::string param = "tools[" + std::to_string(i) + "]";
    if (search) return api::ApiError::bad_request("give one file_search tool", param);
    auto read = read_tool(tool, param);
    if (!read.ok()) return read.error();
    search = std::move(read.value());
  }
  if (!search) return out;
  if (!kb)
    return api::ApiError::bad_request(
        "the file_search tool needs the knowledge base, which is turned off on this server "
        "(set knowledge.data_dir in the cluster config)",
        "tools");

  // The question: the last user message.
  std::string query;
  json& messages = request["messages"];
  if (messages.is_array())
    for (auto it = messages.rbegin(); it != messages.rend() && query.empty(); ++it)
      if (it->is_object() && it->value("role", "") == "user" && it->contains("content"))
        query = content_text((*it)["content"]);
  if (query.empty())
    return api::ApiError::bad_request(
        "file_search searches with the last user message, and there is none with text", "messages");

  for (const std::string& id : search->store_ids) {
    auto store = kb->get_vector_store(owner, id);
    if (!store.ok()) return api::ApiError::from(store.error().code, store.error().message);
    if (!store.value())
      return api::ApiError::not_found("No such VectorStore object: " + id, "tools");
  }
  const auto start = std::chrono::steady_clock::now();
  auto hits = kb->search(owner, search->store_ids, query, search->max_results);
  if (!hits.ok()) return api::ApiError::from(hits.error().code, hits.error().message, "tools");
  if (search_seconds)
    *search_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int64_t index = 0;
  for (const knowledge::SearchHit& h : hits.value())
    out.citations.push_back({{"index", ++index},
                             {"file_id", h.chunk.file_id},
                             {"filename", h.filename},
                             {"chunk",
                              {{"id", h.chunk.id},
                               {"index", h.chunk.index},
                               {"begin", h.chunk.begin},
                               {"end", h.chunk.end}}},
                             {"score", h.score},
                             {"text", h.chunk.text}});

  if (kept.empty()) {
    request.erase("tools");
    if (request.contains("tool_choice") && request["tool_choice"].is_string())
      request.erase("tool_choice");
  } else {
    request["tools"] = kept;
  }
  if (!out.citations.empty()) {
    const std::string sources = sources_text(out.citations);
    json& first = messages.front();
    const std::string role = first.is_object() ? first.value("role", "") : "";
    const bool system = role == "system" || role == "developer";
    if (system && first.contains("content") && first["content"].is_string()) {
      first["content"] = first["content"].get<std::string>() + "\n\n" + sources;
    } else if (system && first.contains("content") && first["content"].is_array()) {
      first["content"].push_back({{"type", "text"}, {"text", sources}});
    } else {
      messages.insert(messages.begin(), json{{"role", "system"}, {"content", sources}});
    }
  }
  out.body = request.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

}  // namespace shardserve
