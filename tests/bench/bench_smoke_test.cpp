// kiln bench end to end on a 2 s source (label bench-smoke), so the suite never rots. No
// timing is asserted: only that every mode ran and every output is there and well formed.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
  EXPECT_GT(j["quality"]["720p"]["ssim"].get<double>(), 0.9);
  EXPECT_GT(j["quality"]["480p"]["psnr"].get<double>(), 30);
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

}  // namespace
}  // namespace kiln::test
