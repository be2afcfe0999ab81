#include "coordinator/request_events.h"

#include <gtest/gtest.h>

#include <thread>

namespace shardserve {
namespace {

using namespace std::chrono_literals;

RequestEvent token(int64_t id, TokenId t, FinishReason finish = FinishReason::None) {
  RequestEvent e;
  e.token.id = id;
  e.token.token = t;
  e.token.finish = finish;
  return e;
}

TEST(RequestEvents, BoundedButTheEndAlwaysFits) {
  RequestEvents events(7, 1, 2);
  EXPECT_EQ(events.request_id(), 7);
  EXPECT_EQ(events.group_id(), 1u);
  EXPECT_TRUE(events.push(token(7, 10)));
  EXPECT_TRUE(events.push(token(7, 11)));
  EXPECT_FALSE(events.push(token(7, 12)));  // full: nothing appended, nothing blocks
  EXPECT_FALSE(events.ended());
  EXPECT_TRUE(events.end({RequestEvent::Kind::Failed, {}, "too slow"}));
  EXPECT_TRUE(events.ended());
  EXPECT_FALSE(events.end({RequestEvent::Kind::Failed, {}, "again"}));  // only one end
  EXPECT_FALSE(events.push(token(7, 13)));                              // nothing after it

  EXPECT_EQ(events.pop(0ms)->token.token, 10);
  EXPECT_EQ(events.pop(0ms)->token.token, 11);
  EXPECT_FALSE(events.finished());
  auto last = events.pop(0ms);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->kind, RequestEvent::Kind::Failed);
  EXPECT_EQ(last->error, "too slow");
  EXPECT_TRUE(events.finished());
  EXPECT_FALSE(events.pop(0ms).has_value());
  EXPECT_TRUE(events.pop_all(0ms).empty());
}

TEST(RequestEvents, PopTimesOutWhenEmpty) {
  RequestEvents events(1, 1, 4);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(events.pop(30ms).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 25ms);
}

TEST(RequestEvents, PopAllTakesEverythingAndSeesTheEnd) {
  RequestEvents events(1, 1, 8);
  EXPECT_TRUE(events.push(token(1, 1)));
  EXPECT_TRUE(events.push(token(1, 2)));
  EXPECT_TRUE(events.end(token(1, 3, FinishReason::Length)));
  auto all = events.pop_all(0ms);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all.back().terminal());
  EXPECT_TRUE(events.finished());
}

TEST(RequestEvents, ConsumerOnAnotherThreadSeesEveryEventInOrder) {
  RequestEvents events(1, 1, 16);
  constexpr int kTokens = 10000;
  std::thread producer([&] {
    for (int i = 0; i < kTokens; ++i)
      while (!events.push(token(1, i))) std::this_thread::yield();  // a test may spin; I/O won't
    events.end(token(1, -1, FinishReason::Stop));
  });
  std::vector<TokenId> seen;
  while (!events.finished()) {
    for (RequestEvent& e : events.pop_all(1000ms))
      if (e.token.token >= 0) seen.push_back(e.token.token);
  }
  producer.join();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kTokens));
  for (int i = 0; i < kTokens; ++i) ASSERT_EQ(seen[i], i);
}

}  // namespace
}  // namespace shardserve
