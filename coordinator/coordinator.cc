#include "coordinator/coordinator.h"

#include <string>
#include <thread>

#include "coordinator/serving/embeddings.h"

namespace shardserve {
namespace {

// The knowledge base's embedder: the served embedding model, through its worker groups, each
// input truncated to the model's maximum as sentence-transformers does.
knowledge::Embedder served_embedder(GroupLink& link, const ServedModel& model,
                                    int request_timeout_s) {
  return [&link, &model,
          request_timeout_s](const std::vector<std::string>& texts) -> Result<std::vector<float>> {
    api::EmbeddingRequest request;
    request.model = model.name;
    request.inputs.assign(texts.begin(), texts.end());
    request.truncate = true;
    auto embedded =
        embed_inputs(link, model, request,
                     std::chrono::steady_clock::now() + std::chrono::seconds(request_timeout_s));
    if (!embedded.ok()) {
      const api::ApiError& e = embedded.error();
      const ErrorCode code = e.status == 503   ? ErrorCode::kUnavailable
                             : e.status == 400 ? ErrorCode::kInvalidInput
                                               : ErrorCode::kInternal;
      return Error{"embedding with model '" + model.name + "' failed: " + e.message, code};
    }
    return std::move(embedded.value().data);
  };
}

}  // namespace

Result<std::unique_ptr<Coordinator>> Coordinator::start(const ClusterConfig& config) {
  std::unique_ptr<Coordinator> c(new Coordinator());
  auto models = load_served_models(config);
  if (!models) return models.error();
  c->models_ = std::move(*models);
  auto link = GroupLink::start({.endpoint = config.server.coordinator_endpoint});
  if (!link) return link.error();
  c->link_ = std::move(*link);

  if (config.knowledge.enabled()) {
    const ServedModel* embedder = find_model(c->models_, config.knowledge.embedding_model);
    if (!embedder)
      return Error{"knowledge.embedding_model: no served model named '" +
                   config.knowledge.embedding_model + "'"};
    knowledge::KnowledgeOptions options;
    options.data_dir = config.knowledge.data_dir_path;
    options.chunking.max_chars = static_cast<size_t>(config.knowledge.chunk_chars);
    options.chunking.overlap_chars = static_cast<size_t>(config.knowledge.chunk_overlap_chars);
    options.max_file_bytes = config.knowledge.max_file_bytes;
    options.max_files = config.knowledge.max_files;
    options.max_vector_stores = config.knowledge.max_vector_stores;
    auto kb = knowledge::KnowledgeBase::open(
        std::move(options), served_embedder(*c->link_, *embedder, config.server.request_timeout_s));
    if (!kb) return kb.error();
    c->knowledge_ = std::move(*kb);
  }

  std::vector<std::string> group_names;
  for (const GroupConfig& g : config.groups) group_names.push_back(g.name);
  c->server_ = std::make_unique<HttpServer>(config.server, *c->link_, c->models_, group_names,
                                            c->knowledge_.get());
  if (Status s = c->server_->bind(); !s) return s.error();
  return c;
}

void Coordinator::run() {
  server_->run();
}

void Coordinator::stop() {
  server_->stop();
}

bool Coordinator::chat_models_live() const {
  for (const auto& m : models_)
    if (m->task == ModelTask::kChat && !link_->least_loaded(m->name)) return false;
  return true;
}

int Coordinator::drain(std::chrono::steady_clock::time_point deadline) {
  server_->drain();
  while (server_->requests_in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return server_->requests_in_flight();
}

void Coordinator::record_group_job_exit(const std::string& group, const std::string& reason) {
  server_->metrics().group_job_exits.with({group, reason}).inc();
}

void Coordinator::record_group_job_restart(const std::string& group) {
  server_->metrics().group_job_restarts.with({group}).inc();
}

}  // namespace shardserve
