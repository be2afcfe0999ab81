#include "api/embedding_request.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace shardserve::api {
namespace {

std::string embedding(const std::string& extra = "", const std::string& input = "\"hello\"") {
  std::string body = R"({"model": "minilm", "input": )" + input + "}";
  if (!extra.empty()) body.insert(body.size() - 1, ", " + extra);
  return body;
}

EmbeddingRequest parse_ok(const std::string& body) {
  auto r = parse_embedding_request(body);
  EXPECT_TRUE(r.ok()) << body << "\n -> " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : EmbeddingRequest{};
}

ApiError parse_error(const std::string& body) {
  auto r = parse_embedding_request(body);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{} : r.error();
}

const std::string& text(const EmbeddingInput& input) {
  return std::get<std::string>(input);
}
const std::vector<int32_t>& ids(const EmbeddingInput& input) {
  return std::get<std::vector<int32_t>>(input);
}

// A JSON array of n copies of `element`.
std::string array_of(int n, const std::string& element) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) out += (i ? "," : "") + element;
  return out + "]";
}

TEST(EmbeddingRequest, MinimalRequestHasDefaults) {
  const auto req = parse_ok(embedding());
  EXPECT_EQ(req.model, "minilm");
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(text(req.inputs[0]), "hello");
  EXPECT_FALSE(req.base64);
  EXPECT_FALSE(req.dimensions.has_value());
  EXPECT_EQ(req.user, "");
  EXPECT_FALSE(req.truncate);
}

TEST(EmbeddingRequest, InputForms) {
  // A string: one input.
  auto req = parse_ok(embedding("", R"("one sentence")"));
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(text(req.inputs[0]), "one sentence");

  // An array of strings: one input each, in order.
  req = parse_ok(embedding("", R"(["a", "b c", " "])"));
  ASSERT_EQ(req.inputs.size(), 3u);
  EXPECT_EQ(text(req.inputs[0]), "a");
  EXPECT_EQ(text(req.inputs[1]), "b c");
  EXPECT_EQ(text(req.inputs[2]), " ");

  // An array of token ids: one input.
  req = parse_ok(embedding("", "[101, 7592, 0, 2147483647, 102.0]"));
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(ids(req.inputs[0]), (std::vector<int32_t>{101, 7592, 0, 2147483647, 102}));

  // An array of token-id arrays: one input each, in order.
  req = parse_ok(embedding("", "[[101, 102], [7], [1, 2, 3]]"));
  ASSERT_EQ(req.inputs.size(), 3u);
  EXPECT_EQ(ids(req.inputs[0]), (std::vector<int32_t>{101, 102}));
  EXPECT_EQ(ids(req.inputs[1]), (std::vector<int32_t>{7}));
  EXPECT_EQ(ids(req.inputs[2]), (std::vector<int32_t>{1, 2, 3}));
}

TEST(EmbeddingRequest, MissingInput) {
  for (const std::string body : {R"({"model": "m"})", R"({"model": "m", "input": null})"}) {
    const ApiError e = parse_error(body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, "input");
    EXPECT_EQ(e.code, "missing_required_parameter");
    EXPECT_EQ(e.message, "Missing required parameter: 'input'.");
  }
}

TEST(EmbeddingRequest, EmptyInputs) {
  ApiError e = parse_error(embedding("", "[]"));
  EXPECT_EQ(e.param, "input");
  EXPECT_EQ(e.code, "empty_array");
  EXPECT_EQ(e.message,
            "Invalid 'input': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.");

  e = parse_error(embedding("", R"("")"));
  EXPECT_EQ(e.param, "input");
  EXPECT_EQ(e.code, "empty_string");
  EXPECT_EQ(e.message, "'input' is an empty string; every input must have at least one character.");

  e = parse_error(embedding("", R"(["a", "b", ""])"));
  EXPECT_EQ(e.param, "input[2]");
  EXPECT_EQ(e.code, "empty_string");
  EXPECT_EQ(e.message,
            "'input[2]' is an empty string; every input must have at least one character.");

  e = parse_error(embedding("", "[[1], [], [2]]"));
  EXPECT_EQ(e.param, "input[1]");
  EXPECT_EQ(e.code, "empty_array");
  EXPECT_EQ(e.message,
            "Invalid 'input[1]': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.");
}

