// NVENC's answers to the probe's test session, as FFmpeg's nvenc.c maps them (its nvenc_errors
// table) for avcodec_open2: 0 when the session opened; AVERROR(ENOMEM) for
// NV_ENC_ERR_OUT_OF_MEMORY, what the driver says when every session is taken (the GPU has
// NVENC, busy); AVERROR(ENOENT) for NV_ENC_ERR_NO_ENCODE_DEVICE and AVERROR(ENOSYS) for
// NV_ENC_ERR_UNSUPPORTED_DEVICE (a GPU without an encoder, as an H100 or H200); EINVAL for an
// invalid device.

#include <gtest/gtest.h>

extern "C" {
#include <libavutil/error.h>
}

#if KILN_WITH_NVENC
#include "../accel/nvenc/nvenc_probe.hpp"

namespace kiln::nvenc {
namespace {

TEST(NvencProbe, ABusyGpuIsNeverAGpuWithoutNvenc) {
  EXPECT_EQ(classify_nvenc_open(0), NvencAnswer::kPresent);
  EXPECT_EQ(classify_nvenc_open(AVERROR(ENOMEM)), NvencAnswer::kBusy);
  EXPECT_EQ(classify_nvenc_open(AVERROR(ENOENT)), NvencAnswer::kAbsent);
  EXPECT_EQ(classify_nvenc_open(AVERROR(ENOSYS)), NvencAnswer::kAbsent);
  EXPECT_EQ(classify_nvenc_open(AVERROR_EXTERNAL), NvencAnswer::kAbsent);
  EXPECT_EQ(classify_nvenc_open(AVERROR(EINVAL)), NvencAnswer::kAbsent);
}

// The session-limit probe, driven by the driver's answers in order: sessions open until the
// first "out of memory" (the cap: 3 here, a GeForce's number, found, not looked up by model).
TEST(NvencProbe, SessionsAreCountedUntilTheDriverSaysBusy) {
  std::vector<int> answers = {0, 0, 0, AVERROR(ENOMEM)};
  int asked = 0;
  auto count = count_until_refused([&](int i) { ++asked; return answers.at(static_cast<size_t>(i)); }, 64);
  ASSERT_TRUE(count.is_ok()) << count.status().to_string();
  EXPECT_EQ(count->opened, 3);
  EXPECT_TRUE(count->refused);
  EXPECT_EQ(asked, 4);
  EXPECT_NE(count->note.find("refused session 4 (busy): 3 at once"), std::string::npos) << count->note;
}

TEST(NvencProbe, NoRefusalUpToTheMaximumIsAFloorNotACap) {
  auto count = count_until_refused([](int) { return 0; }, 8);
  ASSERT_TRUE(count.is_ok());
  EXPECT_EQ(count->opened, 8);
  EXPECT_FALSE(count->refused);
  EXPECT_NE(count->note.find("at least 8"), std::string::npos) << count->note;
}

TEST(NvencProbe, AGpuWithoutNvencHasNoSessionsToCount) {
  // An H100/H200: NV_ENC_ERR_UNSUPPORTED_DEVICE on the first session.
  auto none = count_until_refused([](int) { return AVERROR(ENOSYS); }, 8);
  ASSERT_FALSE(none.is_ok());
  EXPECT_EQ(none.status().code(), Code::kUnsupported);
  // Another failure after some opened is reported as such, not as the cap.
  std::vector<int> answers = {0, 0, AVERROR(EINVAL)};
  auto odd = count_until_refused([&](int i) { return answers.at(static_cast<size_t>(i)); }, 8);
  ASSERT_TRUE(odd.is_ok());
  EXPECT_EQ(odd->opened, 2);
  EXPECT_FALSE(odd->refused);
  EXPECT_NE(odd->note.find("another reason"), std::string::npos) << odd->note;
}

}  // namespace
}  // namespace kiln::nvenc
#endif
