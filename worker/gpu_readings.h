// The group leader's readings of its group's GPUs, sent in every heartbeat (wire::GpuReading)
// so the coordinator can show them in /metrics and on the chat page.
//
// The readings come from NVML (model/cuda/gpu_metrics.h), loaded from nvml_library(): the
// driver's libnvidia-ml.so.1, or the file SHARDSERVE_NVML_LIBRARY names (tests point it at a
// fake NVML). Where NVML cannot be loaded, or sees no GPU, read() is empty: never an error.
//
// Which devices: the group's `devices` are CUDA device indices, read here as NVML indices (they
// agree when CUDA_DEVICE_ORDER=PCI_BUS_ID and CUDA_VISIBLE_DEVICES is unset, as on the usual
// one-job-per-server setup). Ranks of one group may sit on other hosts; the leader reads only
// its own host's NVML, so it reports those of the group's devices that NVML on its host sees (on
// a multi-host group a device index names the leader host's device of that index). No MPI
// traffic: the step loop is never involved.
//
// Thread-safety: read() may be called from any thread (the link thread calls it, once per
// heartbeat; a few NVML calls per device, about a millisecond each). Immutable after
// construction.
#pragma once

#include <string>
#include <vector>

#include "model/cuda/gpu_metrics.h"
#include "wire/messages.h"

namespace shardserve {

// SHARDSERVE_NVML_LIBRARY when set and non-empty, else GpuMetricsReader::kDefaultLibrary.
std::string nvml_library();

// The readings as they travel: a figure NVML did not give stays absent; a device NVML could
// not open at all is sent with its index and nothing else.
std::vector<wire::GpuReading> to_gpu_readings(const GpuMetrics& metrics);

class GroupGpuReader {
 public:
  // `devices`: the group's device indices (GroupConfig::devices).
  GroupGpuReader(std::vector<int> devices, const std::string& library = nvml_library());

  // Empty when NVML loaded, else why not ("unavailable: ..."), for the leader's log.
  const std::string& unavailable() const { return nvml_.unavailable(); }
  // The current readings of the group's devices this host's NVML sees, in `devices` order.
  std::vector<wire::GpuReading> read() const;

 private:
  const std::vector<int> devices_;
  GpuMetricsReader nvml_;
};

}  // namespace shardserve
