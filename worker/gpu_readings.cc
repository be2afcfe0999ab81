#include "worker/gpu_readings.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

namespace shardserve {
namespace {

// The value when the wire accepts it (finite, in [lo, hi]), else absent: a sensor's odd figure
// must not make the coordinator refuse the whole heartbeat.
std::optional<double> within(std::optional<double> v, double lo, double hi) {
  if (!v || !std::isfinite(*v) || *v < lo || *v > hi) return std::nullopt;
  return v;
}

std::optional<int64_t> bytes(std::optional<uint64_t> v) {
  if (!v || *v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return static_cast<int64_t>(*v);
}

}  // namespace

std::string nvml_library() {
  const char* path = std::getenv("SHARDSERVE_NVML_LIBRARY");
  return path && *path ? path : GpuMetricsReader::kDefaultLibrary;
}

std::vector<wire::GpuReading> to_gpu_readings(const GpuMetrics& metrics) {
  std::vector<wire::GpuReading> out;
  if (!metrics.unavailable.empty()) return out;
  out.reserve(metrics.devices.size());
  for (const GpuDeviceMetrics& d : metrics.devices) {
    wire::GpuReading g;
    g.device = d.index;
    g.name = d.name.substr(0, 256);  // the wire's bound on a name
    if (!d.unavailable.empty()) {
      out.push_back(std::move(g));
      continue;
    }
    constexpr double kHuge = 1e9;  // the wire's bound on degrees and watts
    g.memory_used_bytes = bytes(d.memory_used_bytes);
    g.memory_total_bytes = bytes(d.memory_total_bytes);
    g.utilization = within(d.utilization, 0, 1);
    g.memory_utilization = within(d.memory_utilization, 0, 1);
    g.temperature_celsius = within(d.temperature_celsius, -kHuge, kHuge);
    g.power_watts = within(d.power_watts, 0, kHuge);
    g.power_limit_watts = within(d.power_limit_watts, 0, kHuge);
    out.push_back(std::move(g));
  }
  return out;
}

GroupGpuReader::GroupGpuReader(std::vector<int> devices, const std::string& library)
    : devices_(std::move(devices)), nvml_(library) {}

std::vector<wire::GpuReading> GroupGpuReader::read() const {
  if (devices_.empty()) return {};
  return to_gpu_readings(nvml_.read(devices_));
}

}  // namespace shardserve
