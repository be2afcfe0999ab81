#include "coordinator/coordinator.h"

#include <string>
#include <thread>

namespace shardserve {

Result<std::unique_ptr<Coordinator>> Coordinator::start(const ClusterConfig& config) {
  std::unique_ptr<Coordinator> c(new Coordinator());
  auto models = load_served_models(config);
  if (!models) return models.error();
  c->models_ = std::move(*models);
  auto link = GroupLink::start({.endpoint = config.server.coordinator_endpoint});
  if (!link) return link.error();
  c->link_ = std::move(*link);

  std::vector<std::string> group_names;
  for (const GroupConfig& g : config.groups) group_names.push_back(g.name);
  c->server_ = std::make_unique<HttpServer>(config.server, *c->link_, c->models_, group_names);
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
