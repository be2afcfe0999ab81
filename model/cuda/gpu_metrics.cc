#include "model/cuda/gpu_metrics.h"

#include <dlfcn.h>

#include <cstdio>
#include <utility>

namespace shardserve {

// The few NVML declarations used here, with the signatures of NVIDIA's nvml.h (no header is
// installed on the build machines). All NVML functions return nvmlReturn_t, an int enum whose
// NVML_SUCCESS is 0.
namespace {
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr unsigned kNvmlTemperatureGpu = 0;  // NVML_TEMPERATURE_GPU
constexpr unsigned kNameBuffer = 96;         // NVML_DEVICE_NAME_V2_BUFFER_SIZE

struct nvmlMemory_t {  // nvmlMemory_st: bytes
  unsigned long long total, free, used;
};
struct nvmlUtilization_t {  // nvmlUtilization_st: percent of the sample period
  unsigned int gpu, memory;
};
}  // namespace

struct GpuMetricsReader::Api {
  void* library = nullptr;
  bool initialized = false;
  nvmlReturn_t (*init)() = nullptr;      // nvmlInit_v2
  nvmlReturn_t (*shutdown)() = nullptr;  // nvmlShutdown
  const char* (*error_string)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*device_count)(unsigned*) = nullptr;                 // nvmlDeviceGetCount_v2
  nvmlReturn_t (*device_handle)(unsigned, nvmlDevice_t*) = nullptr;  // ..GetHandleByIndex_v2
  nvmlReturn_t (*device_name)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*memory_info)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*temperature)(nvmlDevice_t, unsigned, unsigned*) = nullptr;
  nvmlReturn_t (*power_usage)(nvmlDevice_t, unsigned*) = nullptr;  // milliwatts
  nvmlReturn_t (*power_limit)(nvmlDevice_t, unsigned*) = nullptr;  // ..GetEnforcedPowerLimit, mW

  std::string error(const char* call, nvmlReturn_t r) const {
    const char* text = error_string ? error_string(r) : nullptr;
    return std::string(call) + " failed: " + (text ? text : "NVML error " + std::to_string(r));
  }
};

namespace {
template <typename Fn>
bool bind(void* library, const char* symbol, Fn* fn, std::string* missing) {
  *fn = reinterpret_cast<Fn>(dlsym(library, symbol));
  if (!*fn && missing->empty()) *missing = symbol;
  return *fn != nullptr;
}
}  // namespace

GpuMetricsReader::GpuMetricsReader(const std::string& library) : api_(std::make_unique<Api>()) {
  Api& a = *api_;
  a.library = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!a.library) {
    const char* why = dlerror();
    unavailable_ = "unavailable: cannot load " + library + " (" + (why ? why : "dlopen failed") +
                   "); GPU metrics need the NVIDIA driver";
    return;
  }
  std::string missing;
  bind(a.library, "nvmlInit_v2", &a.init, &missing);
  bind(a.library, "nvmlShutdown", &a.shutdown, &missing);
  bind(a.library, "nvmlErrorString", &a.error_string, &missing);
  bind(a.library, "nvmlDeviceGetCount_v2", &a.device_count, &missing);
  bind(a.library, "nvmlDeviceGetHandleByIndex_v2", &a.device_handle, &missing);
  bind(a.library, "nvmlDeviceGetName", &a.device_name, &missing);
  bind(a.library, "nvmlDeviceGetMemoryInfo", &a.memory_info, &missing);
  bind(a.library, "nvmlDeviceGetUtilizationRates", &a.utilization, &missing);
  bind(a.library, "nvmlDeviceGetTemperature", &a.temperature, &missing);
  bind(a.library, "nvmlDeviceGetPowerUsage", &a.power_usage, &missing);
  bind(a.library, "nvmlDeviceGetEnforcedPowerLimit", &a.power_limit, &missing);
  if (!missing.empty()) {
    unavailable_ = "unavailable: " + library + " has no symbol " + missing +
                   " (a driver older than NVML 2015?)";
    return;
  }
  if (nvmlReturn_t r = a.init(); r != kNvmlSuccess) {
    unavailable_ = "unavailable: " + a.error("nvmlInit_v2", r);
    return;
  }
  a.initialized = true;
}

GpuMetricsReader::~GpuMetricsReader() {
  if (api_->initialized) api_->shutdown();
  if (api_->library) dlclose(api_->library);
}

GpuMetrics GpuMetricsReader::read() const {
  // Every index NVML could have; read(indices) leaves out those past its device count.
  unsigned count = 0;
  if (unavailable_.empty() && api_->device_count(&count) != kNvmlSuccess) count = 0;
  std::vector<int> all(count);
  for (unsigned i = 0; i < count; ++i) all[i] = static_cast<int>(i);
  return read(all);
}

