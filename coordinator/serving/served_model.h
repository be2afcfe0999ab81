// What the coordinator knows of a model it serves: its name, tokenizer and chat template
// (read from the model file's metadata; the weights stay with the worker groups), context
// length and end-of-generation tokens. An embedding model (task embed, a sentence-transformers
// directory) has its WordPiece tokenizer and embedding size instead; its context_length is
// the longest input it embeds. Immutable after load; shared by all request threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/cluster_config.h"
#include "coordinator/serving/reasoning.h"
#include "coordinator/serving/tool_calls.h"
#include "model/chat_template/chat_template.h"
#include "model/gguf/gguf.h"
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/wordpiece.h"

namespace shardserve {

struct ServedModel {
  std::string name;
  ModelTask task = ModelTask::kChat;
  int64_t context_length = 0;
  int64_t created = 0;  // Unix seconds of the model file (for /v1/models)
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;  // none: chat requests are refused
  std::vector<TokenId> end_of_generation;     // ids that end a sequence (unless ignore_eos)
  // Read from the chat template: how its model writes tool calls, and its thinking tags.
  ToolFormat tool_format = ToolFormat::kGeneric;
  std::optional<ReasoningTags> reasoning;
  // The format's call openers that are control tokens of the vocabulary
  // (tool_format_control_tokens): tool grammars name them and answers show them as text.
  std::vector<TokenId> tool_control_tokens;

  // Embedding models only.
  std::unique_ptr<WordPieceTokenizer> wordpiece;
  int64_t embedding_dim = 0;
};

// Loads every model of the config. Error names the model and what is wrong.
Result<std::vector<std::unique_ptr<ServedModel>>> load_served_models(const ClusterConfig& config);

// The model named `name`, or nullptr.
const ServedModel* find_model(const std::vector<std::unique_ptr<ServedModel>>& models,
                              std::string_view name);

}  // namespace shardserve
