#include "coordinator/serving/served_model.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/bert/config.h"

namespace shardserve {
namespace {

// An embedding model: `config.path` is a sentence-transformers directory or the
// model.safetensors in one.
Result<std::unique_ptr<ServedModel>> load_encoder(const ModelConfig& config) {
  namespace fs = std::filesystem;
  auto m = std::make_unique<ServedModel>();
  m->name = config.name;
  m->task = config.task;
  const fs::path dir =
      fs::is_directory(config.path) ? fs::path(config.path) : fs::path(config.path).parent_path();
  auto bert = read_bert_config(dir.string());
  if (!bert) return Error{"model " + config.name + ": " + bert.error().message};
  auto tokenizer = WordPieceTokenizer::from_json_file((dir / "tokenizer.json").string());
  if (!tokenizer) return Error{"model " + config.name + ": " + tokenizer.error().message};
  m->wordpiece = std::move(*tokenizer);
  m->embedding_dim = bert->dim;
  m->context_length = config.context_length > 0 ? config.context_length : bert->max_seq_len;
  struct stat st {};
  if (::stat(config.path.c_str(), &st) == 0) m->created = st.st_mtime;
  return m;
}

Result<std::unique_ptr<ServedModel>> load_one(const ModelConfig& config) {
  if (config.task == ModelTask::kEmbed) return load_encoder(config);
  auto m = std::make_unique<ServedModel>();
  m->name = config.name;
  m->task = config.task;
  auto file = gguf::File::open(config.path);
  if (!file) return Error{"model " + config.name + ": " + file.error().message};
  m->file = std::move(*file);
  auto tokenizer = Tokenizer::from_gguf(*m->file);
  if (!tokenizer) return Error{"model " + config.name + ": " + tokenizer.error().message};
  m->tokenizer = std::move(*tokenizer);
  for (TokenId t = 0; t < m->tokenizer->n_vocab(); ++t)
    if (m->tokenizer->is_end_of_generation(t)) m->end_of_generation.push_back(t);

  std::string source;
  if (!config.chat_template_path.empty()) {
    std::ifstream in(config.chat_template_path);
    std::stringstream text;
    text << in.rdbuf();
    source = text.str();
  } else if (auto embedded = m->file->get_string("tokenizer.chat_template")) {
    source = std::string(*embedded);
  }
  if (!source.empty()) {
    auto parsed = ChatTemplate::parse(source);
    if (!parsed) return Error{"model " + config.name + ": " + parsed.error().message};
    m->chat_template = std::move(*parsed);
    m->tool_format = detect_tool_format(source);
    m->reasoning = detect_reasoning_tags(source);
    for (const std::string& text : tool_format_control_tokens(m->tool_format)) {
      const std::optional<TokenId> id = m->tokenizer->find(text);
      if (id && m->tokenizer->is_special(*id)) m->tool_control_tokens.push_back(*id);
    }
  }
  m->context_length =
      config.context_length > 0 ? config.context_length : config.facts.trained_context;
  struct stat st {};
  if (::stat(config.path.c_str(), &st) == 0) m->created = st.st_mtime;
  return m;
}

}  // namespace

Result<std::vector<std::unique_ptr<ServedModel>>> load_served_models(const ClusterConfig& config) {
  std::vector<std::unique_ptr<ServedModel>> models;
  for (const ModelConfig& mc : config.models) {
    auto m = load_one(mc);
    if (!m) return m.error();
    models.push_back(std::move(*m));
  }
  return models;
}

const ServedModel* find_model(const std::vector<std::unique_ptr<ServedModel>>& models,
                              std::string_view name) {
  for (const auto& m : models)
    if (m->name == name) return m.get();
  return nullptr;
}

}  // namespace shardserve
