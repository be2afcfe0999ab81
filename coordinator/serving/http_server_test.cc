// The HTTP server through real sockets, without worker groups: the chat page, routing errors,
// body limits, CORS, drain, the connection limit and the idle/header deadline.
#include "coordinator/serving/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace shardserve {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A client socket connected to 127.0.0.1:port.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // False if the server has closed the connection.
  bool send(const std::string& data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }

  // Reads one response: the header, then Content-Length bytes or up to the end.
  std::string response(std::chrono::milliseconds timeout = 5s) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const size_t head_end = got.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        if (got.compare(9, 3, "204") == 0) return got;  // no body
        const size_t cl = got.find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) {
          const size_t length = std::stoul(got.substr(cl + 16));
          if (got.size() >= head_end + 4 + length) return got.substr(0, head_end + 4 + length);
        }
      }
      if (!wait_readable(deadline)) return got;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return got;
      got.append(buf, static_cast<size_t>(n));
    }
  }

  // True if the server closed the connection within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (wait_readable(deadline)) {
      char buf[256];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool wait_readable(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) return false;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
  }
  int fd_ = -1;
};

int status_of(const std::string& response) {
  return response.size() > 12 ? std::stoi(response.substr(9, 3)) : 0;
}
std::string body_of(const std::string& response) {
  const size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ss_http_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "web");
    std::ofstream(dir_ / "web" / "index.html") << "<html>chat</html>";
    std::ofstream(dir_ / "web" / "app.js") << "export {}";
    std::ofstream(dir_ / "secret.txt") << "TOP-SECRET-CONTENT";
    config_.host = "127.0.0.1";
    config_.port = 0;  // any free port
    config_.web_root_path = (dir_ / "web").string();
    config_.max_body_bytes = 1024;
    config_.max_queued_requests = 4;
    auto link = GroupLink::start({.endpoint = "tcp://127.0.0.1:*"});
    ASSERT_TRUE(link.ok());
    link_ = std::move(*link);
  }
  void start() {
    server_ = std::make_unique<HttpServer>(config_, *link_, models_);
    ASSERT_TRUE(server_->bind().ok());
    runner_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (runner_.joinable()) runner_.join();
    server_.reset();
    link_.reset();
    fs::remove_all(dir_);
  }
  std::string request(const std::string& text) {
    Client c(server_->port());
    c.send(text);
    return c.response();
  }

  fs::path dir_;
  ServerConfig config_;
  std::unique_ptr<GroupLink> link_;
  std::vector<std::unique_ptr<ServedModel>> models_;
  std::unique_ptr<HttpServer> server_;
  std::thread runner_;
};

TEST_F(HttpServerTest, ServesTheChatPageAndNothingOutsideItsRoot) {
  start();
  std::string r = request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("Content-Type: text/html"), std::string::npos) << r;
  EXPECT_EQ(body_of(r), "<html>chat</html>");
  r = request("GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(r.find("Content-Type: text/javascript"), std::string::npos) << r;
  for (const char* path : {"/../secret.txt", "/%2e%2e/secret.txt", "/missing.html"}) {
    r = request(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_of(r), 404) << path << "\n" << r;
    EXPECT_EQ(r.find("TOP-SECRET-CONTENT"), std::string::npos);
  }
}

