// Backends and the fallback chain through the real binary: the Vulkan recipe on Mesa's
// lavapipe (hardware frames for real, no GPU needed), fault injection, kiln devices.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "support/ladder_check.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {

const LadderExpectation k1080{{{"720p", 1280, 720}, {"480p", 854, 480}}, true, 6.0, 1 / 30.0};

/// Sets an environment variable for the processes a test starts, and unsets it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

nlohmann::json transcode_json(const TempDir& tmp, std::vector<std::string> extra) {
  std::vector<std::string> args = {"transcode", media("1080p.mp4").string(), "-o",
                                   (tmp / "out").string(), "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run_kiln(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  return nlohmann::json::parse(r.out)["detail"];
}

TEST(Vulkan, LadderOnLavapipePassesTheLadderChecks) {
  TempDir tmp;
  auto d = transcode_json(tmp, {"--backend", "vulkan"});
  ASSERT_FALSE(d.is_null());
  EXPECT_EQ(d["backend"], "vulkan");
  EXPECT_EQ(d["device"], "0");
  EXPECT_EQ(d["accelerationStatus"], "NOT_ACCELERATED");  // lavapipe is the CPU
  EXPECT_NE(d["accelerationReason"].get<std::string>().find("emulated on the CPU"), std::string::npos);
  // The recipe's scale_vulkan really scaled; decode and encode were the CPU's.
  EXPECT_EQ(d["stages"]["scale"]["ranOn"], "vulkan 0") << d["stages"];
  EXPECT_EQ(d["stages"]["decode"]["ranOn"], "cpu");
  EXPECT_EQ(d["stages"]["encode"]["ranOn"], "cpu");
  EXPECT_EQ(d["stages"]["encode"]["encoder"], "libx264");
  check_ladder(tmp / "out", k1080);
}

TEST(Fallback, DeviceFailingMidJobRestartsTheJobOnSoftware) {
  ScopedEnv fault("KILN_FAULT", "vulkan:frame=30");
  TempDir tmp;
  auto d = transcode_json(tmp, {"--device", "vulkan"});
  ASSERT_FALSE(d.is_null());
  EXPECT_EQ(d["status"], "COMPLETE");
  EXPECT_EQ(d["backend"], "software");
  ASSERT_EQ(d["fallbacks"].size(), 1u);
  std::string why = d["fallbacks"][0];
  EXPECT_NE(why.find("vulkan (0) failed mid-job"), std::string::npos) << why;
  EXPECT_NE(why.find("frame 30"), std::string::npos) << why;
  EXPECT_NE(why.find("restarted on software"), std::string::npos) << why;
  check_ladder(tmp / "out", k1080);  // the first attempt left nothing half-written behind
}

TEST(Fallback, DeviceFailingToOpenFallsThroughToSoftware) {
  ScopedEnv fault("KILN_FAULT", "vulkan:open");
  TempDir tmp;
  auto d = transcode_json(tmp, {"--device", "vulkan"});
  ASSERT_FALSE(d.is_null());
  EXPECT_EQ(d["backend"], "software");
  EXPECT_TRUE(d["fallbacks"].empty());
  EXPECT_NE(d["accelerationReason"].get<std::string>().find("vulkan (0): fault injected at open"),
            std::string::npos) << d["accelerationReason"];
  check_ladder(tmp / "out", k1080);
}

TEST(Fallback, ANamedBackendThatFailsFailsTheJobAndPublishesNothing) {
  ScopedEnv fault("KILN_FAULT", "vulkan:frame=10");
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp / "out").string(),
                          "--backend", "vulkan"});
  EXPECT_EQ(r.exit_code, 23) << r.err;  // device_lost
  EXPECT_NE(r.err.find("fault injected at frame 10"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "out"));
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) ADD_FAILURE() << "left: " << e.path();
}

