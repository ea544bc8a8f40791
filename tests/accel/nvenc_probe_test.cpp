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

}  // namespace
}  // namespace kiln::nvenc
#endif
