// The node's device ledger, driven as the node drives it: place, fall back, release. Two
// hardware devices with a session cap of 2 and a software slot of 1, as in a node.toml with
// `max_sessions = 2` and `software_slots = 1`.

#include "scheduler/ledger.hpp"

#include <gtest/gtest.h>

#include <climits>

#include "metrics/registry.hpp"
#include "scheduler/device_health.hpp"

namespace kiln::scheduler {
namespace {

Slot slot(const std::string& backend, const std::string& id, int max_sessions, int max_jobs, double capacity) {
  Slot s;
  s.device.backend = backend;
  s.device.id = id;
  s.max_sessions = max_sessions;
  s.max_jobs = max_jobs;
  s.capacity = capacity;
  return s;
}

std::vector<Slot> two_devices_and_software() {
  return {slot("vaapi", "/dev/dri/renderD128", 2, 0, 1e9), slot("vaapi", "/dev/dri/renderD129", 2, 0, 1e9),
          slot("software", "cpu", 0, 1, 1e8)};
}

Demand rungs(int sessions, double pixels = 5e7) {
  Demand d;
  d.sessions = sessions;
  d.pixels_per_second = pixels;
  return d;
}

const Slot& at(const std::vector<Slot>& slots, const std::string& id) {
  for (const auto& s : slots)
    if (s.device.id == id) return s;
  throw std::runtime_error("no slot " + id);
}

double gauge(const std::string& sample) {
  std::string text = metrics::default_registry().exposition();
  auto p = text.find(sample + " ");
  return p == std::string::npos ? -1 : std::stod(text.substr(p + sample.size() + 1));
}

TEST(Ledger, SpreadsByLoadAndNeverPassesACap) {
  Ledger ledger(two_devices_and_software());
  auto a = ledger.place(1, rungs(2), {}, nullptr);
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  auto b = ledger.place(2, rungs(2), {}, nullptr);
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_NE(a->order.front(), b->order.front()) << "the second job goes to the idle device";
  // Both devices full (2 of 2 sessions): a third 2-rung job can only go to the software slot.
  auto c = ledger.place(3, rungs(2), {}, nullptr);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->order.front(), "software:cpu");
  EXPECT_EQ(c->order.size(), 1u);
  // Nothing left: the fourth is refused, with the reason for every device.
  auto d = ledger.place(4, rungs(1), {}, nullptr);
  ASSERT_FALSE(d.is_ok());
  EXPECT_EQ(d.status().code(), Code::kBusy);
  EXPECT_NE(d.status().message().find("2 of 2 encoder sessions"), std::string::npos) << d.status().message();
  EXPECT_NE(d.status().message().find("1 of 1 job slots"), std::string::npos) << d.status().message();
  EXPECT_EQ(ledger.room(nullptr), 0);
  auto snap = ledger.snapshot();
  for (const auto& s : snap) {
    if (s.max_sessions > 0) {
      EXPECT_LE(s.sessions, s.max_sessions) << s.device.id;
    }
    if (s.max_jobs > 0) {
      EXPECT_LE(s.jobs, s.max_jobs) << s.device.id;
    }
  }
  EXPECT_EQ(at(snap, "/dev/dri/renderD128").sessions + at(snap, "/dev/dri/renderD129").sessions, 4);
}

TEST(Ledger, AnEndedJobGivesEverythingBackAndTheMetricsFollow) {
  Ledger ledger(two_devices_and_software());
  auto a = ledger.place(11, rungs(2, 2e8), {"vaapi:/dev/dri/renderD128"}, nullptr);
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(gauge("kiln_device_sessions{device=\"vaapi:/dev/dri/renderD128\"}"), 2);
  EXPECT_EQ(gauge("kiln_device_jobs{device=\"vaapi:/dev/dri/renderD128\"}"), 1);
  EXPECT_DOUBLE_EQ(gauge("kiln_device_load_ratio{device=\"vaapi:/dev/dri/renderD128\"}"), 0.2);
  ledger.release(11);
  ledger.release(11);  // twice: still nothing below zero
  auto s = at(ledger.snapshot(), "/dev/dri/renderD128");
  EXPECT_EQ(s.sessions, 0);
  EXPECT_EQ(s.jobs, 0);
  EXPECT_EQ(s.load, 0);
  EXPECT_EQ(gauge("kiln_device_sessions{device=\"vaapi:/dev/dri/renderD128\"}"), 0);
  EXPECT_EQ(gauge("kiln_device_load_ratio{device=\"vaapi:/dev/dri/renderD128\"}"), 0);
}

TEST(Ledger, AFallbackMovesTheReservationWhereTheWorkIs) {
  Ledger ledger(two_devices_and_software());
  auto a = ledger.place(21, rungs(1), {"vaapi:/dev/dri/renderD128", "software:cpu"}, nullptr);
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->order, (std::vector<std::string>{"vaapi:/dev/dri/renderD128", "software:cpu"}));
  ledger.moved(21, "software:cpu");
  auto snap = ledger.snapshot();
  EXPECT_EQ(at(snap, "/dev/dri/renderD128").sessions, 0);
  EXPECT_EQ(at(snap, "cpu").jobs, 1);
  ledger.release(21);
  EXPECT_EQ(at(ledger.snapshot(), "cpu").jobs, 0);
}

TEST(Ledger, QuarantinedAndUnlistedDevicesAreNotOffered) {
  Ledger ledger(two_devices_and_software());
  DeviceHealth health(DeviceHealth::Policy{1, std::chrono::seconds(60)});
  health.strike("vaapi:/dev/dri/renderD128", "test");
  auto a = ledger.place(31, rungs(1), {"vaapi:/dev/dri/renderD128", "vaapi:/dev/dri/renderD129"}, &health);
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->order, std::vector<std::string>{"vaapi:/dev/dri/renderD129"});
  // room: 129 has 1 session left, 128 is quarantined, software has its one slot.
  EXPECT_EQ(ledger.room(&health), 2);
}

TEST(Ledger, RediscoveryKeepsTheJobsOfDevicesStillThere) {
  Ledger ledger(two_devices_and_software());
  ASSERT_TRUE(ledger.place(41, rungs(2), {"vaapi:/dev/dri/renderD128"}, nullptr).is_ok());
  ASSERT_TRUE(ledger.place(42, rungs(2), {"vaapi:/dev/dri/renderD129"}, nullptr).is_ok());
  auto fewer = two_devices_and_software();
  fewer.erase(fewer.begin() + 1);  // renderD129 unplugged
  ledger.set_slots(fewer);
  auto snap = ledger.snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(at(snap, "/dev/dri/renderD128").sessions, 2);
  ledger.release(42);  // its device is gone: nothing to give back, nothing breaks
  EXPECT_EQ(at(ledger.snapshot(), "/dev/dri/renderD128").sessions, 2);
}

TEST(Ledger, NoCapMeansRoomWithoutLimit) {
  Ledger ledger({slot("software", "cpu", 0, 0, 1e8)});
  EXPECT_EQ(ledger.room(nullptr), INT32_MAX);
}

}  // namespace
}  // namespace kiln::scheduler
