#include "coordinator/serving/stream_buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace shardserve {
namespace {

class StreamBufferTest : public ::testing::Test {
 protected:
  std::unique_ptr<StreamBuffer> make(size_t capacity = 1024) {
    return std::make_unique<StreamBuffer>(
        capacity, [this] { ++suspends; }, [this] { ++resumes; });
  }
  std::string read_all(StreamBuffer& b) {
    char buf[64];
    std::string out;
    for (ssize_t n; (n = b.read(buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  std::atomic<int> suspends{0};
  std::atomic<int> resumes{0};
};

TEST_F(StreamBufferTest, EmptyReadSuspendsAndTheNextWriteResumesOnce) {
  auto b = make();
  char buf[16];
  EXPECT_EQ(b->read(buf, sizeof buf), 0);
  EXPECT_EQ(suspends, 1);
  EXPECT_TRUE(b->write("data: 1\n\n"));
  EXPECT_TRUE(b->write("data: 2\n\n"));
  EXPECT_EQ(resumes, 1);  // once per suspension, not per write
  EXPECT_EQ(read_all(*b), "data: 1\n\ndata: 2\n\n");
  EXPECT_EQ(suspends, 2);  // the read that found it empty again
}

TEST_F(StreamBufferTest, ReadsInPiecesNoLargerThanAsked) {
  auto b = make();
  ASSERT_TRUE(b->write(std::string(100, 'x')));
  char buf[30];
  EXPECT_EQ(b->read(buf, sizeof buf), 30);
  EXPECT_EQ(read_all(*b).size(), 70u);
}

TEST_F(StreamBufferTest, FinishCompleteSendsTheRestThenEnds) {
  auto b = make();
  char buf[16];
  EXPECT_EQ(b->read(buf, sizeof buf), 0);
  ASSERT_TRUE(b->write("last"));
  b->finish(true);
  EXPECT_FALSE(b->writable());
  EXPECT_FALSE(b->write("more"));
  EXPECT_EQ(read_all(*b), "last");
  EXPECT_EQ(b->read(buf, sizeof buf), StreamBuffer::kEnd);
}

TEST_F(StreamBufferTest, FinishAbandonedDropsTheConnection) {
  auto b = make();
  ASSERT_TRUE(b->write("partial"));
  b->finish(false);
  char buf[16];
  EXPECT_EQ(b->read(buf, sizeof buf), StreamBuffer::kError);
}

TEST_F(StreamBufferTest, FinishResumesASuspendedReader) {
  auto b = make();
  char buf[16];
  EXPECT_EQ(b->read(buf, sizeof buf), 0);
  b->finish(true);
  EXPECT_EQ(resumes, 1);
  EXPECT_EQ(b->read(buf, sizeof buf), StreamBuffer::kEnd);
}

TEST_F(StreamBufferTest, AFullBufferBlocksTheWriterUntilTheClientReads) {
  auto b = make(/*capacity=*/8);
  ASSERT_TRUE(b->write("12345678"));
  std::atomic<bool> written{false};
  std::thread writer([&] { written = b->write("9"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(written);
  char buf[4];
  EXPECT_EQ(b->read(buf, sizeof buf), 4);
  writer.join();
  EXPECT_TRUE(written);
  EXPECT_EQ(read_all(*b), "56789");
}

TEST_F(StreamBufferTest, CloseWakesABlockedWriterAndFailsLaterWrites) {
  auto b = make(/*capacity=*/4);
  ASSERT_TRUE(b->write("1234"));
  std::atomic<int> result{-1};
  std::thread writer([&] { result = b->write("5") ? 1 : 0; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  b->close();
  writer.join();
  EXPECT_EQ(result, 0);
  EXPECT_FALSE(b->writable());
  EXPECT_FALSE(b->write("x"));
  char buf[8];
  EXPECT_EQ(b->read(buf, sizeof buf), StreamBuffer::kError);
}

TEST_F(StreamBufferTest, CloseResumesASuspendedReaderAndNothingAfter) {
  auto b = make();
  char buf[8];
  EXPECT_EQ(b->read(buf, sizeof buf), 0);
  b->close();
  EXPECT_EQ(resumes, 1);
  b->finish(true);  // the writer ends after the connection: no resume of a gone connection
  b->close();
  EXPECT_EQ(resumes, 1);
}

TEST_F(StreamBufferTest, ConcurrentWriterAndReaderLoseNothing) {
  auto b = make(/*capacity=*/64);
  std::string expected;
  for (int i = 0; i < 2000; ++i) expected += "data: " + std::to_string(i) + "\n\n";
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) ASSERT_TRUE(b->write("data: " + std::to_string(i) + "\n\n"));
    b->finish(true);
  });
  std::string got;
  char buf[37];
  for (;;) {
    const ssize_t n = b->read(buf, sizeof buf);
    if (n == StreamBuffer::kEnd) break;
    ASSERT_NE(n, StreamBuffer::kError);
    if (n == 0) {  // suspended: wait for the resume the writer owes
      while (resumes.load() < suspends.load()) std::this_thread::yield();
      continue;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  writer.join();
  EXPECT_EQ(got, expected);
  EXPECT_EQ(resumes.load(), suspends.load());
}

}  // namespace
}  // namespace shardserve
