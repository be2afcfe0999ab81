#include "coordinator/serving/http_server.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "api/openai_error.h"
#include "coordinator/serving/access.h"
#include "coordinator/serving/cluster_endpoint.h"
#include "coordinator/serving/completions.h"
#include "coordinator/serving/embeddings_endpoint.h"
#include "coordinator/serving/knowledge_endpoints.h"
#include "coordinator/serving/route_path.h"
#include "coordinator/serving/static_files.h"
#include "coordinator/serving/tokenize_endpoint.h"
#include "coordinator/serving/upload_receiver.h"

namespace shardserve {
namespace {

constexpr const char* kJson = "application/json";
constexpr int kListenBacklog = 4096;
constexpr size_t kConnectionMemory = 64 * 1024;    // per connection: headers and I/O buffers
constexpr size_t kStreamBufferBytes = 256 * 1024;  // a stream's bytes not yet sent, at most
constexpr int kReservedFds = 256;  // descriptors kept for everything but client sockets
constexpr int64_t kFormOverheadBytes = 1 << 20;  // an upload's form fields besides the file

api::ApiError file_too_large(int64_t max_file_bytes) {
  api::ApiError e = api::ApiError::payload_too_large(static_cast<size_t>(max_file_bytes));
  e.message = "The file is larger than this server takes: at most " +
              std::to_string(max_file_bytes) + " bytes (knowledge.max_file_bytes).";
  e.param = "file";
  return e;
}

// The hard connection limit libmicrohttpd enforces at accept, above the soft
// server.max_connections, and below what the open-file limit allows.
unsigned hard_connection_limit(int max_connections) {
  int64_t hard = int64_t{max_connections} + std::max(64, max_connections / 4);
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    const int64_t fit = static_cast<int64_t>(rl.rlim_cur) - kReservedFds;
    if (fit < hard) {
      std::fprintf(stderr,
                   "shardserve http: the open-file limit (%lld) holds about %lld connections; "
                   "server.max_connections is %d (raise `ulimit -Hn`)\n",
                   static_cast<long long>(rl.rlim_cur), static_cast<long long>(fit),
                   max_connections);
      hard = std::max<int64_t>(fit, 16);
    }
  }
  return static_cast<unsigned>(hard);
}

// Thousands of sockets need thousands of descriptors: lift the soft limit to the hard one.
void raise_open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

// A listening, non-blocking socket on host:port, or -1 with `error` set.
int listen_on(const std::string& host, int port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, kListenBacklog) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

int bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

std::string header(MHD_Connection* c, const char* name) {
  const char* v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
  return v ? v : "";
}

void add_headers(MHD_Response* r, const Headers& headers) {
  for (const auto& [name, value] : headers) MHD_add_response_header(r, name.c_str(), value.c_str());
}

// Queues `response` (not a stream) with `extra` headers (CORS); false if it cannot.
bool queue(MHD_Connection* c, const Response& response, const Headers& extra) {
  MHD_Response* r = MHD_create_response_from_buffer(
      response.body.size(), const_cast<char*>(response.body.data()), MHD_RESPMEM_MUST_COPY);
  if (!r) return false;
  if (!response.body.empty())
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  add_headers(r, response.headers);
  add_headers(r, extra);
  const bool ok = MHD_queue_response(c, static_cast<unsigned>(response.status), r) == MHD_YES;
  MHD_destroy_response(r);
  return ok;
}

// The body of a streamed response, pulled by libmicrohttpd from the StreamBuffer.
ssize_t read_stream(void* cls, uint64_t, char* buf, size_t max) {
  return (*static_cast<std::shared_ptr<StreamBuffer>*>(cls))->read(buf, max);
}
void free_stream(void* cls) {
  delete static_cast<std::shared_ptr<StreamBuffer>*>(cls);
}

// A stream's writes into its buffer.
class BufferSink : public StreamSink {
 public:
  explicit BufferSink(StreamBuffer& buffer) : buffer_(buffer) {}
  bool write(std::string_view data) override { return buffer_.write(data); }
  bool writable() override { return buffer_.writable(); }
  void done() override {
    done_ = true;
    buffer_.finish(true);
  }
  bool done_called() const { return done_; }

