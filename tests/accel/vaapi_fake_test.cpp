// The VAAPI backend for real, without a GPU: libdrm (through an LD_PRELOAD shim) reports one
// Intel render node that is a plain file, and libva opens it with the CPU VA driver built by
// the tests (VideoProc only: NV12 surfaces, images, a bilinear scaler). Discovery, the probe,
// av_hwdevice_ctx_create(VAAPI), hwupload, scale_vaapi, hwdownload and the fallback all run.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/ladder_check.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {

class FakeVaapi : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = (tmp_ / "renderD128").string();
    std::ofstream(node_).put('\0');
    setenv("LD_PRELOAD", KILN_FAKE_DRM_SHIM, 1);
    setenv("KILN_FAKE_VA_NODE", node_.c_str(), 1);
    setenv("LIBVA_DRIVERS_PATH", KILN_FAKE_VA_DRIVER_DIR, 1);
    setenv("LIBVA_DRIVER_NAME", "kiln_cpu", 1);
  }
  void TearDown() override {
    for (const char* v : {"LD_PRELOAD", "KILN_FAKE_VA_NODE", "LIBVA_DRIVERS_PATH",
                          "LIBVA_DRIVER_NAME", "KILN_FAULT"})
      unsetenv(v);
  }

  nlohmann::json vaapi_device() {
    RunResult r = run_kiln({"devices", "--check", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto listed = nlohmann::json::parse(r.out);
    for (const auto& d : listed["devices"])
      if (d["backend"] == "vaapi") return d;
    return nullptr;
  }

  TempDir tmp_;
  std::string node_;
};

TEST_F(FakeVaapi, ProbeFindsAVideoProcOnlyDeviceAndItsTestEncodePasses) {
  auto d = vaapi_device();
  ASSERT_FALSE(d.is_null()) << "discovery did not list the fake render node";
  EXPECT_EQ(d["id"], node_);
  EXPECT_EQ(d["pciAddress"], "0000:00:02.0");
  EXPECT_EQ(d["driver"], "kiln_cpu");
  EXPECT_EQ(d["usable"], true) << d["health"];
  EXPECT_TRUE(d["encode"].empty());  // no EncSlice entrypoint: the hybrid recipe
  std::string health = d["health"];
  EXPECT_NE(health.find("hybrid"), std::string::npos) << health;
  EXPECT_NE(health.find("test encode passed"), std::string::npos) << health;
}

TEST_F(FakeVaapi, LadderRunsThroughScaleVaapi) {
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp_ / "out").string(),
                          "--backend", "vaapi", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = nlohmann::json::parse(r.out)["detail"];
  EXPECT_EQ(d["backend"], "vaapi");
  EXPECT_EQ(d["device"], node_);
  EXPECT_EQ(d["recipe"], "hybrid: software decode, upload, scale_vaapi, libx264");
  // Scaled on the device, encoded by libx264: that is not an accelerated job, and the report
  // says where each stage ran.
  EXPECT_EQ(d["accelerationStatus"], "NOT_ACCELERATED") << d.dump(2);
  EXPECT_EQ(d["accelerationReason"], "vaapi 0000:00:02.0 has no H.264 encoder: decoded on cpu, scaled on vaapi "
                                     "0000:00:02.0, encoded by libx264 on the CPU");
  EXPECT_EQ(d["stages"]["decode"]["ranOn"], "cpu");
  EXPECT_EQ(d["stages"]["scale"]["ranOn"].get<std::string>().rfind("vaapi ", 0), 0u) << d["stages"];
  EXPECT_EQ(d["stages"]["encode"]["ranOn"], "cpu");
  EXPECT_EQ(d["stages"]["encode"]["encoder"], "libx264");
  check_ladder(tmp_ / "out", {{{"720p", 1280, 720}, {"480p", 854, 480}}, true, 6.0, 1 / 30.0});
}

TEST_F(FakeVaapi, AutoPrefersTheDeviceAndFallsBackWhenItFailsMidJob) {
  setenv("KILN_FAULT", "vaapi:frame=40", 1);
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp_ / "out").string(),
                          "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = nlohmann::json::parse(r.out)["detail"];
  EXPECT_EQ(d["backend"], "software");
  ASSERT_EQ(d["fallbacks"].size(), 1u);
  EXPECT_NE(d["fallbacks"][0].get<std::string>().find("vaapi (" + node_ + ") failed mid-job"),
            std::string::npos) << d["fallbacks"][0];
  check_ladder(tmp_ / "out", {{{"720p", 1280, 720}, {"480p", 854, 480}}, true, 6.0, 1 / 30.0});
}

TEST_F(FakeVaapi, UnreadableRenderNodeIsListedWithTheFix) {
  // As a service user that may not open the node (root may open anything): nobody, when the
  // tests run as root (CI); otherwise the node's permissions are taken away.
  RunResult r;
  if (geteuid() == 0) {
    r = run_kiln_as(65534, 65534, {"devices", "--json"});
  } else {
    std::filesystem::permissions(node_, std::filesystem::perms::none);
    r = run_kiln({"devices", "--json"});
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto listed = nlohmann::json::parse(r.out);
  nlohmann::json vaapi;
  for (const auto& d : listed["devices"])
    if (d["backend"] == "vaapi") vaapi = d;
  ASSERT_FALSE(vaapi.is_null()) << r.out;
  EXPECT_EQ(vaapi["usable"], false);
  EXPECT_NE(vaapi["health"].get<std::string>().find("permission denied on " + node_ +
                                                     ": add the service user to group render"),
            std::string::npos) << vaapi["health"];
}

}  // namespace
}  // namespace kiln::test
