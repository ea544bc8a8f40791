#include "media/probe.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <string_view>
#include <system_error>

#include "av/av_error.hpp"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

namespace kiln::media {
namespace fs = std::filesystem;

namespace {

/// The widest sample aspect ratio Kiln takes as meant (anamorphic formats use up to 2:1 or so;
/// 4 leaves room for odd captures) and, inverted, the narrowest.
constexpr double kMaxSar = 4.0;
/// The widest (and, inverted, tallest) picture Kiln makes a ladder of, after sample aspect
/// ratio and rotation: a panorama is 4:1 at most; past 8:1 the renditions are slivers.
constexpr double kMaxDisplayAspect = 8.0;
/// A frame rate below this is a damaged header (a slideshow still has timestamps to follow).
constexpr double kMinFps = 1.0;
/// Audio parameters beyond any real stream (DXD is 352.8 kHz; 22.2 has 24 channels).
constexpr int kMinSampleRate = 1000, kMaxSampleRate = 768000, kMaxChannels = 64;

// Demuxers Kiln opens. Playlists (hls, concat), image sequences and device inputs are left
// out on purpose: they read other files or devices named inside the input.
constexpr const char* kContainers =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,avi,flv,mpeg,mpegvideo,mxf,ogg,ivf,h264,"
    "hevc,m4v,asf,wav,mp3,aac,flac";

// Video codecs Kiln decodes and transcodes; anything else is refused up front.
constexpr std::array<AVCodecID, 16> kVideoCodecs = {
    AV_CODEC_ID_H264,  AV_CODEC_ID_HEVC,       AV_CODEC_ID_VP8,    AV_CODEC_ID_VP9,
    AV_CODEC_ID_AV1,   AV_CODEC_ID_MPEG2VIDEO, AV_CODEC_ID_MPEG1VIDEO, AV_CODEC_ID_MPEG4,
    AV_CODEC_ID_MJPEG, AV_CODEC_ID_PRORES,     AV_CODEC_ID_DNXHD,  AV_CODEC_ID_VC1,
    AV_CODEC_ID_WMV3,  AV_CODEC_ID_THEORA,     AV_CODEC_ID_H263,   AV_CODEC_ID_FFV1,
};

bool in_list(std::string_view list, std::string_view name) {
  // `name` may itself be a comma list ("mov,mp4,..."): match its first entry.
  name = name.substr(0, name.find(','));
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string_view::npos) end = list.size();
    if (list.substr(pos, end - pos) == name) return true;
    pos = end + 1;
  }
  return false;
}

Status check_path(const std::string& path, int64_t* size) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st))
    return {Code::kInputMissing, fmt::format("input '{}' does not exist", path)};
  if (fs::is_directory(st))
    return {Code::kInputMissing, fmt::format("input '{}' is a directory, not a media file", path)};
  if (!fs::is_regular_file(st))
    return {Code::kInputMissing, fmt::format("input '{}' is not a regular file", path)};
  *size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) return {Code::kIo, fmt::format("cannot stat '{}': {}", path, ec.message())};
  if (*size == 0) return {Code::kInputEmpty, fmt::format("input '{}' is empty (0 bytes)", path)};
  return Status::ok();
}

/// The options every open of the input gets: only its own protocol (a file, or the URL's
/// scheme), and for a URL, reconnection after a dropped connection and a timeout on a stalled
/// one. Caller frees.
AVDictionary* open_options(const std::string& url, bool remote) {
  AVDictionary* opts = nullptr;
  if (!remote) {
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    return opts;
  }
  av_dict_set(&opts, "protocol_whitelist", url.rfind("https:", 0) == 0 ? "https,tls,tcp" : "http,tcp", 0);
  av_dict_set(&opts, "reconnect", "1", 0);
  av_dict_set(&opts, "reconnect_on_network_error", "1", 0);
  av_dict_set(&opts, "reconnect_delay_max", "30", 0);  // libav waits 0, 1, 3, 7, 15 s, then gives up
  av_dict_set(&opts, "rw_timeout", "60000000", 0);     // microseconds without a byte
  av_dict_set(&opts, "seekable", "1", 0);              // S3 always answers ranges
  return opts;
}

