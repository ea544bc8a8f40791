// The node's rediscovery on hotplug, driven round by round as the heartbeat thread drives it:
// an event brings a discovery and a registration; a failed discovery or a database outage
// only delays them; nothing runs without an event.

#include "node/rediscovery.hpp"

#include <gtest/gtest.h>

namespace kiln::node {
namespace {

Device gpu(const std::string& node) {
  Device d;
  d.backend = "vaapi";
  d.id = node;
  return d;
}

struct Fake {
  int events = 0;                 // hotplug events pending (one is reported per round)
  bool discovery_fails = false;
  std::vector<Device> machine = {gpu("/dev/dri/renderD128")};
  std::vector<std::shared_ptr<const std::vector<Device>>> applied;
  int registrations = 0;
  bool db_refuses = false;

  Rediscovery make() {
    return Rediscovery({[this](std::string* what) {
                          if (events == 0) return false;
                          --events;
                          *what = "add /dev/dri/renderD129";
                          return true;
                        },
                        [this]() -> Result<std::vector<Device>> {
                          if (discovery_fails) return Status(Code::kInternal, "hwloc failed");
                          return machine;
                        },
                        [this](std::shared_ptr<const std::vector<Device>> d) { applied.push_back(std::move(d)); }});
  }
  std::function<Status()> registrar() {
    return [this] {
      ++registrations;
      return db_refuses ? Status(Code::kIo, "database unreachable") : Status::ok();
    };
  }
};

TEST(Rediscovery, NothingHappensWithoutAnEvent) {
  Fake f;
  auto r = f.make();
  auto reg = f.registrar();
  for (int i = 0; i < 3; ++i) r.round(&reg);
  EXPECT_TRUE(f.applied.empty());
  EXPECT_EQ(f.registrations, 0);
  EXPECT_FALSE(r.owed());
}

TEST(Rediscovery, AnEventBringsTheNewDevicesAndRegistersThem) {
  Fake f;
  auto r = f.make();
  auto reg = f.registrar();
  f.machine.push_back(gpu("/dev/dri/renderD129"));
  f.events = 1;
  r.round(&reg);
  ASSERT_EQ(f.applied.size(), 1u);
  EXPECT_EQ(f.applied[0]->size(), 2u);
  EXPECT_EQ(f.applied[0]->back().id, "/dev/dri/renderD129");
  EXPECT_EQ(f.registrations, 1);
  EXPECT_FALSE(r.owed());
  r.round(&reg);
  EXPECT_EQ(f.registrations, 1) << "registered once";
}

TEST(Rediscovery, AFailedDiscoveryIsTriedAgainAndTheEventIsNotLost) {
  Fake f;
  auto r = f.make();
  auto reg = f.registrar();
  f.events = 1;
  f.discovery_fails = true;
  r.round(&reg);
  EXPECT_TRUE(f.applied.empty());
  EXPECT_TRUE(r.owed());
  f.discovery_fails = false;
  r.round(&reg);  // no new event: the owed discovery runs
  EXPECT_EQ(f.applied.size(), 1u);
  EXPECT_EQ(f.registrations, 1);
}

TEST(Rediscovery, ADatabaseOutageDelaysTheRegistrationUntilItIsBack) {
  Fake f;
  auto r = f.make();
  auto reg = f.registrar();
  f.events = 1;
  r.round(nullptr);  // database unreachable: devices applied, registration owed
  EXPECT_EQ(f.applied.size(), 1u);
  EXPECT_EQ(f.registrations, 0);
  EXPECT_TRUE(r.owed());
  f.db_refuses = true;
  r.round(&reg);  // reached, refused: still owed
  EXPECT_EQ(f.registrations, 1);
  EXPECT_TRUE(r.owed());
  f.db_refuses = false;
  r.round(&reg);
  EXPECT_EQ(f.registrations, 2);
  EXPECT_FALSE(r.owed());
  EXPECT_EQ(f.applied.size(), 1u) << "one discovery for one event";
}

}  // namespace
}  // namespace kiln::node