 private:
  StreamBuffer& buffer_;
  bool done_ = false;
};

api::ApiError too_many_connections(int max_connections) {
  api::ApiError e = api::ApiError::unavailable(
      "The server has too many open connections (server.max_connections = " +
      std::to_string(max_connections) + "). Retry shortly, or reuse a keep-alive connection.");
  e.retry_after_s = 1;
  return e;
}

}  // namespace

// One request on a connection, from its header to the end of its answer (libmicrohttpd's
// per-request pointer). Owned by the polling thread, except while the connection is suspended
// for the request pool, which then owns it until it resumes the connection.
struct HttpServer::Exchange {
  MHD_Connection* connection = nullptr;
  std::string method;
  std::string path;
  std::string origin;
  std::string authorization;
  std::vector<std::string> params;  // the route pattern's {} segments
  QueryArgs query;
  std::string body;
  bool too_large = false;                  // the body passed server.max_body_bytes: 413
  std::unique_ptr<UploadReceiver> upload;  // POST /v1/files: the form, streamed to disk
  MultipartUpload form;                    // what the upload received, at dispatch
  bool dispatched = false;                 // handed to a route (or answered)
  std::shared_ptr<StreamBuffer> stream;    // a streamed answer's body, once started
};

enum class RouteId {
  kHealth,
  kReady,
  kMetrics,
  kModels,
  kModel,
  kChat,
  kCompletions,
  kEmbeddings,
  kTokenize,
  kDetokenize,
  kFileUpload,
  kFileList,
  kFileGet,
  kFileContent,
  kFileDelete,
  kStoreCreate,
  kStoreList,
  kStoreGet,
  kStoreDelete,
  kStoreFileAttach,
  kStoreFileList,
  kStoreFileGet,
  kStoreFileDelete,
  kStoreSearch,
  kCluster,
};

struct HttpServer::Route {
  std::string_view path;      // pattern: "{}" one segment, "{*}" the rest (route_path.h)
  std::string_view method;    // GET, POST or DELETE (GET routes answer HEAD too)
  std::string_view endpoint;  // label in shardserve_requests_total; empty: not counted
  bool on_pool;               // blocks: runs on the request pool, not the polling thread
  RouteId id;
  bool upload = false;  // a multipart body streamed to disk, not held (UploadReceiver)
};

// libmicrohttpd's callbacks, with access to the server.
struct MhdGlue {
  static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                               const char*, const char* upload_data, size_t* upload_data_size,
                               void** req_cls);
  static MHD_Result dispatch(HttpServer& s, HttpServer::Exchange& ex);
  static void on_completed(void* cls, MHD_Connection* c, void** req_cls,
                           MHD_RequestTerminationCode);
  static void on_connection(void* cls, MHD_Connection* c, void**,
                            MHD_ConnectionNotificationCode code);
  static void log(void* cls, const char* format, va_list args);
  // The route for `path` and `method` (its {} segments appended to `params`); nullptr when
  // none, with `path_known` telling whether another method would have matched (405).
  static const HttpServer::Route* find_route(std::string_view path, std::string_view method,
                                             std::vector<std::string>* params, bool* path_known);
  // POST /v1/files, when its header is in: refuses early (no knowledge base, bad key, too
  // large, not a form) or sets up the receiver. True when an answer was queued.
  static bool start_upload(HttpServer& s, HttpServer::Exchange& ex, const Headers& cors,
                           MHD_Result& result);
};

