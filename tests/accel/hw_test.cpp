// Ladders on real GPUs (label hw): each backend runs the default ladder when `kiln devices`
// finds a usable device for it, and skips with the reason otherwise (CI has no GPU).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/ladder_check.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {

class HardwareLadder : public ::testing::TestWithParam<std::string> {};

TEST_P(HardwareLadder, RunsTheDefaultLadderOnTheDevice) {
  const std::string backend = GetParam();
  RunResult devices = run_kiln({"devices", "--json"});
  ASSERT_EQ(devices.exit_code, 0) << devices.err;
  std::string reasons;
  bool found = false;
  const auto listed = nlohmann::json::parse(devices.out);
  for (const auto& d : listed["devices"]) {
    if (d["backend"] != backend) continue;
    if (d["usable"].get<bool>()) found = true;
    else reasons += d["id"].get<std::string>() + ": " + d["health"].get<std::string>() + "; ";
  }
  if (!found)
    GTEST_SKIP() << "no usable " << backend << " device on this machine"
                 << (reasons.empty() ? std::string(" (none found, or not built)") : ": " + reasons);
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp / "out").string(),
                          "--backend", backend, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = nlohmann::json::parse(r.out)["detail"];
  EXPECT_EQ(d["backend"], backend);
  // The encode itself ran on the device (h264_vaapi, h264_qsv, h264_nvenc): a hybrid recipe
  // that scaled there and encoded with libx264 fails here, with the report's reason.
  EXPECT_EQ(d["accelerationStatus"], "ACCELERATED") << d["accelerationReason"];
  EXPECT_EQ(d["stages"]["encode"]["encoder"], "h264_" + backend) << d["stages"];
  EXPECT_NE(d["stages"]["encode"]["ranOn"], "cpu") << d["stages"];
  check_ladder(tmp / "out", {{{"720p", 1280, 720}, {"480p", 854, 480}}, true, 6.0, 1 / 30.0});
}

INSTANTIATE_TEST_SUITE_P(Backends, HardwareLadder, ::testing::Values("vaapi", "qsv", "nvenc"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kiln::test
