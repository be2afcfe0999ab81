// GroupGpuReader against the fake NVML library (model/cuda/testing/fake_nvml.cc: two devices,
// device 1 without power figures): the group's devices are read, a device that cannot be opened
// is sent with nothing but its index, and a missing library gives no readings, never a crash.
#include "worker/gpu_readings.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace shardserve {
namespace {

TEST(GroupGpuReader, ReadsTheGroupsDevicesInOrder) {
  GroupGpuReader reader({1, 0}, SHARDSERVE_FAKE_NVML);
  ASSERT_EQ(reader.unavailable(), "");
  const std::vector<wire::GpuReading> gpus = reader.read();
  ASSERT_EQ(gpus.size(), 2u);
  const wire::GpuReading& d1 = gpus[0];
  EXPECT_EQ(d1.device, 1);
  EXPECT_EQ(d1.name, "Fake GPU B");
  EXPECT_EQ(d1.memory_used_bytes, 0);
  EXPECT_EQ(d1.memory_total_bytes, int64_t{80} << 30);
  EXPECT_FALSE(d1.power_watts.has_value());  // not supported: absent, not 0
  EXPECT_FALSE(d1.power_limit_watts.has_value());
  const wire::GpuReading& d0 = gpus[1];
  EXPECT_EQ(d0.device, 0);
  EXPECT_EQ(d0.memory_used_bytes, int64_t{1} << 30);
  EXPECT_DOUBLE_EQ(*d0.utilization, 0.75);
  EXPECT_DOUBLE_EQ(*d0.memory_utilization, 0.40);
  EXPECT_DOUBLE_EQ(*d0.temperature_celsius, 61.0);
  EXPECT_DOUBLE_EQ(*d0.power_watts, 312.5);
  EXPECT_DOUBLE_EQ(*d0.power_limit_watts, 700.0);

  // What travels decodes to the same readings.
  wire::GroupHeartbeat heartbeat;
  heartbeat.gpus = gpus;
  auto decoded = wire::decode_up(wire::encode(wire::UpMessage(heartbeat)));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(std::get<wire::GroupHeartbeat>(*decoded).gpus, gpus);
}

// A device another host holds (an index this host's NVML does not have) is left out, and so
// is a repeated one.
TEST(GroupGpuReader, DevicesThisHostDoesNotSeeAreLeftOut) {
  GroupGpuReader reader({0, 5, 0}, SHARDSERVE_FAKE_NVML);
  const std::vector<wire::GpuReading> gpus = reader.read();
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].device, 0);
}

TEST(GroupGpuReader, AFailingDeviceIsSentWithoutFigures) {
  ::setenv("SHARDSERVE_FAKE_NVML_LOST_DEVICE", "1", 1);
  GroupGpuReader reader({0, 1}, SHARDSERVE_FAKE_NVML);
  const std::vector<wire::GpuReading> gpus = reader.read();
  ::unsetenv("SHARDSERVE_FAKE_NVML_LOST_DEVICE");
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_TRUE(gpus[0].memory_used_bytes.has_value());
  EXPECT_EQ(gpus[1], wire::GpuReading{.device = 1});
}

TEST(GroupGpuReader, AMissingLibraryGivesNoReadings) {
  GroupGpuReader reader({0, 1}, "libshardserve-no-such-nvml.so.1");
  EXPECT_NE(reader.unavailable().find("cannot load"), std::string::npos) << reader.unavailable();
  EXPECT_TRUE(reader.read().empty());
}

TEST(GroupGpuReader, TheLibraryPathComesFromTheEnvironment) {
  ::setenv("SHARDSERVE_NVML_LIBRARY", SHARDSERVE_FAKE_NVML, 1);
  EXPECT_EQ(nvml_library(), SHARDSERVE_FAKE_NVML);
  GroupGpuReader reader({0});
  EXPECT_EQ(reader.read().size(), 1u);
  ::setenv("SHARDSERVE_NVML_LIBRARY", "", 1);
  EXPECT_EQ(nvml_library(), GpuMetricsReader::kDefaultLibrary);
  ::unsetenv("SHARDSERVE_NVML_LIBRARY");
}

// A figure the wire would refuse is dropped, so one odd sensor cannot cost the heartbeat.
TEST(GroupGpuReader, OutOfRangeFiguresAreDropped) {
  GpuMetrics m;
  GpuDeviceMetrics d;
  d.index = 2;
  d.utilization = 1.5;
  d.memory_utilization = 0.5;
  d.power_watts = -1;
  d.memory_used_bytes = ~uint64_t{0};
  m.devices.push_back(d);
  const std::vector<wire::GpuReading> gpus = to_gpu_readings(m);
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_FALSE(gpus[0].utilization.has_value());
  EXPECT_DOUBLE_EQ(*gpus[0].memory_utilization, 0.5);
  EXPECT_FALSE(gpus[0].power_watts.has_value());
  EXPECT_FALSE(gpus[0].memory_used_bytes.has_value());
  wire::GroupHeartbeat heartbeat;
  heartbeat.gpus = gpus;
  EXPECT_TRUE(wire::decode_up(wire::encode(wire::UpMessage(heartbeat))).ok());
}

}  // namespace
}  // namespace shardserve
