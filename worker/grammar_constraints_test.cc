// GrammarConstraints on SmolLM2's real vocabulary (when scripts/fetch-models has fetched it):
// grammars compiled once each, control tokens allowed only where a grammar names them, and a
// grammar naming a token the vocabulary lacks refused with the token's name.
#include "worker/grammar_constraints.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "model/gguf/gguf.h"

namespace shardserve {
namespace {

constexpr const char* kSmolLM2 = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

class GrammarConstraintsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = gguf::File::open(kSmolLM2);
    if (!file.ok()) GTEST_SKIP() << kSmolLM2 << " missing: run scripts/fetch-models";
    auto tokenizer = Tokenizer::from_gguf(**file);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().message;
    tokenizer_ = std::move(tokenizer).value();
  }

  TokenId id(const std::string& text) const {
    auto t = tokenizer_->find(text);
    EXPECT_TRUE(t.has_value()) << text;
    return t.value_or(-1);
  }

  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(GrammarConstraintsTest, ControlTokensOnlyWhereTheGrammarNamesThem) {
  GrammarConstraints constraints(*tokenizer_);
  const TokenId im_start = id("<|im_start|>");
  ASSERT_TRUE(tokenizer_->is_special(im_start));

  auto named = constraints.start(R"(root ::= @"<|im_start|>" "x")");
  ASSERT_TRUE(named.ok()) << named.error().message;
  SequenceGrammar& g = **named;
  EXPECT_TRUE(g.allows(im_start));
  EXPECT_FALSE(g.allows(id("<")));
  EXPECT_TRUE(g.accept(im_start));
  EXPECT_FALSE(g.allows(im_start));
  EXPECT_TRUE(g.allows(id("x")));

  auto text = constraints.start(R"(root ::= "<|im_start|>x")");
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_FALSE((*text)->allows(im_start));  // its text, spelled out, is not the token
  EXPECT_TRUE((*text)->allows(id("<")));
}

TEST_F(GrammarConstraintsTest, ATokenTheVocabularyLacksIsAnError) {
  GrammarConstraints constraints(*tokenizer_);
  auto g = constraints.start(R"(root ::= @"[TOOL_CALLS]")");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kInvalidInput);
  EXPECT_NE(g.error().message.find("\"[TOOL_CALLS]\""), std::string::npos) << g.error().message;
  // A text token is not a control token either.
  EXPECT_FALSE(constraints.start(R"(root ::= @"x")").ok());
}

TEST_F(GrammarConstraintsTest, EachGrammarIsCompiledOnce) {
  GrammarConstraints constraints(*tokenizer_);
  const std::string gbnf = R"(root ::= "yes" | "no")";
  ASSERT_TRUE(constraints.start(gbnf).ok());
  ASSERT_TRUE(constraints.start(gbnf).ok());
  EXPECT_EQ(constraints.compiled(), 1);
  EXPECT_EQ(constraints.cached(), 1u);
  EXPECT_FALSE(constraints.start("root ::= (").ok());
}

}  // namespace
}  // namespace shardserve