TEST(EmbeddingRequest, MixedElementTypes) {
  struct Case {
    const char* input;
    const char* param;
    const char* message;
  };
  const char* kRule =
      " instead. The elements of 'input' must all be strings, all token ids or all arrays of "
      "token ids.";
  for (const Case& c : std::vector<Case>{
           {R"(["a", 1])", "input[1]",
            "Invalid type for 'input[1]': expected a string like 'input[0]', but got an integer"},
           {R"(["a", ["b"]])", "input[1]",
            "Invalid type for 'input[1]': expected a string like 'input[0]', but got an array"},
           {R"(["a", "b", null])", "input[2]",
            "Invalid type for 'input[2]': expected a string like 'input[0]', but got null"},
           {R"([1, 2, "a"])", "input[2]",
            "Invalid type for 'input[2]': expected an integer token id like 'input[0]', but got "
            "a string"},
           {R"([1, [2]])", "input[1]",
            "Invalid type for 'input[1]': expected an integer token id like 'input[0]', but got "
            "an array"},
           {R"([1, true])", "input[1]",
            "Invalid type for 'input[1]': expected an integer token id like 'input[0]', but got "
            "a boolean"},
           {R"([[1], 2])", "input[1]",
            "Invalid type for 'input[1]': expected an array of token ids like 'input[0]', but "
            "got an integer"},
           {R"([[1], "a"])", "input[1]",
            "Invalid type for 'input[1]': expected an array of token ids like 'input[0]', but "
            "got a string"},
       }) {
    SCOPED_TRACE(c.input);
    const ApiError e = parse_error(embedding("", c.input));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.code, "invalid_type");
    EXPECT_EQ(e.message, std::string(c.message) + kRule);
  }
}

TEST(EmbeddingRequest, BadInputTypes) {
  struct Case {
    const char* input;
    const char* param;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"5", "input",
            "Invalid type for 'input': expected a string, an array of strings, an array of token "
            "ids or an array of token-id arrays, but got an integer instead."},
           {"{}", "input",
            "Invalid type for 'input': expected a string, an array of strings, an array of token "
            "ids or an array of token-id arrays, but got an object instead."},
           {"true", "input",
            "Invalid type for 'input': expected a string, an array of strings, an array of token "
            "ids or an array of token-id arrays, but got a boolean instead."},
           {"[null]", "input[0]",
            "Invalid type for 'input[0]': expected a string, an integer token id or an array of "
            "token ids, but got null instead."},
           {"[{}]", "input[0]",
            "Invalid type for 'input[0]': expected a string, an integer token id or an array of "
            "token ids, but got an object instead."},
           {"[[1], [2, \"a\"]]", "input[1][1]",
            "Invalid type for 'input[1][1]': expected an integer token id, but got a string "
            "instead."},
           {"[[null]]", "input[0][0]",
            "Invalid type for 'input[0][0]': expected an integer token id, but got null "
            "instead."},
       }) {
    SCOPED_TRACE(c.input);
    const ApiError e = parse_error(embedding("", c.input));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.code, "invalid_type");
    EXPECT_EQ(e.message, c.message);
  }
}

