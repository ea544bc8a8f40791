// The command line as a user meets it: version, help, ladder selection, presets, overwrite,
// and interruption (SIGINT/SIGTERM publish nothing and leave nothing behind).

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/fmp4.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {
namespace fs = std::filesystem;

TEST(Cli, PrintsVersion) {
  RunResult r = run_kiln({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("kiln ", 0), 0u) << r.out;
}

TEST(Cli, HelpTranscodeDocumentsOptionsAndExitCodes) {
  RunResult r = run_kiln({"help", "transcode"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* s : {"--ladder", "--preset", "--segment-seconds", "--overwrite", "--json", "--backend",
                        "Exit codes"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

TEST(Cli, UsageErrorsExitWithTwo) {
  TempDir tmp;
  EXPECT_EQ(run_kiln({"transcode"}).exit_code, 2);
  RunResult r = run_kiln({"transcode", media("480p.mp4").string(), "-o", (tmp / "o").string(),
                          "--ladder", "huge"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown rendition 'huge'"), std::string::npos) << r.err;
  EXPECT_EQ(run_kiln({"transcode", media("480p.mp4").string(), "-o", (tmp / "o").string(),
                      "--backend", "warp-drive"}).exit_code, 2);
  EXPECT_FALSE(fs::exists(tmp / "o"));
}

TEST(Cli, LadderOptionSelectsRenditions) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp / "o").string(),
                          "--ladder", "360p", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto outputs = nlohmann::json::parse(r.out)["detail"]["outputGroupDetails"][0]["outputDetails"];
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0]["videoDetails"]["heightInPx"], 360);
  EXPECT_EQ(outputs[0]["videoDetails"]["widthInPx"], 640);
}

TEST(Cli, PresetFileControlsSegmentsAndRates) {
  TempDir tmp;
  std::ofstream(tmp / "p.toml") << "segment_seconds = 2.0\ngop_seconds = 1.0\n"
                                   "[[rendition]]\nname = \"small\"\nheight = 240\n"
                                   "video_bitrate = 400000\nx264_preset = \"ultrafast\"\n";
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp / "o").string(),
                          "--preset", (tmp / "p.toml").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  CmafTrack t = read_cmaf_track(tmp / "o" / "small");
  EXPECT_EQ(t.height, 240);
  EXPECT_EQ(t.segments.size(), 3u);  // 6 s in 2 s segments
  size_t keyframes = 0;
  for (const auto& seg : t.segments)
    for (const auto& s : seg) keyframes += s.sync;
  EXPECT_EQ(keyframes, 6u);  // a 1 s GOP
}

TEST(Cli, OverwriteReplacesThePublishedOutput) {
  TempDir tmp;
  fs::create_directory(tmp / "o");
  std::ofstream(tmp / "o" / "stale.txt") << "old";
  RunResult r = run_kiln({"transcode", media("480p.mp4").string(), "-o", (tmp / "o").string(), "--overwrite"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "o" / "stale.txt"));
  EXPECT_TRUE(fs::exists(tmp / "o" / "master.m3u8"));
}

TEST(Cli, NonTerminalProgressIsLogged) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp / "o").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("fps"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("master.m3u8"), std::string::npos) << r.out;
}

// Waits (bounded) until the job has written its first segment into its staging directory.
bool wait_for_first_segment(const fs::path& parent) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& e : fs::directory_iterator(parent))
      if (e.path().filename().string().find(".kiln-staging-") != std::string::npos &&
          fs::exists(e.path() / "480p" / "seg_00001.m4s"))
        return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

class Interrupt : public ::testing::TestWithParam<int> {};

TEST_P(Interrupt, PublishesNothingAndCleansUp) {
  TempDir tmp;
  fs::create_directory(tmp / "jobs");
  fs::create_directory(tmp / "logs");
  int pid = spawn_kiln({"transcode", media("long.mp4").string(), "-o", (tmp / "jobs" / "out").string()},
                       tmp / "logs");
  ASSERT_TRUE(wait_for_first_segment(tmp / "jobs")) << read_file(tmp / "logs" / "stderr");
  kill(pid, GetParam());
  EXPECT_EQ(wait_exit(pid), 128 + GetParam());
  EXPECT_NE(read_file(tmp / "logs" / "stderr").find("nothing was published"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(tmp / "jobs")) << "staging or output left behind";
}

INSTANTIATE_TEST_SUITE_P(Signals, Interrupt, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& info) { return info.param == SIGINT ? "SIGINT" : "SIGTERM"; });

}  // namespace
}  // namespace kiln::test
