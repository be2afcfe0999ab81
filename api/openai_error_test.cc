#include <string>

#include <gtest/gtest.h>

#include "api/openai_error.h"

namespace shardserve::api {
namespace {

TEST(ApiError, BodyHasOpenAIShapeWithNulls) {
  const ApiError e = ApiError::bad_request("Bad thing.");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(
      e.to_body(),
      R"({"error":{"message":"Bad thing.","type":"invalid_request_error","param":null,"code":null}})");
  const ApiError p = ApiError::bad_request("Bad n.", "n", "invalid_value");
  EXPECT_EQ(
      p.to_body(),
      R"({"error":{"message":"Bad n.","type":"invalid_request_error","param":"n","code":"invalid_value"}})");
}

TEST(ApiError, NamedConstructorsSetStatusAndType) {
  struct Case {
    ApiError error;
    int status;
    const char* type;
  };
  for (const Case& c : {
           Case{ApiError::bad_request("x"), 400, "invalid_request_error"},
           Case{ApiError::unauthorized(), 401, "authentication_error"},
           Case{ApiError::not_found("x"), 404, "not_found_error"},
           Case{ApiError::model_not_found("gpt-x"), 404, "invalid_request_error"},
           Case{ApiError::method_not_allowed("GET", "/v1/completions"), 405,
                "invalid_request_error"},
           Case{ApiError::payload_too_large(1024), 413, "invalid_request_error"},
           Case{ApiError::rate_limited(), 429, "rate_limit_error"},
           Case{ApiError::server_error(), 500, "server_error"},
           Case{ApiError::unavailable(), 503, "server_error"},
       }) {
    SCOPED_TRACE(c.error.message);
    EXPECT_EQ(c.error.status, c.status);
    EXPECT_EQ(c.error.type, c.type);
    EXPECT_FALSE(c.error.message.empty());
    const auto j = c.error.to_json();
    ASSERT_TRUE(j.contains("error"));
    EXPECT_EQ(j["error"].size(), 4u);
  }
}

TEST(ApiError, ModelNotFoundMatchesOpenAI) {
  const ApiError e = ApiError::model_not_found("gpt-x");
  EXPECT_EQ(e.message, "The model `gpt-x` does not exist or you do not have access to it.");
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.code, "model_not_found");
}

TEST(ApiError, CustomMessagesAreKept) {
  EXPECT_EQ(ApiError::rate_limited("Queue full (64).").message, "Queue full (64).");
  EXPECT_EQ(ApiError::unauthorized("No key.").code, "invalid_api_key");
  EXPECT_NE(ApiError::payload_too_large(2048).message.find("2048"), std::string::npos);
  EXPECT_NE(ApiError::method_not_allowed("PUT", "/v1/models").message.find("PUT"),
            std::string::npos);
}

TEST(ApiError, InvalidUtf8InMessageDoesNotThrow) {
  const ApiError e = ApiError::bad_request("bad \xff byte");
  std::string body;
  EXPECT_NO_THROW(body = e.to_body());
  EXPECT_NE(body.find("\xef\xbf\xbd"), std::string::npos);
}

TEST(ApiResult, HoldsValueOrError) {
  ApiResult<int> ok = 5;
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_EQ(*ok, 5);
  ApiResult<int> bad = ApiError::server_error("boom");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().status, 500);
  EXPECT_EQ(bad.error().message, "boom");
  ApiResult<std::string> s = std::string("abc");
  EXPECT_EQ(s->size(), 3u);
  EXPECT_EQ(std::move(s).value(), "abc");
}

}  // namespace
}  // namespace shardserve::api
