#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "api/request_id.h"

namespace shardserve::api {
namespace {

bool alnum(const std::string& s) {
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

TEST(RequestId, PrefixAndTwentyFourAlphanumerics) {
  const std::string chat = new_chat_completion_id();
  ASSERT_EQ(chat.size(), 9u + 24u);
  EXPECT_EQ(chat.substr(0, 9), "chatcmpl-");
  EXPECT_TRUE(alnum(chat.substr(9))) << chat;
  const std::string cmpl = new_completion_id();
  ASSERT_EQ(cmpl.size(), 5u + 24u);
  EXPECT_EQ(cmpl.substr(0, 5), "cmpl-");
  EXPECT_TRUE(alnum(cmpl.substr(5))) << cmpl;
}

TEST(RequestId, ToolCallIds) {
  const std::string id = new_tool_call_id();
  ASSERT_EQ(id.size(), 5u + 24u);
  EXPECT_EQ(id.substr(0, 5), "call_");
  EXPECT_TRUE(alnum(id.substr(5))) << id;
  EXPECT_NE(new_tool_call_id(), new_tool_call_id());
}

TEST(RequestId, UniqueAcrossThreads) {
  constexpr int kThreads = 4, kPerThread = 2000;
  std::mutex mu;
  std::set<std::string> ids;  // guarded by mu
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < kPerThread; ++i) mine.push_back(make_request_id("x-"));
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace shardserve::api