TEST_F(HttpServerTest, UnknownRouteIs404AndWrongMethodIs405AsOpenAIErrors) {
  start();
  std::string r = request("GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(r), 404);
  EXPECT_NE(body_of(r).find(R"("error":)"), std::string::npos) << r;
  EXPECT_NE(body_of(r).find("Unknown request URL: GET /v1/nothing"), std::string::npos) << r;
  r = request("GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(r), 405) << r;
  r = request("DELETE /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(r), 405) << r;
  EXPECT_NE(body_of(r).find(R"("error":)"), std::string::npos) << r;
}

TEST_F(HttpServerTest, BodiesOverTheLimitAre413AndBadJsonIs400) {
  start();
  const std::string big(2000, 'x');
  std::string r = request("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                          std::to_string(big.size()) + "\r\n\r\n" + big);
  EXPECT_EQ(status_of(r), 413) << r;
  EXPECT_NE(body_of(r).find("payload_too_large"), std::string::npos) << r;
  // Chunked, so the size is known only as it arrives.
  r = request(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7d0\r\n" +
      big + "\r\n0\r\n\r\n");
  EXPECT_EQ(status_of(r), 413) << r;
  // Blocking endpoints run on the pool: the answer comes back through a resumed connection.
  r = request(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{not json");
  EXPECT_EQ(status_of(r), 400) << r;
  EXPECT_NE(body_of(r).find("invalid_request_error"), std::string::npos) << r;
}

// libmicrohttpd answers these itself (its own short HTML body); a line that is not a
// request at all just closes the connection.
TEST_F(HttpServerTest, MalformedRequestsAre400) {
  start();
  std::string r = request("POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
  EXPECT_EQ(status_of(r), 400) << r;
  r = request("POST /tokenize HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_EQ(status_of(r), 400) << r;
  EXPECT_EQ(request("GARBAGE\r\n\r\n"), "");
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Client c(server_->port());
  for (int i = 0; i < 3; ++i) {
    c.send("POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_EQ(status_of(c.response()), 400);
    c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = c.response();
    EXPECT_EQ(status_of(r), 200) << r;
    EXPECT_EQ(body_of(r), R"({"status":"ok"})");
  }
}

TEST_F(HttpServerTest, CorsPreflightAndDrain) {
  start();
  std::string r =
      request("OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://a.com\r\n\r\n");
  EXPECT_EQ(status_of(r), 204) << r;
  EXPECT_NE(r.find("Access-Control-Allow-Origin: http://a.com"), std::string::npos) << r;
  EXPECT_NE(r.find("Access-Control-Allow-Methods"), std::string::npos) << r;
  server_->drain();
  r = request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(r), 503);
  EXPECT_EQ(body_of(r), R"({"status":"draining"})");
  EXPECT_NE(r.find("Retry-After: 5"), std::string::npos) << r;
}

TEST_F(HttpServerTest, ApiKeysGuardTheApiButNotTheHealthCheck) {
  config_.api_keys = {"k1"};
  start();
  std::string r = request("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(r), 401) << r;
  r = request("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k1\r\n\r\n");
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_EQ(status_of(request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")), 200);
}

TEST_F(HttpServerTest, ClusterStateIsJsonBehindTheApiKeys) {
  config_.api_keys = {"k1"};
  start();
  EXPECT_EQ(status_of(request("GET /v1/cluster HTTP/1.1\r\nHost: x\r\n\r\n")), 401);
  const std::string r =
      request("GET /v1/cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k1\r\n\r\n");
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(body_of(r).find("\"object\":\"cluster\""), std::string::npos) << r;
  EXPECT_EQ(status_of(request("POST /v1/cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                              "k1\r\nContent-Length: 0\r\n\r\n")),
            405);
}

TEST_F(HttpServerTest, AConnectionPastTheLimitGets503AndIsClosed) {
  config_.max_connections = 4;
  start();
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<Client>(server_->port()));
  std::this_thread::sleep_for(200ms);  // accepted, in order
  Client extra(server_->port());
  extra.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = extra.response();
  EXPECT_EQ(status_of(r), 503) << r;
  EXPECT_NE(r.find("Retry-After: 1"), std::string::npos) << r;
  EXPECT_NE(body_of(r).find("server.max_connections"), std::string::npos) << r;
  EXPECT_TRUE(extra.closed_within(2s));
  idle.clear();  // places come free
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(status_of(request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")), 200);
}

TEST_F(HttpServerTest, IdleAndDrippingConnectionsAreClosedAfterTheIdleTimeout) {
  config_.idle_timeout_s = 1;
  start();
  Client idle(server_->port());
  Client drip(server_->port());
  const auto t0 = std::chrono::steady_clock::now();
  const std::string head = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  bool drip_closed = false;
  for (size_t i = 0; i < 40 && !drip_closed; ++i) {  // a byte every 100 ms: never silent
    drip.send(std::string(1, i < head.size() ? head[i] : 'a'));
    drip_closed = drip.closed_within(100ms);
  }
  EXPECT_TRUE(drip_closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(idle.closed_within(2s));
  // A connection that answers in time is served.
  EXPECT_EQ(status_of(request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")), 200);
}

}  // namespace
}  // namespace shardserve
