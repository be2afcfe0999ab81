// GpuMetricsReader without a GPU: a missing library is "unavailable" with the reason, never a
// crash; a stand-in NVML library (testing/fake_nvml.cc) checks the figures and their units;
// the real driver library, where one is installed, gives consistent figures.
#include "model/cuda/gpu_metrics.h"

#include <gtest/gtest.h>

namespace shardserve {
namespace {

TEST(GpuMetrics, MissingLibraryIsUnavailableWithTheReason) {
  GpuMetricsReader reader("libshardserve-no-such-nvml.so.1");
  EXPECT_NE(reader.unavailable().find("unavailable: cannot load libshardserve-no-such-nvml.so.1"),
            std::string::npos)
      << reader.unavailable();
  const GpuMetrics m = reader.read();
  EXPECT_EQ(m.unavailable, reader.unavailable());
  EXPECT_TRUE(m.devices.empty());
  const std::string text = render_gpu_metrics(m, "group=\"chat\"");
  EXPECT_NE(text.find("shardserve_gpu_available{group=\"chat\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# unavailable: cannot load"), std::string::npos) << text;
  EXPECT_EQ(text.find("shardserve_gpu_memory"), std::string::npos) << text;
}

TEST(GpuMetrics, ALibraryWithoutNvmlSymbolsIsUnavailable) {
  GpuMetricsReader reader("libm.so.6");
  EXPECT_NE(reader.unavailable().find("has no symbol nvmlInit_v2"), std::string::npos)
      << reader.unavailable();
}

TEST(GpuMetrics, ReadsEveryDeviceOfAStandInLibrary) {
  GpuMetricsReader reader(SHARDSERVE_FAKE_NVML);
  ASSERT_EQ(reader.unavailable(), "");
  const GpuMetrics m = reader.read();
  ASSERT_EQ(m.unavailable, "");
  ASSERT_EQ(m.devices.size(), 2u);
  const GpuDeviceMetrics& d0 = m.devices[0];
  EXPECT_EQ(d0.name, "Fake GPU \"A\"");
  EXPECT_EQ(d0.memory_used_bytes, 1ull << 30);
  EXPECT_EQ(d0.memory_total_bytes, 80ull << 30);
  EXPECT_DOUBLE_EQ(*d0.utilization, 0.75);
  EXPECT_DOUBLE_EQ(*d0.memory_utilization, 0.40);
  EXPECT_DOUBLE_EQ(*d0.temperature_celsius, 61.0);
  EXPECT_DOUBLE_EQ(*d0.power_watts, 312.5);
  EXPECT_DOUBLE_EQ(*d0.power_limit_watts, 700.0);
  const GpuDeviceMetrics& d1 = m.devices[1];
  EXPECT_EQ(d1.index, 1);
  EXPECT_FALSE(d1.power_watts.has_value());  // not supported: left out, not 0
  EXPECT_FALSE(d1.power_limit_watts.has_value());
  EXPECT_TRUE(d1.temperature_celsius.has_value());

  const std::string text = render_gpu_metrics(m);
  EXPECT_NE(text.find("shardserve_gpu_available 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("shardserve_gpu_memory_used_bytes{gpu=\"0\",name=\"Fake GPU \\\"A\\\"\"} "
                      "1073741824\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shardserve_gpu_power_watts{gpu=\"0\",name=\"Fake GPU \\\"A\\\"\"} 312.5\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("shardserve_gpu_power_watts{gpu=\"1\""), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE shardserve_gpu_temperature_celsius gauge\n"), std::string::npos);
}

// The driver's library where one is installed (a GPU machine); here it is usually absent.
TEST(GpuMetrics, TheDriverLibraryIsReadOrUnavailable) {
  GpuMetricsReader reader;
  const GpuMetrics m = reader.read();
  if (!m.unavailable.empty()) {
    EXPECT_EQ(m.unavailable.rfind("unavailable: ", 0), 0u) << m.unavailable;
    EXPECT_TRUE(m.devices.empty());
    std::printf("NVML %s\n", m.unavailable.c_str());
    return;
  }
  ASSERT_FALSE(m.devices.empty());
  for (const GpuDeviceMetrics& d : m.devices) {
    if (!d.unavailable.empty()) continue;
    ASSERT_TRUE(d.memory_total_bytes.has_value()) << d.name;
    EXPECT_GT(*d.memory_total_bytes, 0u) << d.name;
    EXPECT_LE(*d.memory_used_bytes, *d.memory_total_bytes) << d.name;
    std::printf("GPU %d %s: %.1f of %.1f GiB\n", d.index, d.name.c_str(),
                *d.memory_used_bytes / 1073741824.0, *d.memory_total_bytes / 1073741824.0);
  }
}

}  // namespace
}  // namespace shardserve