TEST(Devices, ThisMachineListsSoftwareLastAsJson) {
  RunResult r = run_kiln({"devices", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_FALSE(j["devices"].empty());
  EXPECT_EQ(j["devices"].back()["backend"], "software");
  EXPECT_EQ(j["topology"]["fromFile"], false);
}

TEST(Devices, CheckRunsATestEncodeOnEveryUsableDevice) {
  RunResult r = run_kiln({"devices", "--check", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int checked = 0;
  const auto listed = nlohmann::json::parse(r.out);
  for (const auto& d : listed["devices"]) {
    if (!d["usable"].get<bool>()) continue;
    EXPECT_NE(d["health"].get<std::string>().find("test encode passed"), std::string::npos) << d;
    ++checked;
  }
  EXPECT_GE(checked, 1);  // software at least
  ScopedEnv fault("KILN_FAULT", "software:open");
  RunResult broken = run_kiln({"devices", "--check", "--json"});
  auto sw = nlohmann::json::parse(broken.out)["devices"].back();
  EXPECT_EQ(sw["usable"], false);
  EXPECT_NE(sw["health"].get<std::string>().find("test encode failed"), std::string::npos) << sw;
}

TEST(Devices, PlansAServerFromItsTopologyAndNodeConfig) {
  RunResult r = run_kiln({"devices", "--json", "--topology",
                          std::string(KILN_HWLOC_FIXTURES) + "/2s-2numa-1intel-2nvidia.xml",
                          "--config", std::string(KILN_SOURCE_DIR) + "/config/node.toml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["topology"]["fromFile"], true);
  // Where each GPU sits, whatever backends this build has: the Flex on socket 0, the L4s on 1.
  std::map<std::string, std::pair<int, std::string>> where;
  for (const auto& g : j["topology"]["gpus"]) where[g["pciAddress"]] = {g["numaNode"], g["localCpus"]};
  EXPECT_EQ(where.size(), 3u);
  EXPECT_EQ(where["0000:4d:00.0"], std::make_pair(0, std::string("0-7")));
  EXPECT_EQ(where["0000:ca:00.0"], std::make_pair(1, std::string("8-15")));
  EXPECT_EQ(where["0000:e1:00.0"], std::make_pair(1, std::string("8-15")));
  // What the shipped node.toml makes of them, device by device.
  std::map<std::string, nlohmann::json> placed;  // "backend pci" -> placement
  for (const auto& d : j["devices"]) placed[d["backend"].get<std::string>() + " " + d["pciAddress"].get<std::string>()] = d["placement"];
  ASSERT_TRUE(placed.count("software ")) << r.out;
  EXPECT_EQ(placed["software "]["maxJobs"], 1);  // software_slots = 1
  EXPECT_EQ(j["devices"].back()["backend"], "software");
#if KILN_WITH_NVENC
  for (const char* l4 : {"nvenc 0000:ca:00.0", "nvenc 0000:e1:00.0"}) {
    ASSERT_TRUE(placed.count(l4)) << l4 << "\n" << r.out;
    EXPECT_EQ(placed[l4]["bindCpus"], "8-15") << l4;   // numa = "cpus" in the rule
    EXPECT_EQ(placed[l4]["bindNumaNode"], -1) << l4;
    EXPECT_EQ(placed[l4]["codecs"], nlohmann::json::array({"h264"})) << l4;
  }
#else
  for (const auto& [key, p] : placed) EXPECT_EQ(key.rfind("nvenc ", 0), std::string::npos) << "built without NVENC: " << key;
#endif
#if KILN_WITH_QSV
  ASSERT_TRUE(placed.count("qsv 0000:4d:00.0")) << r.out;
  EXPECT_EQ(placed["qsv 0000:4d:00.0"]["maxSessions"], 16);
  EXPECT_EQ(placed["qsv 0000:4d:00.0"]["bindCpus"], "0-7");  // numa = "local": the Flex's socket
  EXPECT_EQ(placed["qsv 0000:4d:00.0"]["bindNumaNode"], 0);
#endif
#if KILN_WITH_VAAPI
  ASSERT_TRUE(placed.count("vaapi 0000:4d:00.0")) << r.out;
  EXPECT_EQ(placed["vaapi 0000:4d:00.0"]["enabled"], false);  // QSV owns the Flex
#endif
  RunResult table = run_kiln({"devices", "--topology", "/nonexistent.xml"});
  EXPECT_EQ(table.exit_code, 2);
  EXPECT_NE(table.err.find("/nonexistent.xml"), std::string::npos);
}

TEST(NodeConfig, NoSoftwareSlotsAndNoDeviceRefusesTheJob) {
  TempDir tmp;
  std::string cfg = (tmp / "node.toml").string();
  {
    std::FILE* f = std::fopen(cfg.c_str(), "w");
    std::fputs("[node]\nsoftware_slots = 0\n", f);
    std::fclose(f);
  }
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp / "out").string(),
                          "--node-config", cfg});
  EXPECT_EQ(r.exit_code, 24) << r.err;  // busy: nothing may take it
  EXPECT_NE(r.err.find("no device can take this job"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "out"));
}

}  // namespace
}  // namespace kiln::test
