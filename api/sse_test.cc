#include <string>

#include <gtest/gtest.h>

#include "api/openai_response.h"
#include "api/sse.h"

namespace shardserve::api {
namespace {

TEST(Sse, DataFrameIsOneLine) {
  ordered_json chunk;
  chunk["text"] = "line one\nline two\r\n";
  chunk["n"] = 1;
  const std::string frame = sse_data(chunk);
  EXPECT_EQ(frame, "data: {\"text\":\"line one\\nline two\\r\\n\",\"n\":1}\n\n");
  // Exactly one line break pair, at the end.
  EXPECT_EQ(frame.find('\n'), frame.size() - 2);
}

TEST(Sse, DoneAndComment) {
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  EXPECT_EQ(sse_comment("keep-alive"), ": keep-alive\n\n");
  EXPECT_EQ(sse_comment("a\nb\rc"), ": a b c\n\n");
  EXPECT_EQ(sse_comment(""), ": \n\n");
}

TEST(Sse, ErrorEvent) {
  const ApiError e = ApiError::server_error("The worker group serving this request failed.");
  EXPECT_EQ(sse_error(e),
            "data: {\"error\":{\"message\":\"The worker group serving this request failed.\","
            "\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
}

TEST(Sse, InvalidUtf8IsReplacedNotThrown) {
  const ResponseMeta meta{.id = "chatcmpl-1", .created = 0, .model = "m"};
  std::string frame;
  EXPECT_NO_THROW(frame = sse_data(chat_chunk_content(meta, 0, "\xe6\x97")));
  EXPECT_NE(frame.find("\xef\xbf\xbd"), std::string::npos);
}

}  // namespace
}  // namespace shardserve::api
