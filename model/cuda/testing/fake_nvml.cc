// A stand-in for libnvidia-ml.so.1 with the few entry points gpu_metrics.cc uses, for host-side
// tests: two devices; device 0 answers everything, device 1 has no power readings
// (NVML_ERROR_NOT_SUPPORTED = 3), as some boards do. With SHARDSERVE_FAKE_NVML_LOST_DEVICE=<i>
// in the environment, device i cannot be opened (NVML_ERROR_GPU_IS_LOST = 15).
#include <cstdlib>
#include <cstring>

extern "C" {

struct nvmlDevice_st {
  int index;
};
struct FakeMemory {
  unsigned long long total, free, used;
};
struct FakeUtilization {
  unsigned int gpu, memory;
};

static nvmlDevice_st g_devices[2] = {{0}, {1}};
static int g_initialized = 0;

int nvmlInit_v2() {
  ++g_initialized;
  return 0;
}
int nvmlShutdown() {
  --g_initialized;
  return 0;
}
const char* nvmlErrorString(int r) {
  return r == 3 ? "Not Supported" : r == 15 ? "GPU is lost" : "Unknown Error";
}
int nvmlDeviceGetCount_v2(unsigned* count) {
  if (g_initialized <= 0) return 1;  // NVML_ERROR_UNINITIALIZED
  *count = 2;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_st** device) {
  if (index >= 2) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  const char* lost = std::getenv("SHARDSERVE_FAKE_NVML_LOST_DEVICE");
  if (lost && *lost && static_cast<unsigned>(std::atoi(lost)) == index) return 15;
  *device = &g_devices[index];
  return 0;
}
int nvmlDeviceGetName(nvmlDevice_st* device, char* name, unsigned length) {
  const char* n = device->index == 0 ? "Fake GPU \"A\"" : "Fake GPU B";
  std::strncpy(name, n, length);
  name[length - 1] = '\0';
  return 0;
}
int nvmlDeviceGetMemoryInfo(nvmlDevice_st* device, FakeMemory* memory) {
  memory->total = 80ull << 30;
  memory->used = device->index == 0 ? (1ull << 30) : 0;
  memory->free = memory->total - memory->used;
  return 0;
}
int nvmlDeviceGetUtilizationRates(nvmlDevice_st* device, FakeUtilization* u) {
  u->gpu = device->index == 0 ? 75 : 0;
  u->memory = device->index == 0 ? 40 : 0;
  return 0;
}
int nvmlDeviceGetTemperature(nvmlDevice_st* device, unsigned sensor, unsigned* temp) {
  if (sensor != 0) return 2;
  *temp = device->index == 0 ? 61 : 35;
  return 0;
}
int nvmlDeviceGetPowerUsage(nvmlDevice_st* device, unsigned* milliwatts) {
  if (device->index == 1) return 3;
  *milliwatts = 312500;
  return 0;
}
int nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_st* device, unsigned* milliwatts) {
  if (device->index == 1) return 3;
  *milliwatts = 700000;
  return 0;
}

}  // extern "C"