TEST(EmbeddingRequest, BadTokenIds) {
  struct Case {
    const char* input;
    const char* param;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"[5, -1]", "input[1]",
            "Invalid 'input[1]': integer below minimum value. Expected a value >= 0, but got -1 "
            "instead."},
           {"[[1, 2], [3, -7]]", "input[1][1]",
            "Invalid 'input[1][1]': integer below minimum value. Expected a value >= 0, but got "
            "-7 instead."},
           {"[2147483648]", "input[0]",
            "Invalid 'input[0]': integer above maximum value. Expected a value <= 2147483647, but "
            "got 2147483648 instead."},
           {"[[18446744073709551615]]", "input[0][0]",
            "Invalid 'input[0][0]': integer above maximum value. Expected a value <= "
            "2147483647, but got 18446744073709551615 instead."},
           {"[1.5]", "input[0]",
            "Invalid type for 'input[0]': expected an integer, but got a decimal number "
            "instead."},
           {"[[3], [4.25]]", "input[1][0]",
            "Invalid type for 'input[1][0]': expected an integer, but got a decimal number "
            "instead."},
       }) {
    SCOPED_TRACE(c.input);
    const ApiError e = parse_error(embedding("", c.input));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_EQ(e.message, c.message);
  }
}

TEST(EmbeddingRequest, AtMost2048Inputs) {
  EXPECT_EQ(parse_ok(embedding("", array_of(kMaxEmbeddingInputs, "\"x\""))).inputs.size(), 2048u);
  EXPECT_EQ(parse_ok(embedding("", array_of(kMaxEmbeddingInputs, "[1]"))).inputs.size(), 2048u);
  for (const std::string element : {"\"x\"", "[1, 2]"}) {
    SCOPED_TRACE(element);
    const ApiError e = parse_error(embedding("", array_of(kMaxEmbeddingInputs + 1, element)));
    EXPECT_EQ(e.param, "input");
    EXPECT_EQ(e.code, "array_above_max_length");
    EXPECT_EQ(e.message,
              "Invalid 'input': array too long. Expected an array with maximum length 2048, but "
              "got an array with length 2049 instead.");
  }
  // A flat array of token ids is one input; its length is the model's business.
  const auto req = parse_ok(embedding("", array_of(5000, "7")));
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(ids(req.inputs[0]).size(), 5000u);
}

TEST(EmbeddingRequest, Model) {
  EXPECT_EQ(parse_ok(R"({"input": "x", "model": "bge-small"})").model, "bge-small");
  for (const std::string body : {R"({"input": "x"})", R"({"input": "x", "model": null})"}) {
    const ApiError e = parse_error(body);
    EXPECT_EQ(e.param, "model");
    EXPECT_EQ(e.message, "Missing required parameter: 'model'.");
  }
  const ApiError e = parse_error(R"({"input": "x", "model": 3})");
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.message, "Invalid type for 'model': expected a string, but got an integer instead.");
}

TEST(EmbeddingRequest, EncodingFormat) {
  EXPECT_FALSE(parse_ok(embedding(R"("encoding_format": "float")")).base64);
  EXPECT_TRUE(parse_ok(embedding(R"("encoding_format": "base64")")).base64);
  EXPECT_FALSE(parse_ok(embedding(R"("encoding_format": null)")).base64);

  ApiError e = parse_error(embedding(R"("encoding_format": "binary")"));
  EXPECT_EQ(e.param, "encoding_format");
  EXPECT_EQ(e.code, "invalid_value");
  EXPECT_EQ(e.message, "Invalid value: 'binary'. Supported values are: 'float' and 'base64'.");
  e = parse_error(embedding(R"("encoding_format": "Float")"));
  EXPECT_EQ(e.param, "encoding_format");
  e = parse_error(embedding(R"("encoding_format": 1)"));
  EXPECT_EQ(e.param, "encoding_format");
  EXPECT_EQ(e.message,
            "Invalid type for 'encoding_format': expected a string, but got an integer instead.");
}

