// A group leader's GPU readings, carried by real heartbeats (CoordinatorLink -> GroupLink over
// loopback TCP), become shardserve_gpu_* lines of the coordinator's /metrics (MetricsPage), and
// vanish when the group is lost, while its other per-group gauges stay (up 0).
#include <gtest/gtest.h>

#include <thread>

#include "coordinator/group_link.h"
#include "coordinator/metrics/metrics.h"
#include "coordinator/metrics/server_metrics.h"
#include "coordinator/serving/status_endpoints.h"
#include "worker/coordinator_link.h"

namespace shardserve {
namespace {

using namespace std::chrono_literals;

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::vector<wire::GpuReading> two_gpus() {
  return {{.device = 0,
           .name = "NVIDIA H200",
           .memory_used_bytes = int64_t{1} << 30,
           .memory_total_bytes = int64_t{141} << 30,
           .utilization = 0.75,
           .memory_utilization = 0.25,
           .temperature_celsius = 61,
           .power_watts = 312.5,
           .power_limit_watts = 700},
          {.device = 1, .name = "NVIDIA H200", .temperature_celsius = 35}};
}

std::unique_ptr<CoordinatorLink> start_group(const std::string& endpoint) {
  CoordinatorLinkOptions o;
  o.endpoint = endpoint;
  o.hello = wire::Hello{"gpu-group", "tiny", 2, 64, 4096, 16, 512, 1000};
  o.heartbeat_interval = 50ms;
  o.log = [](const std::string&) {};
  o.read_gpus = two_gpus;
  auto link = CoordinatorLink::start(std::move(o));
  EXPECT_TRUE(link.ok()) << link.error().message;
  return link.ok() ? std::move(*link) : nullptr;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(GpuMetricsPage, HeartbeatReadingsRenderAndVanishWithTheGroup) {
  GroupLinkOptions options;
  options.endpoint = "tcp://127.0.0.1:*";
  options.heartbeat_interval = 50ms;
  options.heartbeat_timeout = 1000ms;
  options.log = [](const std::string&) {};
  auto coordinator = GroupLink::start(std::move(options));
  ASSERT_TRUE(coordinator.ok()) << coordinator.error().message;
  GroupLink& link = **coordinator;

  metrics::Registry registry;
  metrics::ServerMetrics server_metrics(registry);
  const std::vector<std::string> groups = {"gpu-group"};
  MetricsPage page(registry, server_metrics, link, groups);
  EXPECT_FALSE(has(page.render(), "shardserve_gpu_"));

  auto group = start_group(link.endpoint());
  ASSERT_TRUE(group);
  ASSERT_TRUE(wait_until([&] {
    for (const GroupInfo& g : link.groups())
      if (!g.load.gpus.empty()) return true;
    return false;
  }));
  const std::string text = page.render();
  const std::string labels0 = "{group=\"gpu-group\",device=\"0\",name=\"NVIDIA H200\"}";
  const std::string labels1 = "{group=\"gpu-group\",device=\"1\",name=\"NVIDIA H200\"}";
  EXPECT_TRUE(has(text, "# TYPE shardserve_gpu_memory_used_bytes gauge\n")) << text;
  EXPECT_TRUE(has(text, "shardserve_gpu_memory_used_bytes" + labels0 + " 1073741824\n")) << text;
  EXPECT_TRUE(has(text, "shardserve_gpu_memory_total_bytes" + labels0 + " 151397597184\n")) << text;
  EXPECT_TRUE(has(text, "shardserve_gpu_utilization_ratio" + labels0 + " 0.75\n")) << text;
  EXPECT_TRUE(has(text, "shardserve_gpu_memory_utilization_ratio" + labels0 + " 0.25\n")) << text;
  EXPECT_TRUE(has(text, "shardserve_gpu_temperature_celsius" + labels0 + " 61\n")) << text;
  EXPECT_TRUE(has(text, "shardserve_gpu_temperature_celsius" + labels1 + " 35\n")) << text;
  EXPECT_TRUE(has(text, "shardserve_gpu_power_watts" + labels0 + " 312.5\n")) << text;
  EXPECT_TRUE(has(text, "shardserve_gpu_power_limit_watts" + labels0 + " 700\n")) << text;
  // Device 1 reported no power: no sample, not 0.
  EXPECT_FALSE(has(text, "shardserve_gpu_power_watts" + labels1)) << text;
  EXPECT_TRUE(has(text, "shardserve_group_up{group=\"gpu-group\"} 1\n")) << text;

  group.reset();  // Goodbye: the coordinator drops the group
  ASSERT_TRUE(wait_until([&] { return link.groups().empty(); }));
  const std::string after = page.render();
  EXPECT_FALSE(has(after, "shardserve_gpu_")) << after;
  EXPECT_TRUE(has(after, "shardserve_group_up{group=\"gpu-group\"} 0\n")) << after;
}

}  // namespace
}  // namespace shardserve