GpuMetrics GpuMetricsReader::read(const std::vector<int>& indices) const {
  GpuMetrics out;
  if (!unavailable_.empty()) {
    out.unavailable = unavailable_;
    return out;
  }
  const Api& a = *api_;
  unsigned count = 0;
  if (nvmlReturn_t r = a.device_count(&count); r != kNvmlSuccess) {
    out.unavailable = "unavailable: " + a.error("nvmlDeviceGetCount_v2", r);
    return out;
  }
  if (count == 0) {
    out.unavailable = "unavailable: NVML reports no GPU on this host";
    return out;
  }
  std::vector<bool> done(count, false);
  for (int i : indices) {
    if (i < 0 || static_cast<unsigned>(i) >= count || done[static_cast<unsigned>(i)]) continue;
    done[static_cast<unsigned>(i)] = true;
    out.devices.push_back(read_device(static_cast<unsigned>(i)));
  }
  return out;
}

GpuDeviceMetrics GpuMetricsReader::read_device(unsigned i) const {
  const Api& a = *api_;
  GpuDeviceMetrics d;
  d.index = static_cast<int>(i);
  nvmlDevice_t device = nullptr;
  if (nvmlReturn_t r = a.device_handle(i, &device); r != kNvmlSuccess) {
    d.unavailable = "unavailable: " + a.error("nvmlDeviceGetHandleByIndex_v2", r);
    return d;
  }
  char name[kNameBuffer] = {};
  if (a.device_name(device, name, kNameBuffer) == kNvmlSuccess) d.name = name;
  nvmlMemory_t memory{};
  if (a.memory_info(device, &memory) == kNvmlSuccess) {
    d.memory_used_bytes = memory.used;
    d.memory_total_bytes = memory.total;
  }
  nvmlUtilization_t util{};
  if (a.utilization(device, &util) == kNvmlSuccess) {
    d.utilization = util.gpu / 100.0;
    d.memory_utilization = util.memory / 100.0;
  }
  unsigned value = 0;
  if (a.temperature(device, kNvmlTemperatureGpu, &value) == kNvmlSuccess)
    d.temperature_celsius = value;
  if (a.power_usage(device, &value) == kNvmlSuccess) d.power_watts = value / 1000.0;
  if (a.power_limit(device, &value) == kNvmlSuccess) d.power_limit_watts = value / 1000.0;
  return d;
}

namespace {

// A label value with \, " and newlines escaped, as the exposition format requires.
std::string escape(const std::string& v) {
  std::string s;
  for (char c : v) {
    if (c == '\\' || c == '"') s += '\\';
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s += c;
  }
  return s;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string render_gpu_metrics(const GpuMetrics& m, const std::string& extra_labels) {
  const std::string prefix = extra_labels.empty() ? "" : extra_labels + ",";
  std::string out;
  out += "# HELP shardserve_gpu_available Whether GPU metrics could be read (NVML).\n";
  out += "# TYPE shardserve_gpu_available gauge\n";
  if (!m.unavailable.empty()) out += "# " + m.unavailable + "\n";
  out += "shardserve_gpu_available" + (extra_labels.empty() ? "" : "{" + extra_labels + "}") + " " +
         (m.unavailable.empty() ? "1" : "0") + "\n";

  struct Family {
    const char* name;
    const char* help;
    std::optional<double> (*get)(const GpuDeviceMetrics&);
  };
  const Family families[] = {
      {"shardserve_gpu_memory_used_bytes", "Device memory in use, bytes.",
       [](const GpuDeviceMetrics& d) -> std::optional<double> {
         if (!d.memory_used_bytes) return std::nullopt;
         return static_cast<double>(*d.memory_used_bytes);
       }},
      {"shardserve_gpu_memory_total_bytes", "Device memory in total, bytes.",
       [](const GpuDeviceMetrics& d) -> std::optional<double> {
         if (!d.memory_total_bytes) return std::nullopt;
         return static_cast<double>(*d.memory_total_bytes);
       }},
      {"shardserve_gpu_utilization_ratio", "Fraction of the last sample period a kernel ran.",
       [](const GpuDeviceMetrics& d) { return d.utilization; }},
      {"shardserve_gpu_memory_utilization_ratio",
       "Fraction of the last sample period device memory was read or written.",
       [](const GpuDeviceMetrics& d) { return d.memory_utilization; }},
      {"shardserve_gpu_temperature_celsius", "GPU die temperature, degrees Celsius.",
       [](const GpuDeviceMetrics& d) { return d.temperature_celsius; }},
      {"shardserve_gpu_power_watts", "Power draw, watts.",
       [](const GpuDeviceMetrics& d) { return d.power_watts; }},
      {"shardserve_gpu_power_limit_watts", "Enforced power limit, watts.",
       [](const GpuDeviceMetrics& d) { return d.power_limit_watts; }},
  };
  for (const Family& f : families) {
    std::string lines;
    for (const GpuDeviceMetrics& d : m.devices) {
      const std::optional<double> v = f.get(d);
      if (!v) continue;
      lines += std::string(f.name) + "{" + prefix + "gpu=\"" + std::to_string(d.index) +
               "\",name=\"" + escape(d.name) + "\"} " + number(*v) + "\n";
    }
    if (lines.empty()) continue;
    out += std::string("# HELP ") + f.name + " " + f.help + "\n";
    out += std::string("# TYPE ") + f.name + " gauge\n";
    out += lines;
  }
  return out;
}

}  // namespace shardserve