// Identifies the container from the first bytes; refuses non-media before the full open.
Status identify(const std::string& url, bool remote, const std::string& path, const AVInputFormat** format) {
  AVIOContext* pb = nullptr;
  AVDictionary* opts = open_options(url, remote);
  int ret = avio_open2(&pb, url.c_str(), AVIO_FLAG_READ, nullptr, &opts);
  av_dict_free(&opts);
  if (ret < 0) return av::to_status(ret, Code::kIo, fmt::format("cannot open '{}'", path));
  // Probe the contents alone (no file name): a match on the extension (random bytes called
  // .mp4, text as "tty") says nothing about what the file holds.
  ret = av_probe_input_buffer2(pb, format, "", nullptr, 0, 0);
  avio_closep(&pb);
  if (ret < 0 || !*format)
    return {Code::kInputNotMedia,
            fmt::format("'{}' is not a media file: no known container format matches its "
                        "contents", path)};
  if (!in_list(kContainers, (*format)->name)) {
    return {Code::kInputUnsupported,
            fmt::format("'{}' is a '{}' file, which Kiln does not accept; supported "
                        "containers: {}", path, (*format)->name, kContainers)};
  }
  return Status::ok();
}

int rotation_of(const AVStream* st) {
  const uint8_t* matrix = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (!matrix) return 0;
  double theta = -av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(theta)) return 0;
  theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
  int r = static_cast<int>(std::lround(theta / 90.0)) * 90 % 360;
  return r < 0 ? r + 360 : r;
}

const char* field_order_name(AVFieldOrder fo) {
  switch (fo) {
    case AV_FIELD_PROGRESSIVE: return "progressive";
    case AV_FIELD_TT: return "tt";
    case AV_FIELD_BB: return "bb";
    case AV_FIELD_TB: return "tb";
    case AV_FIELD_BT: return "bt";
    default: return "unknown";
  }
}

VideoStreamInfo describe_video(const AVFormatContext* fmt, const AVStream* st) {
  const AVCodecParameters* par = st->codecpar;
  VideoStreamInfo v;
  v.index = st->index;
  v.codec = avcodec_get_name(par->codec_id);
  if (const char* p = avcodec_profile_name(par->codec_id, par->profile)) v.profile = p;
  v.width = par->width;
  v.height = par->height;
  AVRational sar = av_guess_sample_aspect_ratio(const_cast<AVFormatContext*>(fmt),
                                                const_cast<AVStream*>(st), nullptr);
  if (sar.num > 0 && sar.den > 0) v.sar = {sar.num, sar.den};
  AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
  if (fr.num > 0 && fr.den > 0) v.frame_rate = {fr.num, fr.den};
  if (st->r_frame_rate.num > 0 && st->avg_frame_rate.num > 0)
    v.variable_frame_rate =
        std::fabs(av_q2d(st->r_frame_rate) - av_q2d(st->avg_frame_rate)) > 0.01 * av_q2d(st->r_frame_rate);
  v.rotation = rotation_of(st);
  auto pf = static_cast<AVPixelFormat>(par->format);
  if (const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(pf)) {
    v.pix_fmt = d->name;
    v.bit_depth = d->comp[0].depth;
    v.chroma = d->log2_chroma_w == 0 ? "4:4:4" : d->log2_chroma_h == 0 ? "4:2:2" : "4:2:0";
  }
  v.field_order = field_order_name(par->field_order);
  v.interlaced = par->field_order != AV_FIELD_PROGRESSIVE && par->field_order != AV_FIELD_UNKNOWN;
  if (st->start_time != AV_NOPTS_VALUE) v.start_seconds = st->start_time * av_q2d(st->time_base);
  return v;
}

AudioStreamInfo describe_audio(const AVStream* st) {
  const AVCodecParameters* par = st->codecpar;
  AudioStreamInfo a;
  a.index = st->index;
  a.codec = avcodec_get_name(par->codec_id);
  a.channels = par->ch_layout.nb_channels;
  char layout[128] = {};
  av_channel_layout_describe(&par->ch_layout, layout, sizeof layout);
  a.layout = layout;
  a.sample_rate = par->sample_rate;
  if (st->start_time != AV_NOPTS_VALUE) a.start_seconds = st->start_time * av_q2d(st->time_base);
  return a;
}

