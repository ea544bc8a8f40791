#include "media/video_encoder.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>

#include "av/av_error.hpp"

extern "C" {
#include <libavutil/opt.h>
}

namespace kiln::media {

// Per-encoder settings that make ABR packaging work: a keyframe the pipeline forces is an IDR
// (segments start with one), no scene-cut keyframes (renditions cut at the same timestamps).
// Rate control comes from the rendition (bit_rate, rc_max_rate, rc_buffer_size) for all.
struct EncoderOption {
  const char* encoder;
  const char* key;
  const char* value;
};
constexpr EncoderOption kEncoderOptions[] = {
    {"libx264", "forced-idr", "1"},
    {"h264_nvenc", "forced-idr", "1"},
    {"h264_nvenc", "no-scenecut", "1"},
    {"h264_nvenc", "preset", "p4"},
    {"h264_nvenc", "rc", "vbr"},
    {"h264_qsv", "forced_idr", "1"},
    {"h264_qsv", "look_ahead", "0"},
    {"h264_qsv", "preset", "medium"},
    {"h264_vaapi", "rc_mode", "VBR"},  // vaapi_encode makes a forced I frame an IDR itself
    {"hevc_nvenc", "forced-idr", "1"},
    {"hevc_nvenc", "no-scenecut", "1"},
    {"hevc_nvenc", "preset", "p4"},
    {"hevc_nvenc", "rc", "vbr"},
    {"hevc_qsv", "forced_idr", "1"},
    {"hevc_qsv", "look_ahead", "0"},
    {"hevc_qsv", "preset", "medium"},
    {"hevc_vaapi", "rc_mode", "VBR"},
    {"libx265", "forced-idr", "1"},
};

/// x264's preset names for SVT-AV1's numbered presets (higher is faster): the same place on
/// the speed/quality curve, roughly.
int svtav1_preset(const std::string& x264_preset) {
  static constexpr std::pair<const char*, int> kMap[] = {
      {"ultrafast", 12}, {"superfast", 11}, {"veryfast", 10}, {"faster", 9}, {"fast", 8},
      {"medium", 7},     {"slow", 6},       {"slower", 5},    {"veryslow", 4}, {"placebo", 3}};
  for (const auto& [name, n] : kMap)
    if (x264_preset == name) return n;
  return 10;
}

std::string x264_params(const VideoEncoderConfig& /*config*/) {
  // scenecut=0: a scene cut would put a keyframe in one rendition and not another.
  // open-gop=0: every segment must decode on its own (a player switches there).
  return "scenecut=0:open-gop=0";
}

Result<av::CodecContextPtr> open_video_encoder(const VideoEncoderConfig& config) {
  const AVCodec* codec = avcodec_find_encoder_by_name(config.encoder.c_str());
  if (!codec)
    return Status(Code::kUnsupported,
                  fmt::format("encoder '{}' is not available in this FFmpeg build",
                              config.encoder));
  av::CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) return Status(Code::kInternal, "out of memory allocating an encoder");
  ctx->width = config.width;
  ctx->height = config.height;
  ctx->pix_fmt = config.pix_fmt;
  ctx->time_base = config.time_base;
  ctx->framerate = config.frame_rate;
  ctx->sample_aspect_ratio = {1, 1};
  ctx->bit_rate = config.spec.video_bitrate;
  ctx->rc_max_rate = config.spec.maxrate;
  ctx->rc_buffer_size = static_cast<int>(config.spec.bufsize);
  double fps = config.frame_rate.num > 0 ? av_q2d(config.frame_rate) : 30.0;
  ctx->gop_size = config.gop_frames > 0 ? config.gop_frames
                                        : std::max(1, static_cast<int>(std::lround(config.gop_seconds * fps)));
  ctx->keyint_min = ctx->gop_size;
  ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_CLOSED_GOP;
  ctx->thread_count = config.threads;
  ctx->color_primaries = config.color_primaries;
  ctx->color_trc = config.color_trc;
  ctx->colorspace = config.colorspace;
  ctx->color_range = config.color_range;

  if (config.hw_frames) {
    ctx->hw_frames_ctx = av_buffer_ref(config.hw_frames);
    if (!ctx->hw_frames_ctx) return Status(Code::kInternal, "out of memory referencing frames");
  }
  AVDictionary* opts = nullptr;
  for (const auto& row : kEncoderOptions)
    if (config.encoder == row.encoder) av_dict_set(&opts, row.key, row.value, 0);
  if (config.encoder == "libx264") {
    av_dict_set(&opts, "preset", config.spec.x264_preset.c_str(), 0);
    av_dict_set(&opts, "x264-params", x264_params(config).c_str(), 0);
  } else if (config.encoder == "libx265") {
    // The same rules as x264's: no scene-cut keyframes, closed GOPs; parameter sets in hvcC
    // only (the global header), as the hvc1 sample entry requires.
    av_dict_set(&opts, "preset", config.spec.x264_preset.c_str(), 0);
    av_dict_set(&opts, "x265-params", "scenecut=0:open-gop=0:log-level=error", 0);
  } else if (config.encoder == "libsvtav1") {
    // SVT-AV1 prints its configuration banner to stderr unless told otherwise (1: errors).
    setenv("SVT_LOG", "1", 0);
    // Closed GOPs of gop_size frames (irefresh-type=2: each a key frame a player can start on);
    // VBR at the rung's bitrate. The caller keeps every rendition on this fixed grid.
    av_dict_set(&opts, "preset", std::to_string(svtav1_preset(config.spec.x264_preset)).c_str(), 0);
    av_dict_set(&opts, "svtav1-params", "irefresh-type=2", 0);
    ctx->rc_max_rate = 0;  // SVT-AV1 1.4 takes a maximum only in capped-CRF mode
  }
  if (config.encoder != "libsvtav1") av_dict_set(&opts, "profile", config.spec.profile.c_str(), 0);
  if (!config.spec.level.empty()) av_dict_set(&opts, "level", config.spec.level.c_str(), 0);
  int ret = avcodec_open2(ctx.get(), codec, &opts);
  av_dict_free(&opts);
  // NVENC answers "out of memory" when the GPU's session cap is reached: busy, not broken.
  if (ret == AVERROR(ENOMEM) && config.encoder.find("nvenc") != std::string::npos)
    return Status(Code::kBusy, fmt::format("{}: the GPU's NVENC session limit is reached",
                                           config.encoder));
  AV_TRY(ret, Code::kInternal,
         fmt::format("opening {} for {}x{} at {} b/s", config.encoder, config.width,
                     config.height, config.spec.video_bitrate));
  return ctx;
}

}  // namespace kiln::media
