// QSV's codecs come from the implementation's own description (mfxImplDescription's Dec and
// Enc CodecID lists, as vpl-inspect prints them), not from an assumption that every Intel GPU
// encodes H.264. The FourCC lists below are what the libvpl headers define for the codecs a
// current Intel GPU lists; a device whose implementation describes no AVC encoder is not used
// for Kiln's h264_qsv recipe.

#include <gtest/gtest.h>

#if KILN_WITH_QSV
#define ONEVPL_EXPERIMENTAL
#include <vpl/mfx.h>
#include <vpl/mfxjpeg.h>
#include <vpl/mfxvp8.h>

#include "../accel/qsv/qsv_backend.hpp"

namespace kiln::qsv {
namespace {

TEST(QsvCodecs, NamesComeFromTheDescribedFourCCs) {
  // Decoders in the order of a vpl-inspect listing (an Alder Lake-N's starts with VC1); an
  // unknown FourCC is left out, a repeated one counted once.
  const std::vector<uint32_t> dec = {MFX_CODEC_VC1, MFX_CODEC_AVC, MFX_CODEC_HEVC, MFX_CODEC_MPEG2,
                                     MFX_CODEC_JPEG, MFX_CODEC_VP9, MFX_CODEC_AV1, MFX_MAKEFOURCC('X', 'Y', 'Z', ' ')};
  EXPECT_EQ(codec_names(dec), (std::vector<std::string>{"vc1", "h264", "hevc", "mpeg2video", "mjpeg", "vp9", "av1"}));
  const std::vector<uint32_t> enc = {MFX_CODEC_AVC, MFX_CODEC_HEVC, MFX_CODEC_JPEG, MFX_CODEC_VP9, MFX_CODEC_AVC};
  EXPECT_EQ(codec_names(enc), (std::vector<std::string>{"h264", "hevc", "mjpeg", "vp9"}));
  EXPECT_EQ(codec_name(MFX_CODEC_AV1), "av1");
  EXPECT_EQ(codec_name(0), "");
}

TEST(QsvCodecs, AnImplementationWithoutAnH264EncoderGetsNoRecipe) {
  Device d;
  d.backend = "qsv";
  d.id = "/dev/dri/renderD128";
  d.render_node = d.id;
  d.encode_codecs = codec_names({MFX_CODEC_HEVC, MFX_CODEC_JPEG});  // decode-heavy part, no AVC encode
  MediaInfo input;
  auto r = kBackend.make_recipe(d, input);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);  // not mine: the chain moves on, no strike
  EXPECT_NE(r.status().message().find("no H.264 encoder"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace kiln::qsv
#endif
