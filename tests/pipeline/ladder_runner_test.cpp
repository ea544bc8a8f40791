#include "pipeline/ladder_runner.hpp"
#include "pipeline/result_json.hpp"

#include <gtest/gtest.h>

namespace kiln::pipeline {
namespace {

TEST(NextKeyframe, FollowsTheGopWhenSegmentsAreMultiples) {
  EXPECT_DOUBLE_EQ(next_keyframe_time(0, 2, 4), 2);
  EXPECT_DOUBLE_EQ(next_keyframe_time(2.0, 2, 4), 4);
  EXPECT_DOUBLE_EQ(next_keyframe_time(3.99, 2, 4), 4);
}

TEST(NextKeyframe, AddsSegmentBoundariesThatAreNotGopMultiples) {
  EXPECT_DOUBLE_EQ(next_keyframe_time(2.0, 2, 3), 3);
  EXPECT_DOUBLE_EQ(next_keyframe_time(3.0, 2, 3), 4);
  EXPECT_DOUBLE_EQ(next_keyframe_time(5.5, 2, 3), 6);
}

TEST(NextKeyframe, ToleratesTimestampRounding) {
  // A frame stamped a hair before 4.0 s is the 4.0 s keyframe: the next one is 6.0 s.
  EXPECT_DOUBLE_EQ(next_keyframe_time(3.9995, 2, 4), 6);
}

TEST(X264Threads, FollowTheRenditionsShareOfThePixels) {
  auto rung = [](int w, int h) {
    PlannedRendition p;
    p.width = w;
    p.height = h;
    return p;
  };
  std::vector<PlannedRendition> four = {rung(1920, 1080), rung(1280, 720), rung(854, 480), rung(640, 360)};
  // Two CPUs: the 1080p rung has 57% of the pixels and gets both; the smaller ones one each.
  EXPECT_EQ(x264_threads_for(four[0], four, 2), 2);
  EXPECT_EQ(x264_threads_for(four[1], four, 2), 1);
  EXPECT_EQ(x264_threads_for(four[3], four, 2), 1);
  // Sixteen CPUs: 10, 5, 2, 2 (never more than the CPUs, never fewer than one).
  EXPECT_EQ(x264_threads_for(four[0], four, 16), 10);
  EXPECT_EQ(x264_threads_for(four[1], four, 16), 5);
  EXPECT_EQ(x264_threads_for(four[3], four, 16), 2);
  std::vector<PlannedRendition> one = {rung(1280, 720)};
  EXPECT_EQ(x264_threads_for(one[0], one, 4), 4);
}

TEST(Preprocess, ProgressiveUprightSourceNeedsNoFilter) {
  VideoStreamInfo v;
  EXPECT_EQ(preprocess_chain(v), "");
}

TEST(Preprocess, DeinterlacesAndRotates) {
  VideoStreamInfo v;
  v.interlaced = true;
  v.rotation = 90;
  EXPECT_EQ(preprocess_chain(v), "yadif=mode=send_frame:parity=auto:deint=interlaced,transpose=clock");
  v.interlaced = false;
  v.rotation = 270;
  EXPECT_EQ(preprocess_chain(v), "transpose=cclock");
  v.rotation = 180;
  EXPECT_EQ(preprocess_chain(v), "hflip,vflip");
}

// "zero-copy" is what the run did, not what the recipe hoped: a source decoded in software
// (deinterlaced, rotated, a codec the device lacks) or a hybrid encode loses the name.
TEST(RecipeLabel, ZeroCopyOnlyWhenFramesStayedOnTheDevice) {
  const std::string zc = "zero-copy: vaapi decode, scale_vaapi, h264_vaapi";
  EXPECT_EQ(recipe_label(zc, true, false, true), zc);
  EXPECT_EQ(recipe_label(zc, false, false, true), "vaapi decode, scale_vaapi, h264_vaapi (not zero-copy: decoded in software)");
  EXPECT_EQ(recipe_label(zc, true, true, false),
            "vaapi decode, scale_vaapi, h264_vaapi (not zero-copy: scaled in system memory, encoded on the CPU)");
  const std::string hybrid = "hybrid: software decode, upload, scale_vaapi, libx264";
  EXPECT_EQ(recipe_label(hybrid, false, false, false), hybrid);  // never claimed it
}

}  // namespace
}  // namespace kiln::pipeline