// An index that points past the end of the file means the file was cut short (an MP4 whose
// moov came first but whose media data did not all arrive).
Status check_index_within_file(const AVStream* st, int64_t file_size, const std::string& path) {
  int n = avformat_index_get_entries_count(st);
  if (n <= 0) return Status::ok();
  const AVIndexEntry* last = avformat_index_get_entry(const_cast<AVStream*>(st), n - 1);
  if (last && last->pos + last->size > file_size)
    return {Code::kInputTruncated,
            fmt::format("'{}' is truncated: its index refers to byte {} but the file has only "
                        "{} bytes; re-upload the complete file", path, last->pos + last->size,
                        file_size)};
  return Status::ok();
}

/// The container's average rate, else its base rate, whichever is plausible (a damaged header
/// may give either as 90000 or 1/1000). One above the limit is left for check_limits to refuse
/// with its value; one below kMinFps is dropped, and timing follows the timestamps.
void choose_frame_rate(const AVStream* st, const Limits& limits, VideoStreamInfo* v,
                       std::vector<std::string>* warnings) {
  auto plausible = [&](AVRational r) {
    return r.num > 0 && r.den > 0 && av_q2d(r) >= kMinFps && av_q2d(r) <= limits.max_fps;
  };
  for (AVRational r : {st->avg_frame_rate, st->r_frame_rate})
    if (plausible(r)) {
      v->frame_rate = {r.num, r.den};
      return;
    }
  if (v->frame_rate.num > 0 && v->frame_rate.value() < kMinFps) {
    warnings->push_back(fmt::format("the frame rate {}/{} is not plausible; the video's timing follows its "
                                    "timestamps", v->frame_rate.num, v->frame_rate.den));
    v->frame_rate = {};
  }
}

Status check_limits(const MediaInfo& info, const Limits& limits) {
  const auto& v = info.video;
  if (v.width <= 0 || v.height <= 0)
    return {Code::kInputTruncated,
            fmt::format("'{}': the video stream has no picture size; the file is damaged or "
                        "truncated", info.path)};
  if (v.width > limits.max_width || v.height > limits.max_height)
    return {Code::kInputLimits,
            fmt::format("'{}': video is {}x{}, larger than the limit of {}x{} (limits.max_width/"
                        "max_height)", info.path, v.width, v.height, limits.max_width,
                        limits.max_height)};
  if (info.duration_seconds > limits.max_duration_seconds)
    return {Code::kInputLimits,
            fmt::format("'{}': duration {:.0f} s exceeds the limit of {:.0f} s "
                        "(limits.max_duration_seconds)", info.path, info.duration_seconds,
                        limits.max_duration_seconds)};
  if (v.frame_rate.value() > limits.max_fps)
    return {Code::kInputLimits,
            fmt::format("'{}': frame rate {:.2f} fps exceeds the limit of {:.0f} fps "
                        "(limits.max_fps)", info.path, v.frame_rate.value(), limits.max_fps)};
  return Status::ok();
}

}  // namespace

const char* container_whitelist() { return kContainers; }

