// kiln bench end to end on a 2 s source (label bench-smoke), so the suite never rots. No
// timing is asserted: only that every mode ran and every output is there and well formed.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

#include "support/run.hpp"

namespace kiln::test {
namespace {

TEST(BenchSmoke, EveryModeProducesItsOutputs) {
  TempDir tmp;
  RunResult r = run_kiln({"bench", "--duration", "2", "--runs", "1", "--mode", "all", "--max-concurrency", "2",
                          "--threads-list", "1", "--peers", "ffmpeg,naive,gstreamer", "--out",
                          (tmp / "b").string(), "--recommend"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(read_file(tmp / "b" / "bench.json"));
  for (const char* tool : {"kiln", "ffmpeg", "naive"}) {
    ASSERT_TRUE(j["single"].contains(tool)) << tool;
    EXPECT_GT(j["single"][tool]["wallSeconds"]["median"].get<double>(), 0) << tool;
    EXPECT_GT(j["single"][tool]["peakRssMiB"]["median"].get<double>(), 0) << tool;
  }
  EXPECT_GT(j["single"]["kiln"]["stageSeconds"]["decode"].get<double>(), 0);
  EXPECT_GT(j["ratios"]["ffmpeg/kiln wall"].get<double>(), 0);
  // Every tool that ran has its renditions scored, not only kiln.
  for (const char* tool : {"kiln", "ffmpeg", "naive"})
    for (const char* rung : {"720p", "480p"}) {
      ASSERT_TRUE(j["quality"][tool][rung]["ssim"].is_number()) << tool << " " << rung << ": " << j["quality"].dump();
      EXPECT_GT(j["quality"][tool][rung]["ssim"].get<double>(), 0.9) << tool << " " << rung;
      EXPECT_GT(j["quality"][tool][rung]["psnr"].get<double>(), 30) << tool << " " << rung;
    }
  EXPECT_TRUE(j["pairedRatios"]["kiln/ffmpeg"]["wall"]["median"].is_number());
  EXPECT_GT(j["single"]["ffmpeg"]["cpuSeconds"]["median"].get<double>(), 0);
  EXPECT_GT(j["single"]["kiln"]["coresBusy"]["median"].get<double>(), 0);
  // GStreamer was asked for: it either ran (labelled as doing less work than kiln) or the table
  // and the JSON say why not. CI has no GStreamer, so there the second branch is what runs.
  ASSERT_TRUE(j["peers"].contains("gstreamer")) << j["peers"].dump();
  const auto& gst = j["peers"]["gstreamer"];
  EXPECT_NE(gst["work"].get<std::string>().find("LESS work"), std::string::npos);
  bool gst_installed = std::system("command -v gst-launch-1.0 >/dev/null 2>&1") == 0;
  if (gst["ran"].get<bool>()) {
    EXPECT_TRUE(gst_installed);
    EXPECT_TRUE(j["single"].contains("gstreamer"));
    EXPECT_NE(r.out.find("gstreamer: LESS work"), std::string::npos) << r.out;
  } else {
    EXPECT_FALSE(j["single"].contains("gstreamer"));
    ASSERT_TRUE(gst.contains("why"));
    EXPECT_FALSE(gst["why"].get<std::string>().empty());
    EXPECT_NE(r.out.find("gstreamer: NOT RUN: "), std::string::npos) << r.out;
    if (!gst_installed) {
      EXPECT_NE(gst["why"].get<std::string>().find("not installed"), std::string::npos);
    }
  }
  EXPECT_EQ(j["threads"].size(), 1u);
  ASSERT_EQ(j["sweep"].size(), 1u);
  EXPECT_EQ(j["sweep"][0]["backend"], "software");
  EXPECT_GE(j["sweep"][0]["points"].size(), 1u);
  EXPECT_FALSE(j["machine"]["cpu"].get<std::string>().empty());
  EXPECT_NE(j["command"].get<std::string>().find("bench"), std::string::npos);
  EXPECT_NE(read_file(tmp / "b" / "bench.csv").find("tool,concurrency"), std::string::npos);
  EXPECT_EQ(read_file(tmp / "b" / "sweep.svg").rfind("<svg", 0), 0u);
  EXPECT_NE(r.out.find("software_slots ="), std::string::npos) << r.out;  // --recommend
  EXPECT_NE(r.out.find("ffmpeg/kiln wall"), std::string::npos) << r.out;
}

// Two devices that run without a GPU (the CPU VA driver behind two fake render nodes, as in the
// node's six-job test): each is swept alone, then both at once through the node's own ledger.
// The ledger never lets a device hold more sessions than measured, refuses the job that does
// not fit, and --recommend writes a capacity file that kiln devices reads back as "measured".
TEST(BenchSmoke, TwoDevicesThroughTheNodesPlacement) {
#ifndef KILN_FAKE_DRM_SHIM
  GTEST_SKIP() << "built without VAAPI: no fake render nodes";
#else
  TempDir tmp;
  const auto a = tmp / "renderD128", b = tmp / "renderD129";
  std::ofstream(a).put('\0');
  std::ofstream(b).put('\0');
  setenv("LD_PRELOAD", KILN_FAKE_DRM_SHIM, 1);
  setenv("KILN_FAKE_VA_NODES", (a.string() + "=0000:4d:00.0," + b.string() + "=0000:ca:00.0").c_str(), 1);
  setenv("LIBVA_DRIVERS_PATH", KILN_FAKE_VA_DRIVER_DIR, 1);
  setenv("LIBVA_DRIVER_NAME", "kiln_cpu", 1);
  setenv("HWLOC_XMLFILE", KILN_SOURCE_DIR "/tests/accel/fixtures/2s-2numa-2flex.xml", 1);
  const auto cap = tmp / "capacity.json";
  RunResult r = run_kiln({"bench", "--duration", "2", "--runs", "1", "--mode", "sweep", "--devices", "vaapi",
                          "--max-concurrency", "1", "--ladder", "480p,240p", "--out", (tmp / "b").string(),
                          "--recommend", "--capacity-file", cap.string()});
  std::ofstream(tmp / "node.toml") << "[node]\ncapacity_file = \"" << cap.string() << "\"\n";
  RunResult devices = run_kiln({"devices", "--json", "--config", (tmp / "node.toml").string()});
  for (const char* v : {"LD_PRELOAD", "KILN_FAKE_VA_NODES", "LIBVA_DRIVERS_PATH", "LIBVA_DRIVER_NAME", "HWLOC_XMLFILE"})
    unsetenv(v);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(read_file(tmp / "b" / "bench.json"));
  ASSERT_EQ(j["sweep"].size(), 2u) << j["sweep"].dump();
  for (const auto& s : j["sweep"]) EXPECT_GT(s["capacityPixelsPerSecond"].get<double>(), 0) << s.dump();
  const auto& points = j["placed"]["points"];
  ASSERT_GE(points.size(), 3u) << j["placed"].dump(2);
  for (const auto& p : points)
    for (const auto& d : p["devices"]) {
      EXPECT_GT(d["maxSessions"].get<int>(), 0) << d;
      EXPECT_LE(d["mostSessions"].get<int>(), d["maxSessions"].get<int>()) << p.dump();
    }
  // Two jobs, two idle devices: one each. One more than they hold: refused, not squeezed in.
  EXPECT_EQ(points[1]["devices"][0]["jobs"], 1) << points[1].dump();
  EXPECT_EQ(points[1]["devices"][1]["jobs"], 1) << points[1].dump();
  EXPECT_EQ(points.back()["refused"], 1) << points.back().dump();
  EXPECT_GT(j["placed"]["efficiencyAtDensity"].get<double>(), 0);
  EXPECT_NE(r.out.find("placed by the node's ledger"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("capacity = "), std::string::npos) << r.out;
  // The node's view of the same file: capacity and caps measured, not estimated.
  ASSERT_EQ(devices.exit_code, 0) << devices.err;
  auto listed = nlohmann::json::parse(devices.out);
  auto measured = nlohmann::json::parse(read_file(cap));
  int seen = 0;
  for (const auto& d : listed["devices"]) {
    if (d["backend"] != "vaapi") continue;
    ++seen;
    EXPECT_EQ(d["placement"]["capacitySource"], "measured") << d.dump();
    for (const auto& m : measured["devices"])
      if (m["id"] == d["id"]) {
        EXPECT_EQ(d["placement"]["maxSessions"], m["sessions"]) << d.dump();
        EXPECT_DOUBLE_EQ(d["placement"]["capacityPixelsPerSecond"].get<double>(), m["capacityPixelsPerSecond"].get<double>());
      }
  }
  EXPECT_EQ(seen, 2) << devices.out;
#endif
}

}  // namespace
}  // namespace kiln::test
