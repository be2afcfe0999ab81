// GPU health figures for /metrics: per-device memory used/total, utilisation, temperature and
// power, read from the driver's NVML library.
//
// NVML is loaded at run time with dlopen("libnvidia-ml.so.1") (no NVML header or link-time
// library is needed, so this builds and runs on machines without CUDA): a host without the
// driver, or whose driver finds no GPU, gets a GpuMetrics whose `unavailable` says why, never
// a crash. A figure a device does not support (power on some boards) is left empty.
//
// Thread-safety: a GpuMetricsReader is immutable after construction and read() may be called
// from any thread (NVML itself is thread-safe). Ownership: the reader holds the library handle
// and NVML's initialisation until it is destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shardserve {

struct GpuDeviceMetrics {
  int index = 0;     // NVML's device index
  std::string name;  // e.g. "NVIDIA H100 80GB HBM3"
  std::optional<uint64_t> memory_used_bytes, memory_total_bytes;
  std::optional<double> utilization;  // fraction of the last sample period a kernel ran, 0..1
  std::optional<double> memory_utilization;  // fraction of it memory was read or written
  std::optional<double> temperature_celsius;
  std::optional<double> power_watts, power_limit_watts;
  std::string unavailable;  // non-empty: why this device could not be read at all
};

struct GpuMetrics {
  std::string unavailable;  // non-empty: "unavailable: <reason>" (no library, no driver, ...)
  std::vector<GpuDeviceMetrics> devices;
};

class GpuMetricsReader {
 public:
  static constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";

  // Loads `library` and initialises NVML; failures are kept and reported by read().
  explicit GpuMetricsReader(const std::string& library = kDefaultLibrary);
  ~GpuMetricsReader();
  GpuMetricsReader(const GpuMetricsReader&) = delete;
  GpuMetricsReader& operator=(const GpuMetricsReader&) = delete;

  // Empty when NVML is usable, else "unavailable: <reason>".
  const std::string& unavailable() const { return unavailable_; }
  // Current figures of every device NVML sees.
  GpuMetrics read() const;
  // Current figures of the devices with these NVML indices, in the order given; an index NVML
  // does not see (at or past its device count) is left out, and so are duplicates. A few NVML
  // calls per device (about a millisecond each); blocks while they run.
  GpuMetrics read(const std::vector<int>& indices) const;

 private:
  struct Api;
  GpuDeviceMetrics read_device(unsigned index) const;

  std::unique_ptr<Api> api_;
  std::string unavailable_;
};

// Prometheus text exposition (format 0.0.4) of the figures, gauges named shardserve_gpu_*
// with labels {gpu="<index>", name="<name>"} (plus `extra_labels`, e.g. `group="chat"`, put
// first when non-empty). shardserve_gpu_available is 1 or 0; when 0, a comment line carries
// the reason. Units: bytes, ratios 0..1, degrees Celsius, watts.
std::string render_gpu_metrics(const GpuMetrics& metrics, const std::string& extra_labels = "");

}  // namespace shardserve
