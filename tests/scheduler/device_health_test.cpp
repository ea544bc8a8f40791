#include "scheduler/device_health.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "pipeline/device_check.hpp"

namespace kiln::scheduler {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  DeviceHealth::Clock fn() {
    return [this] { return now; };
  }
};

TEST(DeviceHealth, QuarantinesAfterStrikesWithinTheWindow) {
  FakeClock clock;
  DeviceHealth h({3, 60s}, clock.fn());
  EXPECT_FALSE(h.strike("vaapi:/dev/dri/renderD128", "device lost"));
  clock.now += 10s;
  EXPECT_FALSE(h.strike("vaapi:/dev/dri/renderD128", "device lost"));
  EXPECT_FALSE(h.quarantined("vaapi:/dev/dri/renderD128"));
  clock.now += 10s;
  EXPECT_TRUE(h.strike("vaapi:/dev/dri/renderD128", "device lost"));
  EXPECT_TRUE(h.quarantined("vaapi:/dev/dri/renderD128"));
  EXPECT_FALSE(h.quarantined("nvenc:0000:ca:00.0"));
  EXPECT_EQ(h.quarantines_total(), 1);
  EXPECT_EQ(h.strikes_total(), 3);
  EXPECT_EQ(h.quarantined_devices(), std::vector<std::string>{"vaapi:/dev/dri/renderD128"});
}

TEST(DeviceHealth, StrikesAndQuarantinesAreMetrics) {
  FakeClock clock;
  metrics::Registry registry;
  DeviceHealth h({2, 60s}, clock.fn(), &registry);
  h.strike("nvenc:0000:ca:00.0", "lost");
  h.strike("nvenc:0000:ca:00.0", "lost");
  std::string text = registry.exposition();
  EXPECT_NE(text.find("kiln_device_strikes_total{device=\"nvenc:0000:ca:00.0\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("kiln_device_quarantines_total{device=\"nvenc:0000:ca:00.0\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("kiln_device_quarantined{device=\"nvenc:0000:ca:00.0\"} 1"), std::string::npos) << text;
  h.clear("nvenc:0000:ca:00.0");
  EXPECT_NE(registry.exposition().find("kiln_device_quarantined{device=\"nvenc:0000:ca:00.0\"} 0"), std::string::npos);
}

TEST(DeviceHealth, OldStrikesExpire) {
  FakeClock clock;
  DeviceHealth h({2, 60s}, clock.fn());
  h.strike("qsv:x", "a");
  clock.now += 61s;
  EXPECT_FALSE(h.strike("qsv:x", "b"));
  EXPECT_FALSE(h.quarantined("qsv:x"));
}

TEST(DeviceHealth, ATestEncodeLetsTheDeviceBackIn) {
  FakeClock clock;
  DeviceHealth h({1, 60s}, clock.fn());
  EXPECT_TRUE(h.strike("nvenc:a", "lost"));
  h.clear("nvenc:a");
  EXPECT_FALSE(h.quarantined("nvenc:a"));
  EXPECT_TRUE(h.quarantined_devices().empty());
  EXPECT_TRUE(h.strike("nvenc:a", "lost again"));  // strikes were forgotten, the policy was not
  EXPECT_EQ(h.quarantines_total(), 2);
}

}  // namespace
}  // namespace kiln::scheduler

namespace kiln::scheduler {
namespace {

Device software_device() {
  Device d;
  d.backend = "software";
  d.id = "cpu";
  return d;
}

TEST(Recheck, APassingTestEncodeLiftsQuarantine) {
  DeviceHealth h({1, std::chrono::seconds(60)});
  h.strike("software:cpu", "lost");
  ASSERT_TRUE(h.quarantined("software:cpu"));
  EXPECT_EQ(recheck_quarantined(h, {software_device()}, pipeline::test_encode_device), 1);
  EXPECT_FALSE(h.quarantined("software:cpu"));
}

TEST(Recheck, AFailingTestEncodeKeepsIt) {
  setenv("KILN_FAULT", "software:open", 1);
  DeviceHealth h({1, std::chrono::seconds(60)});
  h.strike("software:cpu", "lost");
  EXPECT_EQ(recheck_quarantined(h, {software_device()}, pipeline::test_encode_device), 0);
  unsetenv("KILN_FAULT");
  EXPECT_TRUE(h.quarantined("software:cpu"));
}

}  // namespace
}  // namespace kiln::scheduler
