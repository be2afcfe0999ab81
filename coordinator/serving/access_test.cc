#include "coordinator/serving/access.h"

#include <gtest/gtest.h>

namespace shardserve {
namespace {

ServerConfig with_keys() {
  ServerConfig config;
  config.api_keys = {"k1", "k2"};
  return config;
}

TEST(Cors, EchoesAnAllowedOriginOnly) {
  ServerConfig config;
  config.cors_allow_origins = {"https://a.example"};
  EXPECT_EQ(cors_headers(config, "https://a.example"),
            (Headers{{"Access-Control-Allow-Origin", "https://a.example"}, {"Vary", "Origin"}}));
  EXPECT_TRUE(cors_headers(config, "https://b.example").empty());
  EXPECT_TRUE(cors_headers(config, "").empty());
  config.cors_allow_origins = {"*"};
  EXPECT_EQ(cors_headers(config, "https://b.example").size(), 2u);
}

TEST(ApiKeys, GuardOnlyTheV1PathsWhenConfigured) {
  EXPECT_FALSE(check_api_key(ServerConfig{}, "/v1/models", ""));
  EXPECT_FALSE(check_api_key(with_keys(), "/health", ""));
  EXPECT_FALSE(check_api_key(with_keys(), "/metrics", "Bearer wrong"));
  EXPECT_FALSE(check_api_key(with_keys(), "/v1/models", "Bearer k2"));
  EXPECT_TRUE(check_api_key(with_keys(), "/tokenize", ""));
  EXPECT_TRUE(check_api_key(with_keys(), "/detokenize", "Bearer k3"));
}

TEST(ApiKeys, AMissingOrWrongKeyIsA401ThatSaysWhich) {
  auto missing = check_api_key(with_keys(), "/v1/models", "");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_NE(missing->message.find("didn't provide an API key"), std::string::npos);
  for (const char* auth : {"Bearer k3", "k1", "Basic k1", "Bearer k1 "}) {
    auto wrong = check_api_key(with_keys(), "/v1/chat/completions", auth);
    ASSERT_TRUE(wrong) << auth;
    EXPECT_EQ(wrong->status, 401);
    EXPECT_EQ(wrong->message, "Incorrect API key provided.");
  }
}

}  // namespace
}  // namespace shardserve
