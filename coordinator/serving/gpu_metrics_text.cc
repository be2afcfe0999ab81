#include "coordinator/serving/gpu_metrics_text.h"

#include <optional>

#include "coordinator/metrics/metrics.h"

namespace shardserve {
namespace {

struct Family {
  const char* name;
  const char* help;
  std::optional<double> (*get)(const wire::GpuReading&);
};

std::optional<double> as_double(std::optional<int64_t> v) {
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}

constexpr Family kFamilies[] = {
    {"shardserve_gpu_memory_used_bytes", "GPU memory in use, bytes (NVML, per group and device).",
     [](const wire::GpuReading& g) { return as_double(g.memory_used_bytes); }},
    {"shardserve_gpu_memory_total_bytes", "GPU memory in total, bytes.",
     [](const wire::GpuReading& g) { return as_double(g.memory_total_bytes); }},
    {"shardserve_gpu_utilization_ratio", "Fraction of the last sample period a kernel ran.",
     [](const wire::GpuReading& g) { return g.utilization; }},
    {"shardserve_gpu_memory_utilization_ratio",
     "Fraction of the last sample period GPU memory was read or written.",
     [](const wire::GpuReading& g) { return g.memory_utilization; }},
    {"shardserve_gpu_temperature_celsius", "GPU die temperature, degrees Celsius.",
     [](const wire::GpuReading& g) { return g.temperature_celsius; }},
    {"shardserve_gpu_power_watts", "GPU power draw, watts.",
     [](const wire::GpuReading& g) { return g.power_watts; }},
    {"shardserve_gpu_power_limit_watts", "GPU enforced power limit, watts.",
     [](const wire::GpuReading& g) { return g.power_limit_watts; }},
};

}  // namespace

std::string render_gpu_metrics_text(const std::vector<GroupGpus>& groups) {
  std::string out;
  for (const Family& f : kFamilies) {
    std::string samples;
    for (const GroupGpus& group : groups) {
      for (const wire::GpuReading& g : group.gpus) {
        const std::optional<double> v = f.get(g);
        if (!v) continue;
        samples += std::string(f.name) + "{group=\"" + metrics::escape_label_value(group.group) +
                   "\",device=\"" + std::to_string(g.device) + "\",name=\"" +
                   metrics::escape_label_value(g.name) + "\"} " + metrics::format_value(*v) + "\n";
      }
    }
    if (samples.empty()) continue;
    out += std::string("# HELP ") + f.name + " " + f.help + "\n";
    out += std::string("# TYPE ") + f.name + " gauge\n";
    out += samples;
  }
  return out;
}

}  // namespace shardserve
