// The measured-capacity state file (kiln bench --recommend writes it, the node reads it) and
// what placement makes of it: node.toml beats the measurement, the measurement beats the
// built-in estimate, and each slot says which one it used.

#include "scheduler/capacity_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kiln/node_config.hpp"
#include "scheduler/placement.hpp"

namespace kiln::scheduler {
namespace {

namespace fs = std::filesystem;

class CapacityFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-cap-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

Device device(const std::string& backend, const std::string& id) {
  Device d;
  d.backend = backend;
  d.id = id;
  d.usable = true;
  d.capacity = 8;  // software: CPU threads
  return d;
}

TEST_F(CapacityFile, RoundTripsWhatBenchWrites) {
  Measurements m;
  m.measured_at = "2026-12-04T21:00:00Z";
  m.command = "kiln bench --mode sweep --recommend";
  m.devices["vaapi:/dev/dri/renderD128"] = {"vaapi", "/dev/dri/renderD128", "0000:4d:00.0", "Flex 170", 5.7e7, 4, 2, "480p,240p"};
  ASSERT_TRUE(save_measurements(path("capacity.json"), m).is_ok());
  EXPECT_FALSE(fs::exists(path("capacity.json.tmp")));
  auto back = load_measurements(path("capacity.json"));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->measured_at, m.measured_at);
  ASSERT_EQ(back->devices.count("vaapi:/dev/dri/renderD128"), 1u);
  const auto& d = back->devices.at("vaapi:/dev/dri/renderD128");
  EXPECT_DOUBLE_EQ(d.capacity, 5.7e7);
  EXPECT_EQ(d.sessions, 4);
  EXPECT_EQ(d.jobs, 2);
  EXPECT_EQ(d.pci_address, "0000:4d:00.0");
}

TEST_F(CapacityFile, AMissingFileIsNoMeasurementAndABadOneSaysWhatIsWrong) {
  auto none = load_measurements(path("absent.json"));
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->devices.empty());
  std::ofstream(path("junk.json")) << "not json";
  auto junk = load_measurements(path("junk.json"));
  ASSERT_FALSE(junk.is_ok());
  EXPECT_EQ(junk.status().code(), Code::kUsage);
  EXPECT_NE(junk.status().message().find(path("junk.json")), std::string::npos) << junk.status().message();
  EXPECT_NE(junk.status().message().find("not JSON"), std::string::npos);
  std::ofstream(path("old.json")) << R"({"format": 7, "devices": []})";
  auto old = load_measurements(path("old.json"));
  ASSERT_FALSE(old.is_ok());
  EXPECT_NE(old.status().message().find("format 7"), std::string::npos) << old.status().message();
  std::ofstream(path("short.json")) << R"({"format": 1, "devices": [{"backend": "vaapi", "id": "x"}]})";
  auto missing = load_measurements(path("short.json"));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("capacityPixelsPerSecond"), std::string::npos) << missing.status().message();
  std::ofstream(path("neg.json")) << R"({"format": 1, "devices": [{"backend": "vaapi", "id": "x", "capacityPixelsPerSecond": -1}]})";
  EXPECT_FALSE(load_measurements(path("neg.json")).is_ok());
}

TEST_F(CapacityFile, ConfiguredBeatsMeasuredBeatsEstimate) {
  Measurements m;
  m.devices["vaapi:/dev/dri/renderD128"] = {"vaapi", "/dev/dri/renderD128", "", "", 7e7, 4, 2, ""};
  m.devices["vaapi:/dev/dri/renderD129"] = {"vaapi", "/dev/dri/renderD129", "", "", 8e7, 6, 3, ""};
  m.devices["software:cpu"] = {"software", "cpu", "", "", 3e7, 0, 2, ""};
  auto config = parse_node_config("[[device]]\nmatch = { render_node = \"renderD129\" }\ncapacity = 9e8\nmax_sessions = 3\n", "n.toml");
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  Device a = device("vaapi", "/dev/dri/renderD128"), b = device("vaapi", "/dev/dri/renderD129"),
         c = device("vaapi", "/dev/dri/renderD130"), sw = device("software", "cpu");
  a.render_node = a.id;
  b.render_node = b.id;
  c.render_node = c.id;
  auto slots = make_slots({a, b, c, sw}, *config, &m);
  ASSERT_EQ(slots.size(), 4u);
  EXPECT_EQ(slots[0].capacity_source, "measured");
  EXPECT_DOUBLE_EQ(slots[0].capacity, 7e7);
  EXPECT_EQ(slots[0].max_sessions, 4);       // measured: two 2-rung jobs in real time
  EXPECT_EQ(slots[1].capacity_source, "configured");
  EXPECT_DOUBLE_EQ(slots[1].capacity, 9e8);
  EXPECT_EQ(slots[1].max_sessions, 3);       // node.toml's own cap wins
  EXPECT_EQ(slots[2].capacity_source, "estimate");
  EXPECT_EQ(slots[2].max_sessions, 0);
  EXPECT_EQ(slots[3].capacity_source, "measured");
  EXPECT_EQ(slots[3].max_jobs, 2);           // software_slots unset: the measured density
  NodeConfig pinned;
  pinned.software_slots = 1;
  EXPECT_EQ(make_slots({sw}, pinned, &m)[0].max_jobs, 1);  // ...unless the config says
  EXPECT_EQ(make_slots({a}, NodeConfig{}, nullptr)[0].capacity_source, "estimate");
}

}  // namespace
}  // namespace kiln::scheduler
