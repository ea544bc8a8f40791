// Placement on the fixture servers with config/node.toml: the sets and choices a node would
// make there (binding calls do nothing on an XML topology, so the computed sets are checked).

#include "scheduler/placement.hpp"

#include <gtest/gtest.h>

#include "kiln/node_config.hpp"
#include "scheduler/device_health.hpp"
#include "scheduler/ledger.hpp"

namespace kiln::scheduler {
namespace {

std::vector<Device> devices_of(const std::string& fixture) {
  auto t = load_topology(std::string(KILN_HWLOC_FIXTURES) + "/" + fixture);
  EXPECT_TRUE(t.is_ok());
  return t.is_ok() ? discover_devices(*t) : std::vector<Device>{};
}

NodeConfig example_config() {
  auto c = load_node_config(std::string(KILN_SOURCE_DIR) + "/config/node.toml");
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return c.is_ok() ? *c : NodeConfig{};
}

const Slot* find(const std::vector<Slot>& slots, const std::string& backend, const std::string& id) {
  for (const auto& s : slots)
    if (s.device.backend == backend && s.device.id == id) return &s;
  return nullptr;
}

Demand ladder_demand() {
  Demand d;
  d.sessions = 2;
  d.pixels_per_second = (1280.0 * 720 + 854.0 * 480) * 30;
  return d;
}

#if KILN_WITH_NVENC && KILN_WITH_QSV && KILN_WITH_VAAPI
TEST(Placement, ExampleConfigOnTheTwoSocketServer) {
  auto slots = make_slots(devices_of("2s-2numa-1intel-2nvidia.xml"), example_config());
  const Slot* qsv = find(slots, "qsv", "/dev/dri/renderD128");
  const Slot* vaapi = find(slots, "vaapi", "/dev/dri/renderD128");
  const Slot* l4a = find(slots, "nvenc", "0000:ca:00.0");
  const Slot* sw = find(slots, "software", "cpu");
  ASSERT_TRUE(qsv && vaapi && l4a && sw);
  EXPECT_TRUE(qsv->enabled);
  EXPECT_EQ(qsv->max_sessions, 16);
  EXPECT_EQ(qsv->bind_cpus, "0-7");  // numa = "local": the Flex's socket
  EXPECT_EQ(qsv->bind_numa, 0);
  EXPECT_FALSE(vaapi->enabled);      // QSV owns the Flex
  EXPECT_EQ(l4a->bind_cpus, "8-15"); // numa = "cpus"
  EXPECT_EQ(l4a->bind_numa, -1);
  EXPECT_EQ(l4a->codecs, std::vector<std::string>{"h264"});
  EXPECT_EQ(sw->max_jobs, 1);        // software_slots = 1

  std::vector<std::string> left;
  auto ranked = rank(ladder_demand(), slots, nullptr, &left);
  ASSERT_GE(ranked.size(), 4u);
  EXPECT_EQ(slots[ranked.back().slot].device.backend, "software");
  // The Intel GPU is slower than an L4 by default capacity, so the L4s go first; all three
  // are pinned by rules.
  EXPECT_EQ(slots[ranked[0].slot].device.backend, "nvenc");
  bool vaapi_disabled_noted = false;
  for (const auto& l : left) vaapi_disabled_noted |= l.find("disabled by") != std::string::npos;
  EXPECT_TRUE(vaapi_disabled_noted);
}

// Load, sessions and jobs come from the ledger, as in the node: jobs placed, not numbers set.
TEST(Placement, LeastLoadedOfTwoEqualGpusWins) {
  Ledger ledger(make_slots(devices_of("2s-2numa-1intel-2nvidia.xml"), example_config()));
  Demand d = ladder_demand();
  d.selector = "nvenc";
  auto first = ledger.place(1, d, {}, nullptr);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  auto second = ledger.place(2, d, {}, nullptr);
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_NE(first->order.front(), second->order.front()) << "the second L4 is the less loaded";
  EXPECT_EQ(second->bind_cpus, "8-15");
  // The first job ends: its L4 is the idle one again, and the next job goes there.
  ledger.release(1);
  auto third = ledger.place(3, d, {}, nullptr);
  ASSERT_TRUE(third.is_ok());
  EXPECT_EQ(third->order.front(), first->order.front());
  const auto snap = ledger.snapshot();
  EXPECT_EQ(find(snap, "nvenc", "0000:ca:00.0")->jobs + find(snap, "nvenc", "0000:e1:00.0")->jobs, 2);
}

TEST(Placement, SessionCapMakesADeviceBusy) {
  Ledger ledger(make_slots(devices_of("2s-2numa-1intel-2nvidia.xml"), example_config()));
  Demand d = ladder_demand();
  d.selector = "0000:4d:00.0";  // the Flex: QSV, max_sessions = 16 in the example config
  for (int64_t job = 1; job <= 8; ++job) {  // 8 two-rung jobs: 16 sessions, the cap
    auto p = ledger.place(job, d, {}, nullptr);
    ASSERT_TRUE(p.is_ok()) << "job " << job << ": " << p.status().to_string();
    EXPECT_EQ(p->order.front(), "qsv:/dev/dri/renderD128");
  }
  EXPECT_EQ(find(ledger.snapshot(), "qsv", "/dev/dri/renderD128")->sessions, 16);
  auto refused = ledger.place(9, d, {}, nullptr);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kBusy);
  EXPECT_NE(refused.status().message().find("busy: 16 of 16 encoder sessions in use, the job needs 2"),
            std::string::npos) << refused.status().message();
  ledger.release(4);  // one ends: a place opens
  EXPECT_TRUE(ledger.place(9, d, {}, nullptr).is_ok());
}

TEST(Placement, CodecRulesAndQuarantineExcludeDevices) {
  auto slots = make_slots(devices_of("2s-2numa-1intel-2nvidia.xml"), example_config());
  Demand d = ladder_demand();
  d.codec = "hevc";  // the L4s are limited to h264 by the config
  for (const auto& c : rank(d, slots, nullptr, nullptr))
    EXPECT_NE(slots[c.slot].device.backend, "nvenc");
  DeviceHealth health({1, std::chrono::seconds(60)});
  health.strike("nvenc:0000:ca:00.0", "lost");
  for (const auto& c : rank(ladder_demand(), slots, &health, nullptr))
    EXPECT_NE(slots[c.slot].device.id, "0000:ca:00.0");
}
#endif

TEST(Placement, WithoutConfigEveryDeviceIsUsableAndLocal) {
  auto slots = make_slots(devices_of("1s-igpu-1nvidia.xml"), NodeConfig{});
  for (const auto& s : slots) {
    EXPECT_TRUE(s.enabled) << s.device.id;
    EXPECT_FALSE(s.rule.has_value());
    if (s.device.backend != "software") {
      EXPECT_EQ(s.bind_cpus, "0-15") << s.device.id;
    }
  }
  const Slot* sw = find(slots, "software", "cpu");
  ASSERT_TRUE(sw);
  EXPECT_EQ(sw->max_jobs, 4);  // 16 threads / 4
}

TEST(Placement, SoftwareSlotsZeroMeansNeverSoftware) {
  NodeConfig c;
  c.software_slots = 0;
  auto slots = make_slots(devices_of("1s-2core-nogpu.xml"), c);
  std::vector<std::string> left;
  EXPECT_TRUE(rank(ladder_demand(), slots, nullptr, &left).empty());
}

TEST(Placement, CostIsOutputPixelsPerSecond) {
  std::vector<PlannedRendition> plan(2);
  plan[0].width = 1280;
  plan[0].height = 720;
  plan[1].width = 854;
  plan[1].height = 480;
  EXPECT_DOUBLE_EQ(output_pixel_rate(plan, 30), (1280.0 * 720 + 854.0 * 480) * 30);
  EXPECT_DOUBLE_EQ(output_pixel_rate(plan, 0), output_pixel_rate(plan, 30));  // unknown rate: 30
}

TEST(NodeConfig, ErrorsNameTheBlockAndKey) {
  auto bad = parse_node_config("[[device]]\nmatch = { pci = \"0000:01:00.0\" }\nnuma = \"far\"\n", "n.toml");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("n.toml: [[device]] #1: numa = 'far'"), std::string::npos)
      << bad.status().message();
  auto nomatch = parse_node_config("[[device]]\nenabled = false\n", "n.toml");
  ASSERT_FALSE(nomatch.is_ok());
  EXPECT_NE(nomatch.status().message().find("match"), std::string::npos);
  auto syntax = parse_node_config("[node\n", "n.toml");
  ASSERT_FALSE(syntax.is_ok());
  EXPECT_NE(syntax.status().message().find("n.toml:1:"), std::string::npos);
  auto cpus = parse_node_config("[[device]]\nmatch = { vendor = \"intel\" }\nnuma = \"cpus\"\n", "n.toml");
  EXPECT_FALSE(cpus.is_ok());
}

