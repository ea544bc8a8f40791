// End to end: `kiln transcode` on generated sources of every shape the issue lists; each output
// must pass check_ladder (sizes, aligned IDR segments, durations, A/V sync, manifests).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/ladder_check.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {

struct Case {
  std::string input;
  LadderExpectation expect;
};
// Keeps ctest's test names readable (gtest would otherwise print the struct's bytes).
void PrintTo(const Case& c, std::ostream* os) { *os << c.input; }

const ExpectedRendition k720{"720p", 1280, 720};
const ExpectedRendition k480{"480p", 854, 480};

class TranscodeTest : public ::testing::TestWithParam<Case> {};

TEST_P(TranscodeTest, PublishesAPlayableLadder) {
  const Case& c = GetParam();
  TempDir tmp;
  auto out = tmp / "out";
  RunResult r = run_kiln({"transcode", media(c.input).string(), "-o", out.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["detail"]["status"], "COMPLETE");
  check_ladder(out, c.expect);
}

INSTANTIATE_TEST_SUITE_P(
    Sources, TranscodeTest,
    ::testing::Values(
        Case{"1080p.mp4", {{k720, k480}, true, 6.0, 1 / 30.0}},
        Case{"anamorphic.mp4", {{{"480p", 854, 480}}, true, 4.0, 1 / 25.0}},
        Case{"odd.mp4", {{{"362p", 640, 362}}, true, 3.0, 1 / 30.0}},
        Case{"rotated.mp4", {{{"720p", 720, 1280}, {"480p", 480, 854}}, true, 3.0, 1 / 30.0}},
        Case{"noaudio.mp4", {{k720, k480}, false, 3.0, 1 / 30.0}},
        Case{"surround51.mp4", {{k720, k480}, true, 3.0, 1 / 30.0}},
        Case{"10bit422.mp4", {{k720, k480}, true, 3.0, 1 / 30.0}},
        Case{"vfr.mkv", {{k720, k480}, true, 4.0, 0.1}},
        Case{"interlaced.ts", {{{"480p", 640, 480}}, true, 4.0, 1 / 25.0}},
        Case{"vp9.webm", {{k720, k480}, true, 3.0, 1 / 30.0}},
        Case{"hevc.mkv", {{k720, k480}, true, 3.0, 1 / 30.0}},
        Case{"480p.mp4", {{k480}, true, 3.0, 1 / 30.0}},
        Case{"late_audio.mp4", {{k720, k480}, true, 4.0, 1 / 30.0}},
        Case{"corrupt_mid.ts", {{k720, k480}, true, 6.0, 1 / 30.0}}),
    [](const auto& info) {
      std::string n = info.param.input;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(TranscodeDetails, FiveOneIsDownmixedToStereoAac) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("surround51.mp4").string(), "-o", (tmp / "o").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = nlohmann::json::parse(r.out)["detail"];
  EXPECT_EQ(d["inputDetails"][0]["audio"][0]["channels"], 6);
  auto outputs = d["outputGroupDetails"][0]["outputDetails"];
  EXPECT_EQ(outputs.back()["audioDetails"]["channels"], 2);
  EXPECT_EQ(outputs.back()["codecs"], "mp4a.40.2");
}

TEST(TranscodeDetails, TenBit422BecomesEightBitHighProfile) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("10bit422.mp4").string(), "-o", (tmp / "o").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = nlohmann::json::parse(r.out)["detail"];
  EXPECT_EQ(d["inputDetails"][0]["video"][0]["bitDepth"], 10);
  EXPECT_EQ(d["inputDetails"][0]["video"][0]["chromaSubsampling"], "4:2:2");
  // avc1.64: High (8-bit 4:2:0); High 10 would be 6e, High 4:2:2 7a.
  EXPECT_EQ(d["outputGroupDetails"][0]["outputDetails"][0]["codecs"].get<std::string>().substr(0, 7), "avc1.64");
}

TEST(TranscodeDetails, InterlacedSourceIsDetectedAndDeinterlaced) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("interlaced.ts").string(), "-o", (tmp / "o").string(), "--json",
                          "--log-level", "debug"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = nlohmann::json::parse(r.out)["detail"]["inputDetails"][0]["video"][0];
  EXPECT_TRUE(v["interlaced"].get<bool>());
  EXPECT_EQ(v["fieldOrder"], "tt");
  EXPECT_NE(r.err.find("yadif"), std::string::npos) << "no deinterlacer in the graph";
}

TEST(TranscodeDetails, CorruptPacketsAreCountedAndReported) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("corrupt_mid.ts").string(), "-o", (tmp / "o").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = nlohmann::json::parse(r.out)["detail"];
  EXPECT_GT(d["corruptPacketsSkipped"].get<int>(), 0);
  ASSERT_FALSE(d["warnings"].empty());
  EXPECT_NE(d["warnings"][0]["message"].get<std::string>().find("corrupt"), std::string::npos);
}

}  // namespace
}  // namespace kiln::test
