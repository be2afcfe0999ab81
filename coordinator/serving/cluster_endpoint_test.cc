// GET /v1/cluster's JSON: a live group with its load and GPUs (absent figures absent), a group
// that went down (its last Hello kept, nothing running), a configured group never seen; the
// job counters summed per group over every exit reason; per-model token totals; and
// get_cluster() gathering from a real GroupLink and metrics registry without adding series.
#include "coordinator/serving/cluster_endpoint.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "coordinator/metrics/metrics.h"

namespace shardserve {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

ClusterState sample_state() {
  ClusterState s;
  s.time_s = 1765000000.1234;
  s.now = std::chrono::steady_clock::now();

  GroupInfo live;
  live.id = 7;
  live.hello = wire::Hello{"chat-tp2", "smol", 2, 32, 1024, 16, 8192, 49152};
  live.load.running = 3;
  live.load.waiting = 1;
  live.load.kv_used_blocks = 256;
  live.load.kv_total_blocks = 1024;
  live.load.kv_cached_blocks = 5;
  live.load.steps = 900;
  live.load.prefix_prompt_tokens = 400;
  live.load.prefix_hit_tokens = 64;
  live.load.gpus = {{.device = 0,
                     .name = "NVIDIA H200",
                     .memory_used_bytes = int64_t{1} << 30,
                     .memory_total_bytes = int64_t{141} << 30,
                     .utilization = 0.75,
                     .temperature_celsius = 61,
                     .power_watts = 312.5,
                     .power_limit_watts = 700},
                    {.device = 1, .name = "", .temperature_celsius = 35}};
  live.in_flight = 4;
  live.registered_at = s.now - 90s;
  live.last_seen = s.now - 250ms;
  s.groups.push_back({.name = "chat-tp2", .live = live, .hello = live.hello});

  s.groups.push_back({.name = "chat-b",
                      .live = std::nullopt,
                      .hello = wire::Hello{"chat-b", "smol", 1, 8, 64, 16, 2048, 49152}});
  s.groups.push_back({.name = "never", .live = std::nullopt, .hello = std::nullopt});
  s.restarts = {{"chat-b", 2}};
  s.job_exits = {{"chat-b", 3}};
  s.models = {{.name = "smol", .task = "chat", .prompt_tokens = 400, .generation_tokens = 1234},
              {.name = "mini", .task = "embed", .prompt_tokens = 9, .generation_tokens = 0}};
  return s;
}

TEST(ClusterJson, LiveDownAndNeverSeenGroups) {
  const Json j = Json::parse(cluster_json(sample_state()));
  EXPECT_EQ(j["object"], "cluster");
  EXPECT_DOUBLE_EQ(j["time"].get<double>(), 1765000000.123);
  ASSERT_EQ(j["groups"].size(), 3u);

  const Json& live = j["groups"][0];
  EXPECT_EQ(live["name"], "chat-tp2");
  EXPECT_EQ(live["up"], true);
  EXPECT_EQ(live["model"], "smol");
  EXPECT_EQ(live["tp"], 2);
  EXPECT_EQ(live["max_batch"], 32);
  EXPECT_EQ(live["context_length"], 8192);
  EXPECT_EQ(live["running"], 3);
  EXPECT_EQ(live["waiting"], 1);
  EXPECT_EQ(live["in_flight"], 4);
  EXPECT_EQ(live["kv_used_blocks"], 256);
  EXPECT_EQ(live["kv_total_blocks"], 1024);
  EXPECT_DOUBLE_EQ(live["kv_usage"].get<double>(), 0.25);
  EXPECT_EQ(live["kv_cached_blocks"], 5);
  EXPECT_EQ(live["steps_total"], 900);
  EXPECT_EQ(live["prompt_tokens_total"], 400);
  EXPECT_EQ(live["prefix_hit_tokens_total"], 64);
  EXPECT_DOUBLE_EQ(live["uptime_s"].get<double>(), 90.0);
  EXPECT_DOUBLE_EQ(live["last_seen_s"].get<double>(), 0.25);
  EXPECT_EQ(live["restarts"], 0);
  EXPECT_EQ(live["job_exits"], 0);
  ASSERT_EQ(live["gpus"].size(), 2u);
  EXPECT_EQ(live["gpus"][0],
            Json::parse(R"({"device":0,"name":"NVIDIA H200","memory_used_bytes":1073741824,
                            "memory_total_bytes":151397597184,"utilization":0.75,
                            "temperature_celsius":61.0,"power_watts":312.5,
                            "power_limit_watts":700.0})"));
  // What the device did not report is absent, not 0 or null.
  EXPECT_EQ(live["gpus"][1], Json::parse(R"({"device":1,"name":"","temperature_celsius":35.0})"));

  const Json& down = j["groups"][1];
  EXPECT_EQ(down["name"], "chat-b");
  EXPECT_EQ(down["up"], false);
  EXPECT_EQ(down["model"], "smol");  // from the Hello it said when it was live
  EXPECT_EQ(down["tp"], 1);
  EXPECT_EQ(down["running"], 0);
  EXPECT_EQ(down["in_flight"], 0);
  EXPECT_DOUBLE_EQ(down["kv_usage"].get<double>(), 0.0);
  EXPECT_TRUE(down["uptime_s"].is_null());
  EXPECT_TRUE(down["last_seen_s"].is_null());
  EXPECT_EQ(down["restarts"], 2);
  EXPECT_EQ(down["job_exits"], 3);
  EXPECT_EQ(down["gpus"], Json::array());

  const Json& never = j["groups"][2];
  EXPECT_EQ(never["up"], false);
  EXPECT_TRUE(never["model"].is_null());
  EXPECT_TRUE(never["tp"].is_null());
  EXPECT_TRUE(never["max_batch"].is_null());

  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][0], Json::parse(R"({"name":"smol","task":"chat","groups_up":1,
                                            "prompt_tokens_total":400,
                                            "generation_tokens_total":1234})"));
  EXPECT_EQ(j["models"][1]["groups_up"], 0);
}