TEST(NodeConfig, RulesMatchOnEveryKeyGiven) {
  auto c = parse_node_config(
      "[[device]]\nmatch = { vendor = \"nvidia\", backend = \"nvenc\" }\nmax_sessions = 3\n"
      "[[device]]\nmatch = { render_node = \"renderD128\" }\nenabled = false\n", "n.toml");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  Device nv;
  nv.backend = "nvenc";
  nv.vendor = "nvidia";
  ASSERT_NE(rule_for(*c, nv), nullptr);
  EXPECT_EQ(rule_for(*c, nv)->max_sessions, 3);
  nv.backend = "vulkan";
  EXPECT_EQ(rule_for(*c, nv), nullptr);
  Device va;
  va.backend = "vaapi";
  va.render_node = "/dev/dri/renderD128";
  ASSERT_NE(rule_for(*c, va), nullptr);
  EXPECT_FALSE(rule_for(*c, va)->enabled);
}

}  // namespace
}  // namespace kiln::scheduler

#include "coordinator/config.hpp"

namespace kiln::coordinator {
namespace {

TEST(CoordinatorConfig, ShippedExampleParses) {
  auto c = load_config(std::string(KILN_SOURCE_DIR) + "/config/coordinator.toml");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->listen_port, 8080);
  ASSERT_EQ(c->receivers.size(), 3u);
  EXPECT_EQ(c->receivers[2].type, "alertmanager");
}

TEST(CoordinatorConfig, ErrorsNameTheReceiver) {
  auto c = parse_config("[database]\nurl = \"postgresql://x\"\n[[receiver]]\nname = \"a\"\ntype = \"pager\"\nurl = \"http://x\"\n", "c.toml");
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("c.toml: [[receiver]] #1: type = 'pager'"), std::string::npos) << c.status().message();
  EXPECT_FALSE(parse_config("[api]\nlisten = \"x:1\"\n", "c.toml").is_ok());  // no database
}

}  // namespace
}  // namespace kiln::coordinator
