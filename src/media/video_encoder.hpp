#pragma once
// A video encoder configured for ABR packaging: closed GOPs, IDR frames wherever the caller
// forces a keyframe, no scene-cut keyframes (so every rendition cuts at the same timestamps).

#include <string>

#include "av/av_handles.hpp"
#include "kiln/ladder.hpp"
#include "kiln/status.hpp"

namespace kiln::media {

struct VideoEncoderConfig {
  std::string encoder = "libx264";
  int width = 0;
  int height = 0;
  AVPixelFormat pix_fmt = AV_PIX_FMT_YUV420P;
  AVRational time_base{1, 90000};
  AVRational frame_rate{30, 1};
  Rendition spec;
  double gop_seconds = 2.0;
  int gop_frames = 0;              // > 0: the GOP in frames (the ladder's keyframe grid by count)
  int threads = 0;                 // 0 = the encoder's own choice
  AVBufferRef* hw_frames = nullptr;  // frames context of device frames (not owned); else null
  AVColorPrimaries color_primaries = AVCOL_PRI_UNSPECIFIED;
  AVColorTransferCharacteristic color_trc = AVCOL_TRC_UNSPECIFIED;
  AVColorSpace colorspace = AVCOL_SPC_UNSPECIFIED;
  AVColorRange color_range = AVCOL_RANGE_UNSPECIFIED;
};

/// Opens the encoder with global headers (avcC in the init segment). Fails with kUnsupported
/// if the encoder is not built into this FFmpeg.
Result<av::CodecContextPtr> open_video_encoder(const VideoEncoderConfig& config);

/// The x264 options Kiln uses for a rendition, as `-x264-params` text; shared with the bench
/// so that the ffmpeg CLI peer encodes with exactly the same settings.
std::string x264_params(const VideoEncoderConfig& config);

}  // namespace kiln::media
