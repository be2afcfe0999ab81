// The worker groups' GPUs in /metrics, as nvidia-smi shows them: one gauge family per figure,
// one sample per (group, device), from the readings of each live group's last heartbeat
// (wire::GpuReading). Rendered fresh on every scrape rather than kept in the registry, so a
// group that is lost drops its series at once; a figure a device did not report has no sample.
//
//   shardserve_gpu_memory_used_bytes{group,device,name}     bytes
//   shardserve_gpu_memory_total_bytes{group,device,name}    bytes
//   shardserve_gpu_utilization_ratio{group,device,name}     0..1, share of time a kernel ran
//   shardserve_gpu_memory_utilization_ratio{...}            0..1, share of time memory was busy
//   shardserve_gpu_temperature_celsius{...}                 degrees Celsius
//   shardserve_gpu_power_watts{...}, shardserve_gpu_power_limit_watts{...}   watts
//
// Pure function of its input; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "wire/messages.h"

namespace shardserve {

struct GroupGpus {
  std::string group;  // the group's name
  std::vector<wire::GpuReading> gpus;
};

// Text format 0.0.4, to follow the registry's output; "" when no group reported a GPU.
std::string render_gpu_metrics_text(const std::vector<GroupGpus>& groups);

}  // namespace shardserve