const HttpServer::Route* MhdGlue::find_route(std::string_view path, std::string_view method,
                                             std::vector<std::string>* params, bool* path_known) {
  using Route = HttpServer::Route;
  static const Route kRoutes[] = {
      {"/health", "GET", "", false, RouteId::kHealth},
      {"/ready", "GET", "", false, RouteId::kReady},
      {"/metrics", "GET", "", false, RouteId::kMetrics},
      {"/v1/models", "GET", "/v1/models", false, RouteId::kModels},
      {"/v1/models/{*}", "GET", "/v1/models", false, RouteId::kModel},
      {"/v1/chat/completions", "POST", "/v1/chat/completions", true, RouteId::kChat},
      {"/v1/completions", "POST", "/v1/completions", true, RouteId::kCompletions},
      {"/v1/embeddings", "POST", "/v1/embeddings", true, RouteId::kEmbeddings},
      {"/tokenize", "POST", "/tokenize", true, RouteId::kTokenize},
      {"/detokenize", "POST", "/detokenize", true, RouteId::kDetokenize},
      // The knowledge base: SQLite and the disk, so on the pool.
      {"/v1/files", "POST", "/v1/files", true, RouteId::kFileUpload, true},
      {"/v1/files", "GET", "/v1/files", true, RouteId::kFileList},
      {"/v1/files/{}", "GET", "/v1/files", true, RouteId::kFileGet},
      {"/v1/files/{}", "DELETE", "/v1/files", true, RouteId::kFileDelete},
      {"/v1/files/{}/content", "GET", "/v1/files", true, RouteId::kFileContent},
      {"/v1/vector_stores", "POST", "/v1/vector_stores", true, RouteId::kStoreCreate},
      {"/v1/vector_stores", "GET", "/v1/vector_stores", true, RouteId::kStoreList},
      {"/v1/vector_stores/{}", "GET", "/v1/vector_stores", true, RouteId::kStoreGet},
      {"/v1/vector_stores/{}", "DELETE", "/v1/vector_stores", true, RouteId::kStoreDelete},
      {"/v1/vector_stores/{}/files", "POST", "/v1/vector_stores", true, RouteId::kStoreFileAttach},
      {"/v1/vector_stores/{}/files", "GET", "/v1/vector_stores", true, RouteId::kStoreFileList},
      {"/v1/vector_stores/{}/files/{}", "GET", "/v1/vector_stores", true, RouteId::kStoreFileGet},
      {"/v1/vector_stores/{}/files/{}", "DELETE", "/v1/vector_stores", true,
       RouteId::kStoreFileDelete},
      {"/v1/vector_stores/{}/search", "POST", "/v1/vector_stores/search", true,
       RouteId::kStoreSearch},
      {"/v1/cluster", "GET", "/v1/cluster", false, RouteId::kCluster},
  };
  const bool get = method == MHD_HTTP_METHOD_GET || method == MHD_HTTP_METHOD_HEAD;
  *path_known = false;
  for (const Route& r : kRoutes) {
    std::vector<std::string> found;
    if (!match_route_path(r.path, path, &found)) continue;
    *path_known = true;
    if (r.method == "GET" ? get : method == r.method) {
      if (params) *params = std::move(found);
      return &r;
    }
  }
  return nullptr;
}

bool MhdGlue::start_upload(HttpServer& s, HttpServer::Exchange& ex, const Headers& cors,
                           MHD_Result& result) {
  MHD_Connection* c = ex.connection;
  auto refuse = [&](const api::ApiError& e) {
    ex.dispatched = true;  // answered before the body: libmicrohttpd then closes
    result = queue(c, Response::error(e), cors) ? MHD_YES : MHD_NO;
    return true;
  };
  if (!s.knowledge_) return refuse(knowledge_off());
  if (auto denied = check_api_key(s.config_, ex.path, header(c, MHD_HTTP_HEADER_AUTHORIZATION)))
    return refuse(*denied);
  const int64_t max_file = s.knowledge_->options().max_file_bytes;
  const std::string length = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!length.empty() && std::strtoull(length.c_str(), nullptr, 10) >
                             static_cast<unsigned long long>(max_file + kFormOverheadBytes))
    return refuse(file_too_large(max_file));
  std::string error;
  ex.upload = UploadReceiver::create(c, s.knowledge_->incoming_dir(), max_file, error);
  if (!ex.upload) return refuse(api::ApiError::bad_request(error, "file"));
  return false;
}

