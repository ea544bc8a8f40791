#include "package/codec_string.hpp"

#include <gtest/gtest.h>

namespace kiln::package {
namespace {

TEST(CodecString, H264FromAvcC) {
  uint8_t avcc[] = {1, 0x64, 0x00, 0x1f, 0xff, 0xe1};
  AVCodecParameters par{};
  par.codec_id = AV_CODEC_ID_H264;
  par.extradata = avcc;
  par.extradata_size = sizeof avcc;
  EXPECT_EQ(rfc6381_codec(&par), "avc1.64001f");
}

TEST(CodecString, H264FromAnnexB) {
  uint8_t annexb[] = {0, 0, 0, 1, 0x67, 0x4d, 0x40, 0x1e, 0x99};
  AVCodecParameters par{};
  par.codec_id = AV_CODEC_ID_H264;
  par.extradata = annexb;
  par.extradata_size = sizeof annexb;
  EXPECT_EQ(rfc6381_codec(&par), "avc1.4d401e");
}

TEST(CodecString, AacLc) {
  AVCodecParameters par{};
  par.codec_id = AV_CODEC_ID_AAC;
  par.profile = 1;  // FF_PROFILE_AAC_LOW
  EXPECT_EQ(rfc6381_codec(&par), "mp4a.40.2");
}

}  // namespace
}  // namespace kiln::package