Result<ProbedInput> open_and_probe(const std::string& url, const Limits& limits, const RemoteInput* remote) {
  // `path` names the input in every message: the file, or the object (never its signed URL).
  const std::string& path = remote ? remote->name : url;
  ProbedInput in;
  in.info.path = path;
  if (remote) {
    if (remote->size == 0) return Status(Code::kInputEmpty, fmt::format("input '{}' is empty (0 bytes)", path));
    in.info.size_bytes = remote->size;
  } else {
    KILN_RETURN_IF_ERROR(check_path(url, &in.info.size_bytes));
  }
  const AVInputFormat* guessed = nullptr;
  KILN_RETURN_IF_ERROR(identify(url, remote != nullptr, path, &guessed));

  AVDictionary* opts = open_options(url, remote != nullptr);
  AVFormatContext* raw = avformat_alloc_context();
  raw->format_whitelist = av_strdup(kContainers);
  int ret = avformat_open_input(&raw, url.c_str(), guessed, &opts);
  av_dict_free(&opts);
  // Whatever libav answers here (a damaged size field reads as "cannot allocate memory"), a
  // container that cannot be opened is the file's fault.
  if (ret < 0)
    return Status(Code::kInputTruncated, fmt::format("'{}' looks like {} but cannot be read (damaged or "
                                                     "truncated): {}", path, guessed->name, av::error_string(ret)));
  in.format.reset(raw);
  ret = avformat_find_stream_info(raw, nullptr);
  if (ret < 0)
    return Status(Code::kInputTruncated, fmt::format("'{}': cannot read stream information (damaged or "
                                                     "truncated): {}", path, av::error_string(ret)));
  in.info.container = raw->iformat->name;
  if (raw->duration != AV_NOPTS_VALUE && raw->duration > 0)
    in.info.duration_seconds = raw->duration / static_cast<double>(AV_TIME_BASE);
  in.info.bit_rate = raw->bit_rate;

  int vindex = -1;
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    const AVStream* st = raw->streams[i];
    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      vindex = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
      break;
    }
  }
  if (vindex < 0 || (raw->streams[vindex]->disposition & AV_DISPOSITION_ATTACHED_PIC))
    return Status(Code::kInputNoVideo,
                  fmt::format("'{}' has no video stream ({} stream(s), none of them video); "
                              "Kiln transcodes video", path, raw->nb_streams));
  const AVStream* vst = raw->streams[vindex];
  in.info.video = describe_video(raw, vst);
  // A sample aspect ratio no camera or broadcast uses (a damaged header: 32767:1) would make
  // every rendition absurdly wide or thin: treated as square pixels, with a warning.
  if (const Rational sar = in.info.video.sar; sar.num > 0 && sar.den > 0 &&
                                              (sar.value() > kMaxSar || sar.value() < 1 / kMaxSar)) {
    in.warnings.push_back(fmt::format("the sample aspect ratio {}:{} is not plausible (display {}x{}); the video "
                                      "is treated as square pixels", sar.num, sar.den,
                                      std::lround(in.info.video.width * sar.value()), in.info.video.height));
    in.info.video.sar = {1, 1};
  }
  choose_frame_rate(vst, limits, &in.info.video, &in.warnings);
  const double dar = static_cast<double>(in.info.video.display_width()) / std::max(1, in.info.video.display_height());
  if (in.info.video.width > 0 && in.info.video.height > 0 && (dar > kMaxDisplayAspect || dar < 1 / kMaxDisplayAspect))
    return Status(Code::kInputLimits,
                  fmt::format("'{}': the picture is {}x{} on screen (display aspect ratio {:.2f}:1), outside "
                              "1:{:g} to {:g}:1", path, in.info.video.display_width(), in.info.video.display_height(),
                              dar, kMaxDisplayAspect, kMaxDisplayAspect));
  auto vcodec = vst->codecpar->codec_id;
  if (std::find(kVideoCodecs.begin(), kVideoCodecs.end(), vcodec) == kVideoCodecs.end() ||
      !avcodec_find_decoder(vcodec))
    return Status(Code::kInputUnsupported,
                  fmt::format("'{}': video codec '{}' is not supported (supported: h264, hevc, "
                              "vp8, vp9, av1, mpeg2video, mpeg4, prores, dnxhd, ...)", path,
                              avcodec_get_name(vcodec)));
  KILN_RETURN_IF_ERROR(check_index_within_file(vst, in.info.size_bytes, path));
  if (in.info.duration_seconds <= 0 && vst->duration != AV_NOPTS_VALUE)
    in.info.duration_seconds = vst->duration * av_q2d(vst->time_base);
  KILN_RETURN_IF_ERROR(check_limits(in.info, limits));

  int aindex = av_find_best_stream(raw, AVMEDIA_TYPE_AUDIO, -1, vindex, nullptr, 0);
  if (aindex >= 0) {
    const AVStream* ast = raw->streams[aindex];
    const AVCodecParameters* apar = ast->codecpar;
    if (!avcodec_find_decoder(apar->codec_id) || apar->sample_rate < kMinSampleRate ||
        apar->sample_rate > kMaxSampleRate || apar->ch_layout.nb_channels <= 0 ||
        apar->ch_layout.nb_channels > kMaxChannels) {
      in.warnings.push_back(fmt::format("audio stream #{} ({}, {} Hz, {} channel(s)) cannot be decoded and was "
                                        "left out; the ladder is video-only", aindex, avcodec_get_name(apar->codec_id),
                                        apar->sample_rate, apar->ch_layout.nb_channels));
    } else {
      in.info.audio = describe_audio(ast);
    }
  }
  // Discard everything Kiln will not read, so the demuxer skips it cheaply.
  for (unsigned i = 0; i < raw->nb_streams; ++i)
    if (static_cast<int>(i) != vindex && !(in.info.audio && static_cast<int>(i) == in.info.audio->index))
      raw->streams[i]->discard = AVDISCARD_ALL;
  return in;
}

}  // namespace kiln::media