MHD_Result MhdGlue::on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                               const char*, const char* upload_data, size_t* upload_data_size,
                               void** req_cls) {
  HttpServer& s = *static_cast<HttpServer*>(cls);
  auto* ex = static_cast<HttpServer::Exchange*>(*req_cls);
  if (!ex) {  // the header is complete; the body (if any) comes next
    ex = new HttpServer::Exchange();
    *req_cls = ex;
    ex->connection = c;
    ex->method = method;
    ex->path = url;
    s.connections_.request_started(c);
    Headers cors = cors_headers(s.config_, header(c, "Origin"));
    if (s.connections_.over_limit(c)) {
      ex->dispatched = true;
      s.metrics_.http_connections_refused.get().inc();
      cors.emplace_back("Connection", "close");
      return queue(c, Response::error(too_many_connections(s.config_.max_connections)), cors)
                 ? MHD_YES
                 : MHD_NO;
    }
    bool path_known = false;
    if (const HttpServer::Route* r = find_route(ex->path, ex->method, nullptr, &path_known);
        r && r->upload) {
      MHD_Result result = MHD_YES;
      return start_upload(s, *ex, cors, result) ? result : MHD_YES;
    }
    const std::string length = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!length.empty() && std::strtoull(length.c_str(), nullptr, 10) >
                               static_cast<unsigned long long>(s.config_.max_body_bytes)) {
      ex->dispatched = true;  // answered before the body: libmicrohttpd then closes
      return queue(c,
                   Response::error(api::ApiError::payload_too_large(
                       static_cast<size_t>(s.config_.max_body_bytes))),
                   cors)
                 ? MHD_YES
                 : MHD_NO;
    }
    return MHD_YES;
  }
  if (*upload_data_size > 0 && ex->upload) {  // a piece of a form: to disk
    ex->upload->feed(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {  // a piece of the body
    if (!ex->too_large) {
      if (ex->body.size() + *upload_data_size > static_cast<size_t>(s.config_.max_body_bytes)) {
        ex->too_large = true;
        ex->body.clear();
      } else {
        ex->body.append(upload_data, *upload_data_size);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (ex->dispatched) return MHD_NO;  // called again without an answer: drop the connection
  ex->dispatched = true;
  return dispatch(s, *ex);
}

MHD_Result MhdGlue::dispatch(HttpServer& s, HttpServer::Exchange& ex) {
  MHD_Connection* c = ex.connection;
  ex.origin = header(c, "Origin");
  ex.authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
  Headers cors = cors_headers(s.config_, ex.origin);
  auto answer = [&](const Response& r) { return queue(c, r, cors) ? MHD_YES : MHD_NO; };

  if (ex.too_large)
    return answer(Response::error(
        api::ApiError::payload_too_large(static_cast<size_t>(s.config_.max_body_bytes))));
  if (ex.upload) {
    ex.form = ex.upload->finish();
    if (ex.upload->too_large())
      return answer(Response::error(file_too_large(ex.upload->max_file_bytes())));
  }
  if (s.stopping_.load())
    return answer(Response::error(api::ApiError::unavailable("The server is shutting down.")));
  if (ex.method == MHD_HTTP_METHOD_OPTIONS) {  // CORS preflight, on any path
    Response r = Response::json(204, "");
    r.headers = cors_preflight_headers();
    return answer(r);
  }
  bool path_known = false;
  const HttpServer::Route* route = find_route(ex.path, ex.method, &ex.params, &path_known);
  if (auto denied = check_api_key(s.config_, ex.path, ex.authorization)) {
    Response r = Response::error(*denied);
    s.count(route ? route->endpoint : "other", r);
    return answer(r);
  }
  const bool get = ex.method == MHD_HTTP_METHOD_GET || ex.method == MHD_HTTP_METHOD_HEAD;
  if (get) {  // the chat page: a file of the path comes before any route
    if (auto file = find_static_file(s.config_.web_root_path, ex.path)) {
      const int fd = ::open(file->path.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      if (fd >= 0 && ::fstat(fd, &st) == 0) {
        MHD_Response* r = MHD_create_response_from_fd(static_cast<uint64_t>(st.st_size), fd);
        if (r) {
          MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, file->content_type.c_str());
          add_headers(r, cors);
          const MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
          MHD_destroy_response(r);  // closes fd once sent
          return ok;
        }
      }
      if (fd >= 0) ::close(fd);
    }
  }
  if (!route && path_known)
    return answer(Response::error(api::ApiError::method_not_allowed(ex.method, ex.path)));
  if (!route)
    return answer(Response::error(
        api::ApiError::not_found("Unknown request URL: " + ex.method + " " + ex.path)));
  MHD_get_connection_values(
      c, MHD_GET_ARGUMENT_KIND,
      [](void* cls, MHD_ValueKind, const char* key, const char* value) {
        static_cast<QueryArgs*>(cls)->emplace_back(key ? key : "", value ? value : "");
        return MHD_YES;
      },
      &ex.query);
  if (!route->on_pool) {
    Response r = s.serve(*route, ex);
    s.count(route->endpoint, r);
    return answer(r);
  }
  // A blocking endpoint: the pool answers and resumes the connection.
  MHD_suspend_connection(c);
  HttpServer* server = &s;
  HttpServer::Exchange* exchange = &ex;
  if (!s.pool_.submit([server, exchange, route] { server->run_on_pool(*exchange, *route); })) {
    queue(c, Response::error(api::ApiError::unavailable("The server is shutting down.")), cors);
    MHD_resume_connection(c);
  }
  return MHD_YES;
}

void MhdGlue::on_completed(void* cls, MHD_Connection* c, void** req_cls,
                           MHD_RequestTerminationCode) {
  HttpServer& s = *static_cast<HttpServer*>(cls);
  if (auto* ex = static_cast<HttpServer::Exchange*>(*req_cls)) {
    if (ex->stream) ex->stream->close();  // the writer stops at its next write
    delete ex;
    *req_cls = nullptr;
  }
  s.connections_.request_ended(c);
}

void MhdGlue::on_connection(void* cls, MHD_Connection* c, void**,
                            MHD_ConnectionNotificationCode code) {
  HttpServer& s = *static_cast<HttpServer*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    s.connections_.opened(c, info ? info->connect_fd : -1);
  } else {
    s.connections_.closed(c);
  }
}

void MhdGlue::log(void* cls, const char* format, va_list args) {
  // Start-up problems are printed; once serving, the library reports every client that
  // closes early or sends garbage, which is no news for an operator.
  if (static_cast<HttpServer*>(cls)->serving_.load()) return;
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  std::fprintf(stderr, "shardserve http: %s", line);
}

HttpServer::HttpServer(const ServerConfig& config, GroupLink& link,
                       const std::vector<std::unique_ptr<ServedModel>>& models,
                       const std::vector<std::string>& groups, knowledge::KnowledgeBase* knowledge)
    : config_(config),
      knowledge_(knowledge),
      metrics_(registry_),
      admission_(config_.max_queued_requests, metrics_.requests_running.get()),
      context_{config_, link, models, metrics_, admission_, router_, knowledge},
      metrics_page_(registry_, metrics_, link, groups),
      connections_(config_.max_connections, std::chrono::seconds(config_.idle_timeout_s),
                   metrics_.http_connections.get()),
      // Each open stream holds a thread: the queue limit plus headroom.
      pool_(config_.max_queued_requests + 16) {
  if (!config_.web_root_path.empty()) {
    struct stat st {};
    if (::stat(config_.web_root_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      std::fprintf(stderr, "shardserve coordinator: web_root %s is not a directory; no chat page\n",
                   config_.web_root_path.c_str());
  }
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::count(std::string_view endpoint, const Response& response) {
  if (endpoint.empty()) return;
  metrics_.requests.with({std::string(endpoint), std::to_string(response.status)}).inc();
}

Response HttpServer::serve(const Route& route, const Exchange& ex) {
  // While draining, /health and /ready say so with 503: load balancers take this coordinator
  // out while its streams finish.
  auto draining = [] {
    Response r = Response::json(503, R"({"status":"draining"})");
    r.headers.emplace_back("Retry-After", std::to_string(Admission::kDrainRetryAfterS));
    return r;
  };
  switch (route.id) {
    case RouteId::kHealth:
      return admission_.draining() ? draining() : Response::json(200, R"({"status":"ok"})");
    case RouteId::kReady:
      return admission_.draining() ? draining() : get_ready(context_.models, context_.link);
    case RouteId::kMetrics: {
      Response r = Response::json(200, metrics_page_.render());
      r.content_type = std::string(metrics::kContentType);
      return r;
    }
    case RouteId::kModels:
      return get_models(context_.models);
    case RouteId::kModel:
      return get_model(context_.models, ex.params.at(0));
    case RouteId::kChat:
      return post_chat_completions(context_, ex.body, owner_of_request(config_, ex.authorization));
    case RouteId::kCompletions:
      return post_completions(context_, ex.body);
    case RouteId::kEmbeddings:
      return post_embeddings(context_, ex.body);
    case RouteId::kTokenize:
      return post_tokenize(context_, ex.body);
    case RouteId::kDetokenize:
      return post_detokenize(context_, ex.body);
    case RouteId::kCluster:
      return get_cluster(metrics_page_.roster(), metrics_, context_.models);
    default:
      return serve_knowledge(route, ex);
  }
  return Response::error(api::ApiError::server_error());
}

Response HttpServer::serve_knowledge(const Route& route, const Exchange& ex) {
  if (!knowledge_) return Response::error(knowledge_off());
  const KnowledgeCall call{knowledge_, &metrics_, owner_of_request(config_, ex.authorization),
                           ex.params, ex.query};
  switch (route.id) {
    case RouteId::kFileUpload:
      return post_file(call, ex.form);
    case RouteId::kFileList:
      return list_files(call);
    case RouteId::kFileGet:
      return get_file(call);
    case RouteId::kFileContent:
      return get_file_content(call);
    case RouteId::kFileDelete:
      return delete_file(call);
    case RouteId::kStoreCreate:
      return post_vector_store(call, ex.body);
    case RouteId::kStoreList:
      return list_vector_stores(call);
    case RouteId::kStoreGet:
      return get_vector_store(call);
    case RouteId::kStoreDelete:
      return delete_vector_store(call);
    case RouteId::kStoreFileAttach:
      return post_vector_store_file(call, ex.body);
    case RouteId::kStoreFileList:
      return list_vector_store_files(call);
    case RouteId::kStoreFileGet:
      return get_vector_store_file(call);
    case RouteId::kStoreFileDelete:
      return delete_vector_store_file(call);
    case RouteId::kStoreSearch:
      return post_vector_store_search(call, ex.body);
    default:
      return Response::error(api::ApiError::server_error());
  }
}

void HttpServer::run_on_pool(Exchange& ex, const Route& route) {
  MHD_Connection* c = ex.connection;
  const Headers cors = cors_headers(config_, ex.origin);
  Response response =
      stopping_.load() ? Response::error(api::ApiError::unavailable("The server is shutting down."))
                       : serve(route, ex);
  count(route.endpoint, response);
  if (!response.stream) {
    queue(c, response, cors);  // allowed while suspended
    MHD_resume_connection(c);  // `ex` belongs to the polling thread again
    return;
  }
  auto stream = std::make_shared<StreamBuffer>(
      kStreamBufferBytes, [c] { MHD_suspend_connection(c); }, [c] { MHD_resume_connection(c); });
  auto* reader = new std::shared_ptr<StreamBuffer>(stream);
  MHD_Response* r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, &read_stream,
                                                      reader, &free_stream);
  if (!r) {  // out of memory: the writer never runs
    delete reader;
    queue(c, Response::error(api::ApiError::server_error()), cors);
    MHD_resume_connection(c);
    return;
  }
  ex.stream = stream;
  add_stream(stream);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  add_headers(r, response.headers);
  add_headers(r, cors);
  MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  MHD_resume_connection(c);  // from here on only `stream` is ours

  BufferSink sink(*stream);
  const bool ok = response.stream(sink);
  if (!sink.done_called()) stream->finish(ok);
  remove_stream(stream);
}

void HttpServer::add_stream(const std::shared_ptr<StreamBuffer>& stream) {
  std::lock_guard<std::mutex> lock(streams_mutex_);
  streams_.insert(stream);
  if (stopping_.load()) stream->close();
}

void HttpServer::remove_stream(const std::shared_ptr<StreamBuffer>& stream) {
  std::lock_guard<std::mutex> lock(streams_mutex_);
  streams_.erase(stream);
}

Status HttpServer::bind() {
  raise_open_file_limit();
  std::string error;
  listen_fd_ = listen_on(config_.host, config_.port, error);
  if (listen_fd_ < 0)
    return Error{"cannot listen on " + config_.host + ":" + std::to_string(config_.port) + " (" +
                 error + "; in use? set server.port or --set server.port=N)"};
  port_ = bound_port(listen_fd_);
  // One polling thread (epoll) for every socket; suspend/resume hands requests to the pool.
  daemon_ = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, nullptr,
      nullptr, &MhdGlue::on_request, this, MHD_OPTION_EXTERNAL_LOGGER, &MhdGlue::log, this,
      MHD_OPTION_LISTEN_SOCKET, listen_fd_, MHD_OPTION_CONNECTION_LIMIT,
      hard_connection_limit(config_.max_connections), MHD_OPTION_CONNECTION_TIMEOUT,
      static_cast<unsigned>(config_.idle_timeout_s), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      kConnectionMemory, MHD_OPTION_NOTIFY_COMPLETED, &MhdGlue::on_completed, this,
      MHD_OPTION_NOTIFY_CONNECTION, &MhdGlue::on_connection, this, MHD_OPTION_END);
  serving_.store(true);  // from now on the library's messages are about clients: not logged
  if (!daemon_) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return Error{"cannot start the HTTP server on " + config_.host + ":" + std::to_string(port_) +
                 " (libmicrohttpd failed; see the log above)"};
  }
  connections_.start_reaper();
  return {};
}

void HttpServer::run() {
  std::unique_lock<std::mutex> lock(stop_mutex_);
  stopped_cv_.wait(lock, [this] { return stopped_; });
}

void HttpServer::stop() {
  {
    std::unique_lock<std::mutex> lock(stop_mutex_);
    if (stop_started_) {
      stopped_cv_.wait(lock, [this] { return stopped_; });
      return;
    }
    stop_started_ = true;
  }
  // No new connections; requests on open ones get 503.
  const MHD_socket quiesced = daemon_ ? MHD_quiesce_daemon(daemon_) : MHD_INVALID_SOCKET;
  stopping_.store(true);
  {  // open streams end at their writer's next write (a suspended reader is resumed)
    std::lock_guard<std::mutex> lock(streams_mutex_);
    for (const auto& stream : streams_) stream->close();
  }
  pool_.shutdown();  // every endpoint has answered: no connection is suspended any more
  if (daemon_) MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
  connections_.stop_reaper();
  // The listening socket is ours again when quiesce gave it back; else the daemon closed it.
  if (quiesced != MHD_INVALID_SOCKET) ::close(quiesced);
  listen_fd_ = -1;
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stopped_ = true;
  }
  stopped_cv_.notify_all();
}

}  // namespace shardserve