TEST(ClusterJson, BadUtf8InANameIsReplacedNotThrown) {
  ClusterState s;
  s.groups.push_back({.name = "bad\xff", .live = std::nullopt, .hello = std::nullopt});
  const Json j = Json::parse(cluster_json(s));
  EXPECT_EQ(j["groups"][0]["name"], "bad\xef\xbf\xbd");
}

TEST(GetCluster, GathersConfiguredGroupsCountersAndModelsWithoutAddingSeries) {
  auto link = GroupLink::start({.endpoint = "tcp://127.0.0.1:*"});
  ASSERT_TRUE(link.ok()) << link.error().message;
  metrics::Registry registry;
  metrics::ServerMetrics server_metrics(registry);
  server_metrics.group_job_exits.with({"g1", "exited with status 3"}).inc();
  server_metrics.group_job_exits.with({"g1", "killed by signal 9 (Killed)"}).inc(2);
  server_metrics.group_job_restarts.with({"g1"}).inc(3);
  server_metrics.generation_tokens.with({"smol"}).inc(42);
  server_metrics.prompt_tokens.with({"smol"}).inc(7);
  std::vector<std::unique_ptr<ServedModel>> models;
  models.push_back(std::make_unique<ServedModel>());
  models.back()->name = "smol";
  models.push_back(std::make_unique<ServedModel>());
  models.back()->name = "mini";
  models.back()->task = ModelTask::kEmbed;
  GroupRoster roster(**link, {"g1", "g2"});
  const std::string before = registry.render();

  const Response r = get_cluster(roster, server_metrics, models);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  const Json j = Json::parse(r.body);
  ASSERT_EQ(j["groups"].size(), 2u);
  EXPECT_EQ(j["groups"][0]["name"], "g1");
  EXPECT_EQ(j["groups"][0]["up"], false);
  EXPECT_EQ(j["groups"][0]["job_exits"], 3);
  EXPECT_EQ(j["groups"][0]["restarts"], 3);
  EXPECT_EQ(j["groups"][1]["name"], "g2");
  EXPECT_EQ(j["groups"][1]["job_exits"], 0);
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][0]["generation_tokens_total"], 42);
  EXPECT_EQ(j["models"][0]["prompt_tokens_total"], 7);
  EXPECT_EQ(j["models"][1]["task"], "embed");
  EXPECT_EQ(j["models"][1]["generation_tokens_total"], 0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(j["time"].get<double>(), now, 5.0);
  EXPECT_EQ(registry.render(), before);  // no zero series for g2 or "mini"
}

}  // namespace
}  // namespace shardserve
