// Hostile but playable inputs: the defects broadcast captures and phone uploads carry
// (timestamp jumps and wrap-around, a junk aspect ratio, audio gaps, size changes mid-stream).
// Each must publish a ladder that passes every check a player relies on, with its exact
// duration and audio ending with the video, and the result must say what was repaired.
// tests/data/make_media.sh documents how each fixture was made.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/ladder_check.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {
namespace fs = std::filesystem;

struct Hostile {
  std::string label;
  std::string input;
  double duration;      // what the source really holds, seconds
  std::string warning;  // a repair the result must report ("" = none required)
};
void PrintTo(const Hostile& h, std::ostream* os) { *os << h.label; }

class HostileMedia : public ::testing::TestWithParam<Hostile> {};

std::string warnings_of(const fs::path& out) {
  auto result = nlohmann::json::parse(read_file(out / "result.json"));
  std::string all;
  for (const auto& w : result["detail"].value("warnings", nlohmann::json::array())) all += w.value("message", "") + "\n";
  return all;
}

TEST_P(HostileMedia, PublishesAPlayableLadderAndSaysWhatItRepaired) {
  const Hostile& h = GetParam();
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media(h.input).string(), "-o", (tmp / "out").string(), "--log-level", "warn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 640x360 sources: smaller than every default rung, so one rendition at the source's size.
  LadderExpectation expect;
  expect.renditions = {{"360p", 640, 360}};
  expect.duration = h.duration;
  expect.frame_seconds = 1.0 / 25;
  check_ladder(tmp / "out", expect);
  if (!h.warning.empty()) {
    const std::string warnings = warnings_of(tmp / "out");
    EXPECT_NE(warnings.find(h.warning), std::string::npos) << "warnings were:\n" << warnings;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, HostileMedia,
    ::testing::Values(
        // Without the repair: a 90 s frozen picture, or a refusal as truncated.
        Hostile{"ts_timestamp_jump", "ts_jump.ts", 6.0, "1 timestamp discontinuity"},
        Hostile{"ts_clock_wrap", "ts_wrap.ts", 6.0, ""},
        // Without the bound: a 64000x360 scaler, "Invalid argument", exit 1.
        Hostile{"absurd_sample_aspect_ratio", "absurd_sar.mp4", 3.0, "sample aspect ratio 100:1 is not plausible"},
        // Without the resync: audio runs a second early after the gap and ends before the video.
        Hostile{"audio_gap", "audio_gap.mkv", 3.0, "1.00 s of silence inserted"},
        Hostile{"size_change_mid_stream", "size_change.ts", 6.0, ""},
        // Without the crop: "Generic error in an external library" from the scaler, exit 1.
        Hostile{"odd_size_mid_stream", "odd_size_change.mkv", 4.0, "cropped by one pixel"}),
    [](const auto& info) { return info.param.label; });

// The memory ceiling turns an input that needs too much into a refusal (16), not an OOM kill
// or an "internal error", and nothing is left behind.
TEST(Ceilings, AnInputOverTheMemoryCeilingIsRefused) {
#ifdef KILN_SANITIZE
  GTEST_SKIP() << "AddressSanitizer's shadow memory is itself data: the ceiling is not applied in this build";
#endif
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", (tmp / "out").string(),
                          "--max-memory", "120", "--log-level", "warn"});
  EXPECT_EQ(r.exit_code, 16) << r.err;
  EXPECT_NE(r.err.find("more memory than the job's ceiling allows (--max-memory"), std::string::npos) << r.err;
  for (const auto& e : fs::directory_iterator(tmp.path())) ADD_FAILURE() << "left behind: " << e.path();
}

TEST(Ceilings, AJobPastItsWallClockLimitIsStoppedAndRefused) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("long.mp4").string(), "-o", (tmp / "out").string(),
                          "--max-wall-seconds", "1", "--log-level", "warn"});
  EXPECT_EQ(r.exit_code, 16) << r.err;
  EXPECT_NE(r.err.find("ran past its wall-clock limit of 1 s"), std::string::npos) << r.err;
  for (const auto& e : fs::directory_iterator(tmp.path())) ADD_FAILURE() << "left behind: " << e.path();
}

}  // namespace
}  // namespace kiln::test
