#include "coordinator/serving/connection_table.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace shardserve {
namespace {

using namespace std::chrono_literals;

// A connected socket pair: the table shuts down `server`; `client` sees the end.
struct Pair {
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~Pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int server() const { return fds[0]; }
  bool client_sees_end() const {  // non-blocking: 0 bytes read = the other side shut down
    char c;
    return ::recv(fds[1], &c, 1, MSG_DONTWAIT) == 0;
  }
  int fds[2] = {-1, -1};
};

class ConnectionTableTest : public ::testing::Test {
 protected:
  metrics::Registry registry;
  metrics::Gauge& open = registry.gauge("open", "open connections").get();
  const ConnectionTable::Clock::time_point t0 = ConnectionTable::Clock::now();
  int keys[8] = {};
};

TEST_F(ConnectionTableTest, CountsConnectionsAndMarksThosePastTheLimit) {
  ConnectionTable table(2, 30s, open);
  Pair a, b, c;
  EXPECT_FALSE(table.opened(&keys[0], a.server(), t0));
  EXPECT_FALSE(table.opened(&keys[1], b.server(), t0));
  EXPECT_TRUE(table.opened(&keys[2], c.server(), t0));
  EXPECT_TRUE(table.over_limit(&keys[2]));
  EXPECT_EQ(table.open(), 3);
  EXPECT_EQ(open.value(), 3);
  table.closed(&keys[0]);
  table.closed(&keys[2]);
  EXPECT_EQ(table.open(), 1);
  EXPECT_EQ(open.value(), 1);
  Pair d;
  EXPECT_FALSE(table.opened(&keys[3], d.server(), t0));  // a place came free
}

TEST_F(ConnectionTableTest, ShutsDownAConnectionThatOwesItsHeaderPastTheDeadline) {
  ConnectionTable table(10, 2s, open);
  Pair idle, busy;
  table.opened(&keys[0], idle.server(), t0);
  table.opened(&keys[1], busy.server(), t0);
  table.request_started(&keys[1]);  // a header came: no deadline while it is served
  EXPECT_EQ(table.reap(t0 + 1s), 0);
  EXPECT_FALSE(idle.client_sees_end());
  EXPECT_EQ(table.reap(t0 + 3s), 1);
  EXPECT_TRUE(idle.client_sees_end());
  EXPECT_FALSE(busy.client_sees_end());
  EXPECT_EQ(table.reap(t0 + 4s), 0);  // once each
  // After its response, the busy one owes the next header, from then.
  table.request_ended(&keys[1], t0 + 10s);
  EXPECT_EQ(table.reap(t0 + 11s), 0);
  EXPECT_EQ(table.reap(t0 + 13s), 1);
  EXPECT_TRUE(busy.client_sees_end());
}

TEST_F(ConnectionTableTest, AConnectionPastTheLimitHasAShortDeadline) {
  ConnectionTable table(1, 60s, open);
  Pair a, b;
  table.opened(&keys[0], a.server(), t0);
  table.opened(&keys[1], b.server(), t0);
  EXPECT_EQ(table.reap(t0 + ConnectionTable::kOverLimitTimeout + 1s), 1);
  EXPECT_TRUE(b.client_sees_end());
  EXPECT_FALSE(a.client_sees_end());
}

TEST_F(ConnectionTableTest, AClosedConnectionIsNeverTouched) {
  ConnectionTable table(10, 1s, open);
  Pair a;
  table.opened(&keys[0], a.server(), t0);
  table.closed(&keys[0]);
  EXPECT_EQ(table.reap(t0 + 5s), 0);
  EXPECT_FALSE(a.client_sees_end());
}

TEST_F(ConnectionTableTest, TheReaperThreadShutsDownLateConnections) {
  ConnectionTable table(10, 100ms, open);
  Pair a;
  table.opened(&keys[0], a.server());
  table.start_reaper();
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!a.client_sees_end() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(a.client_sees_end());
  table.stop_reaper();
  table.stop_reaper();
}

}  // namespace
}  // namespace shardserve