TEST(EmbeddingRequest, Dimensions) {
  EXPECT_EQ(parse_ok(embedding(R"("dimensions": 256)")).dimensions, 256);
  EXPECT_EQ(parse_ok(embedding(R"("dimensions": 1)")).dimensions, 1);
  EXPECT_FALSE(parse_ok(embedding(R"("dimensions": null)")).dimensions.has_value());

  ApiError e = parse_error(embedding(R"("dimensions": 0)"));
  EXPECT_EQ(e.param, "dimensions");
  EXPECT_EQ(e.code, "integer_below_min_value");
  EXPECT_EQ(e.message,
            "Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got 0 "
            "instead.");
  e = parse_error(embedding(R"("dimensions": -5)"));
  EXPECT_EQ(e.param, "dimensions");
  e = parse_error(embedding(R"("dimensions": 12.5)"));
  EXPECT_EQ(e.message,
            "Invalid type for 'dimensions': expected an integer, but got a decimal number "
            "instead.");
  e = parse_error(embedding(R"("dimensions": "384")"));
  EXPECT_EQ(e.message,
            "Invalid type for 'dimensions': expected an integer, but got a string instead.");
}

TEST(EmbeddingRequest, User) {
  EXPECT_EQ(parse_ok(embedding(R"("user": "user-1234")")).user, "user-1234");
  EXPECT_EQ(parse_ok(embedding(R"("user": null)")).user, "");
  const ApiError e = parse_error(embedding(R"("user": 1234)"));
  EXPECT_EQ(e.param, "user");
  EXPECT_EQ(e.message, "Invalid type for 'user': expected a string, but got an integer instead.");
}

TEST(EmbeddingRequest, TruncateExtension) {
  EXPECT_TRUE(parse_ok(embedding(R"("truncate": true)")).truncate);
  EXPECT_FALSE(parse_ok(embedding(R"("truncate": false)")).truncate);
  EXPECT_FALSE(parse_ok(embedding(R"("truncate": null)")).truncate);
  const ApiError e = parse_error(embedding(R"("truncate": "yes")"));
  EXPECT_EQ(e.param, "truncate");
  EXPECT_EQ(e.message,
            "Invalid type for 'truncate': expected a boolean, but got a string instead.");
}

TEST(EmbeddingRequest, EveryFieldTogether) {
  const auto req = parse_ok(
      R"({"model": "minilm", "input": [[1, 2], [3]], "encoding_format": "base64",
          "dimensions": 384, "user": "u", "truncate": true})");
  EXPECT_EQ(req.model, "minilm");
  ASSERT_EQ(req.inputs.size(), 2u);
  EXPECT_EQ(ids(req.inputs[1]), (std::vector<int32_t>{3}));
  EXPECT_TRUE(req.base64);
  EXPECT_EQ(req.dimensions, 384);
  EXPECT_EQ(req.user, "u");
  EXPECT_TRUE(req.truncate);
}

TEST(EmbeddingRequest, UnknownKeys) {
  // Parameters of other endpoints are unknown here, as in OpenAI's API.
  for (const std::string key : {"foo", "temperature", "stream", "messages", "prompt"}) {
    SCOPED_TRACE(key);
    const ApiError e = parse_error(embedding("\"" + key + "\": 1"));
    EXPECT_EQ(e.param, key);
    EXPECT_EQ(e.code, "unknown_parameter");
    EXPECT_EQ(e.message, "Unrecognized request argument supplied: " + key);
  }
  // Even when null.
  EXPECT_EQ(parse_error(embedding(R"("foo": null)")).param, "foo");
}

TEST(EmbeddingRequest, NullMeansUnset) {
  const auto req = parse_ok(
      R"({"model": "m", "input": "x", "encoding_format": null, "dimensions": null, "user": null,
          "truncate": null})");
  EXPECT_FALSE(req.base64);
  EXPECT_FALSE(req.dimensions.has_value());
  EXPECT_EQ(req.user, "");
  EXPECT_FALSE(req.truncate);
}

TEST(EmbeddingRequest, MalformedBodies) {
  ApiError e = parse_error("{");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "invalid_json");
  e = parse_error("");
  EXPECT_EQ(e.code, "invalid_json");
  e = parse_error(R"(["model", "input"])");
  EXPECT_EQ(e.message, "The request body must be a JSON object, but got an array instead.");
  e = parse_error(embedding("", std::string(100, '[') + std::string(100, ']')));
  EXPECT_EQ(e.code, "invalid_json");
}

}  // namespace
}  // namespace shardserve::api
