#include "kiln/ladder.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln {
namespace {

VideoStreamInfo source(int w, int h, Rational sar = {1, 1}, int rotation = 0) {
  VideoStreamInfo v;
  v.width = w;
  v.height = h;
  v.sar = sar;
  v.rotation = rotation;
  return v;
}

TEST(DefaultLadder, MatchesTheDocumentedDefaults) {
  Ladder l = default_ladder();
  ASSERT_EQ(l.renditions.size(), 2u);
  EXPECT_EQ(l.segment_seconds, 4.0);
  EXPECT_EQ(l.gop_seconds, 2.0);
  EXPECT_EQ(l.audio.bitrate, 128000);
  EXPECT_EQ(l.audio.sample_rate, 48000);
  EXPECT_EQ(l.audio.channels, 2);
  const Rendition& hd = l.renditions[0];
  EXPECT_EQ(hd.height, 720);
  EXPECT_EQ(hd.video_bitrate, 3000000);
  EXPECT_EQ(hd.maxrate, 3300000);
  EXPECT_EQ(hd.bufsize, 6000000);
  EXPECT_EQ(hd.profile, "high");
  EXPECT_EQ(hd.x264_preset, "veryfast");
  const Rendition& sd = l.renditions[1];
  EXPECT_EQ(sd.height, 480);
  EXPECT_EQ(sd.video_bitrate, 1200000);
  EXPECT_EQ(sd.maxrate, 1300000);
  EXPECT_EQ(sd.bufsize, 2400000);
}

TEST(PlanLadder, ScalesA1080pSourceToBothRungs) {
  auto plan = plan_ladder(default_ladder(), source(1920, 1080));
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].width, 1280);
  EXPECT_EQ(plan[0].height, 720);
  EXPECT_EQ(plan[1].width, 854);
  EXPECT_EQ(plan[1].height, 480);
}

// A ladder whose only (first) codec is not H.264 gets that codec's profile and its share of the
// rungs' H.264 rates, as a second codec does; a third codec starts from the H.264 figures too.
TEST(PlanLadder, AFirstCodecOtherThanH264TakesItsOwnProfileAndRates) {
  Ladder ladder = default_ladder();
  const Rendition rung = ladder.renditions.front();  // 720p, High
  ladder.codecs = {"hevc"};
  auto plan = plan_ladder(ladder, source(1920, 1080));
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].codec, "hevc");
  EXPECT_EQ(plan[0].folder, "720p");
  EXPECT_EQ(plan[0].spec.profile, "main");
  EXPECT_TRUE(plan[0].spec.level.empty());
  EXPECT_EQ(plan[0].spec.video_bitrate, std::llround(rung.video_bitrate * 0.7));

  ladder.codecs = {"hevc", "av1"};
  plan = plan_ladder(ladder, source(1920, 1080));
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[2].codec, "av1");
  EXPECT_EQ(plan[2].folder, "720p-av1");
  EXPECT_EQ(plan[2].spec.video_bitrate, std::llround(rung.video_bitrate * 0.6));
}

TEST(PlanLadder, NeverUpscalesA480pSource) {
  auto plan = plan_ladder(default_ladder(), source(854, 480));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].spec.name, "480p");
  EXPECT_EQ(plan[0].height, 480);
}

TEST(PlanLadder, AnamorphicSourceGetsSquarePixelsWithTheDisplayShape) {
  auto plan = plan_ladder(default_ladder(), source(720, 576, {64, 45}));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].width, 854);  // 16:9
  EXPECT_EQ(plan[0].height, 480);
}

TEST(PlanLadder, PortraitStaysPortrait) {
  auto plan = plan_ladder(default_ladder(), source(1920, 1080, {1, 1}, 90));
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].width, 720);
  EXPECT_EQ(plan[0].height, 1280);
}

TEST(PlanLadder, TinySourceGetsOneRenditionAtItsOwnEvenSize) {
  auto plan = plan_ladder(default_ladder(), source(641, 363));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].width, 640);
  EXPECT_EQ(plan[0].height, 362);
  EXPECT_EQ(plan[0].spec.name, "362p");
}

TEST(PlanLadder, DimensionsAreAlwaysEven) {
  for (int w : {1917, 1000, 777, 3840}) {
    for (const auto& p : plan_ladder(default_ladder(), source(w, 1079))) {
      EXPECT_EQ(p.width % 2, 0) << w;
      EXPECT_EQ(p.height % 2, 0) << w;
    }
  }
}

TEST(SelectRenditions, KeepsNamedRungsAndMakesStandardOnes) {
  auto l = select_renditions(default_ladder(), "1080p,480p");
  ASSERT_TRUE(l.is_ok()) << l.status().to_string();
  ASSERT_EQ(l->renditions.size(), 2u);
  EXPECT_EQ(l->renditions[0].height, 1080);
  EXPECT_EQ(l->renditions[0].video_bitrate, 5000000);
  EXPECT_EQ(l->renditions[1].video_bitrate, 1200000);
}

// The bench's four-rung ladder: 5000k/3000k/1200k/700k, High/High/Main/Main, as services ship it.
TEST(SelectRenditions, StandardRungsTakeTheNearestPresetRungsProfile) {
  auto l = select_renditions(default_ladder(), "1080p,720p,480p,360p");
  ASSERT_TRUE(l.is_ok()) << l.status().to_string();
  ASSERT_EQ(l->renditions.size(), 4u);
  EXPECT_EQ(l->renditions[0].profile, "high");
  EXPECT_EQ(l->renditions[3].name, "360p");
  EXPECT_EQ(l->renditions[3].video_bitrate, 700000);
  EXPECT_EQ(l->renditions[3].profile, "main");
  EXPECT_EQ(l->renditions[3].x264_preset, "veryfast");
}

TEST(SelectRenditions, RejectsUnknownNames) {
  auto l = select_renditions(default_ladder(), "720p,tiny");
  ASSERT_FALSE(l.is_ok());
  EXPECT_EQ(l.status().code(), Code::kUsage);
  EXPECT_NE(l.status().message().find("tiny"), std::string::npos);
}

TEST(ParsePreset, ReportsTheBadKey) {
  auto l = parse_preset("[[rendition]]\nname='x'\nheight='tall'\n", "p.toml");
  ASSERT_FALSE(l.is_ok());
  EXPECT_NE(l.status().message().find("height"), std::string::npos);
  auto syntax = parse_preset("segment_seconds = = 4", "p.toml");
  ASSERT_FALSE(syntax.is_ok());
  EXPECT_NE(syntax.status().message().find("p.toml:1"), std::string::npos);
}

TEST(ValidateLadder, RejectsImpossibleSettings) {
  Ladder l = default_ladder();
  l.renditions[0].maxrate = 1;
  EXPECT_EQ(validate_ladder(l).code(), Code::kUsage);
  l = default_ladder();
  l.renditions[0].profile = "ultra";
  EXPECT_EQ(validate_ladder(l).code(), Code::kUsage);
  l = default_ladder();
  l.gop_seconds = 8;
  EXPECT_EQ(validate_ladder(l).code(), Code::kUsage);
  l = default_ladder();
  l.renditions[1].name = l.renditions[0].name;
  EXPECT_EQ(validate_ladder(l).code(), Code::kUsage);
}

}  // namespace
}  // namespace kiln
