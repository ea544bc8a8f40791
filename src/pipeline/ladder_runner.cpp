#include "pipeline/ladder_runner.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <new>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>
}

#include "av/av_error.hpp"
#include "media/audio_transcoder.hpp"
#include "media/timestamp_repair.hpp"
#include "media/video_encoder.hpp"
#include "media/video_filter.hpp"
#include "package/cmaf_track_writer.hpp"
#include "package/progressive_mp4_writer.hpp"
#include "log.hpp"
#include "pipeline/frame_queue.hpp"
#include "pipeline/thumbnailer.hpp"

namespace kiln::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kEncoderNiceness = 2;  // relative to the decode thread (interleaved A/B: ~4% wall)
constexpr size_t kQueueDepth = 4;  // deeper queues bought no speed here and cost ~15 MiB of peak RSS at 1080p
constexpr double kKeyframeEpsilon = 1e-3;  // same tolerance as the segmenter's boundaries
constexpr auto kProgressInterval = std::chrono::milliseconds(250);
// A cascaded rung is scaled from a rendition at least 1.5x its size (1.49: even widths round,
// 854 * 1.5 > 1280). At 1.25, 360p came from 480p, three lanczos passes from the source, and
// lost 0.002 SSIM against the ffmpeg CLI's direct scale; from 720p it is two.
constexpr double kCascadeRatio = 1.49;
// A first timestamp further from zero than this (about 3 years) is damage, not a start time.
constexpr double kMaxStartSeconds = 1e8;
// Finer than this many ticks a second, a time base only makes timestamps big: a 10 s gap at
// 1/10^9 overflows the 32-bit durations of an MP4 fragment.
constexpr double kMaxTicksPerSecond = 1e6;
// A gap in the video's timestamps wider than both of these is a hole to fill, not the cadence
// of a variable-frame-rate source.
constexpr int kMinHoleFrames = 4;
constexpr int kMinHoleMs = 250;
// With more than this share of the data-size ceiling in use, a library's failure counts as the
// ceiling's: x264 and zimg report a refused allocation as a generic error, and the one refused
// may be large (a lookahead buffer). A normal ladder uses well under half of the default.
constexpr double kCeilingShare = 0.5;

/// Per-stage wall time, accumulated by every pipeline thread.
struct StageClocks {
  std::atomic<int64_t> decode{0}, scale{0}, encode{0}, package{0};
  // Where the work really ran, as the frames and filters say (for the result's report).
  std::atomic<int64_t> device_decoded_frames{0};
  std::atomic<int> device_scalers{0}, cpu_scalers{0};
};

/// Scalers that run on a device (the recipes' scale_filter names them), for the report of
/// where each stage ran. hwupload/hwdownload only move frames.
constexpr std::array<std::string_view, 6> kDeviceScalers = {"scale_vaapi", "vpp_qsv", "scale_qsv",
                                                            "scale_cuda", "scale_npp", "scale_vulkan"};

/// Whether a filter chain ("hwupload,scale_vulkan=w=1280:h=720,hwdownload") scales on a device.
bool chain_on_device(const std::string& chain) {
  size_t at = 0;
  while (at < chain.size()) {
    size_t end = chain.find(',', at);
    if (end == std::string::npos) end = chain.size();
    std::string_view name(chain.data() + at, std::min(chain.find('=', at), end) - at);
    if (std::find(kDeviceScalers.begin(), kDeviceScalers.end(), name) != kDeviceScalers.end()) return true;
    at = end + 1;
  }
  return false;
}

/// Adds the time from construction to destruction to one stage's clock.
class StageTimer {
 public:
  explicit StageTimer(std::atomic<int64_t>& clock) : clock_(clock), start_(Clock::now()) {}
  ~StageTimer() {
    clock_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count(),
                     std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t>& clock_;
  Clock::time_point start_;
};

/// The first error any thread met; once set, every thread winds down.
class JobState {
 public:
  void fail(Status status) {
    std::lock_guard lock(mu_);
    if (first_.is_ok()) first_ = std::move(status);
    aborted_ = true;
  }
  bool aborted() const { return aborted_.load(std::memory_order_relaxed); }
  Status first_error() const {
    std::lock_guard lock(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  Status first_;
  std::atomic<bool> aborted_{false};
};

struct Rendition {
  PlannedRendition plan;
  FrameQueue queue{kQueueDepth};
  std::vector<Rendition*> children;  // renditions scaled from this one's output (cascade)
  int encoder_threads = 0;           // 0 = the encoder's own choice
  bool has_parent = false;
  std::string encoder;               // chosen for its codec on the job's device (encoder_for)
  std::unique_ptr<package::CmafTrackWriter> writer;  // its CMAF track, when packaged
  std::unique_ptr<package::ProgressiveMp4Writer> mp4;  // its MP4, when asked for
  std::atomic<int64_t> frames{0};
  std::atomic<double> media_seconds{0};
  std::thread thread;
};

/// Everything a rendition worker reads but never changes.
struct WorkerContext {
  const RunnerConfig* config;
  AVRational time_base;      // of the frames in the queue (the video stream's)
  AVRational frame_rate;
  package::SharedTimeline* timeline;
  JobState* job;
  StageClocks* clocks;
  // Keyframes every `gop_frames` frames, counted, instead of at timestamps: when an encoder of
  // the ladder cannot be forced (SVT-AV1 in FFmpeg 5.1), every rendition follows its fixed GOP,
  // so all codecs share one keyframe grid. Each rendition sees the same frames in order.
  bool keyframes_by_count = false;
  int gop_frames = 0;
};

/// The encoder for a rendition's codec on the recipe's device: the recipe's own for its codec
/// (H.264), the backend's encoder of another codec where the device lists that codec, else the
/// codec's software encoder (frames then leave the device before it: a hybrid).
std::string encoder_for(const PlannedRendition& r, const VideoRecipe& recipe) {
  if (r.codec == "h264") return recipe.encoder;
  const VideoCodecInfo* info = video_codec(r.codec);
  if (!info) return "";
  const char* hw = recipe.backend == "vaapi" ? info->vaapi_encoder
                   : recipe.backend == "qsv" ? info->qsv_encoder
                   : recipe.backend == "nvenc" ? info->nvenc_encoder
                                               : nullptr;
  const auto& listed = recipe.device.encode_codecs;
  if (hw && std::find(listed.begin(), listed.end(), r.codec) != listed.end()) return hw;
  return info->software_encoder;
}

/// Whether `encoder` takes frames in device memory.
bool takes_device_frames(const std::string& encoder) {
  const AVCodec* c = avcodec_find_encoder_by_name(encoder.c_str());
  return c && (c->capabilities & AV_CODEC_CAP_HARDWARE);
}

class RenditionWorker {
 public:
  RenditionWorker(Rendition& r, const WorkerContext& ctx) : r_(r), ctx_(ctx) {}

  /// On a hardware recipe any failure here is the device's (the input already decoded):
  /// kDeviceLost, so the job restarts on the next backend in its chain.
  Status run() {
    Status st = run_frames();
    const VideoRecipe& recipe = ctx_.config->recipe;
    if (st.is_ok() || recipe.backend == "software" || st.code() == Code::kCancelled ||
        st.code() == Code::kDeviceLost || st.code() == Code::kBusy || st.code() == Code::kIo)
      return st;
    return {Code::kDeviceLost, fmt::format("{} device {} failed on rendition {}: {}", recipe.backend,
                                           recipe.device.id, r_.plan.folder, st.message())};
  }

 private:
  Status run_frames() {
    scaled_ = av::make_frame();
    packet_ = av::make_packet();
    while (auto item = r_.queue.pop()) {
      if (ctx_.job->aborted()) return Status::ok();
      AVFrame* frame = item->get();
      if (passthrough(frame)) {
        KILN_RETURN_IF_ERROR(flush_chain());
        KILN_RETURN_IF_ERROR(deliver(frame));
        continue;
      }
      if (!chain_ || !chain_->input().same_picture(frame)) KILN_RETURN_IF_ERROR(rebuild_chain(frame));
      {
        StageTimer t(ctx_.clocks->scale);
        KILN_RETURN_IF_ERROR(chain_->push(frame));
      }
      KILN_RETURN_IF_ERROR(drain_chain());
    }
    if (ctx_.job->aborted()) return Status::ok();
    KILN_RETURN_IF_ERROR(flush_chain());
    if (encoder_) KILN_RETURN_IF_ERROR(encode(nullptr));
    return Status::ok();
  }

  /// A system-memory frame already at this rendition's size in the encoder's format (the top
  /// rung of a ladder that starts at the source's size) goes to the encoder as it is: a scaler
  /// at the same size would only copy all of it.
  bool passthrough(const AVFrame* frame) const {
    return !frame->hw_frames_ctx && frame->format == AV_PIX_FMT_YUV420P && frame->width == r_.plan.width &&
           frame->height == r_.plan.height &&
           (frame->sample_aspect_ratio.num == 0 || frame->sample_aspect_ratio.num == frame->sample_aspect_ratio.den);
  }

  /// Finishes what a chain holds (end of input, or the source changed size mid-stream).
  Status flush_chain() {
    if (!chain_) return Status::ok();
    KILN_RETURN_IF_ERROR(chain_->push(nullptr));
    KILN_RETURN_IF_ERROR(drain_chain());
    chain_.reset();
    return Status::ok();
  }

  Status rebuild_chain(const AVFrame* frame) {
    KILN_RETURN_IF_ERROR(flush_chain());
    const std::string desc = frame->hw_frames_ctx && !takes_device_frames(r_.encoder)
                                 ? download_chain(frame)
                                 : ctx_.config->recipe.scale_filter(ScaleRequest{
                                       r_.plan.width, r_.plan.height, r_.has_parent, frame->hw_frames_ctx != nullptr});
    auto chain = media::FilterChain::create(media::FrameParams::of(frame, ctx_.time_base, ctx_.frame_rate), desc,
                                            1, ctx_.config->recipe.hw_device.get());
    if (!chain) return chain.status();
    ++(chain_on_device(desc) ? ctx_.clocks->device_scalers : ctx_.clocks->cpu_scalers);
    chain_.emplace(std::move(chain).value());
    out_time_base_ = chain_->output_time_base();
    return Status::ok();
  }

  /// A software encoder of another codec fed from a device: download, then the device's
  /// scaler's job done in system memory.
  std::string download_chain(const AVFrame* frame) const {
    const auto* frames = reinterpret_cast<const AVHWFramesContext*>(frame->hw_frames_ctx->data);
    const char* sw = av_get_pix_fmt_name(frames->sw_format);
    return fmt::format("hwdownload,format={},zscale=w={}:h={}:filter=lanczos,format=yuv420p,setsar=1",
                       sw ? sw : "nv12", r_.plan.width, r_.plan.height);
  }

  Status drain_chain() {
    for (;;) {
      Result<bool> got = false;
      {
        StageTimer t(ctx_.clocks->scale);
        got = chain_->pull(scaled_.get());
      }
      if (!got) return got.status();
      if (!*got) return Status::ok();
      Status st = deliver(scaled_.get());
      av_frame_unref(scaled_.get());
      KILN_RETURN_IF_ERROR(st);
    }
  }

  /// One frame at this rendition's size: a reference to each cascaded child, then the encoder.
  Status deliver(AVFrame* frame) {
    for (Rendition* child : r_.children) {
      av::FramePtr ref = av::ref_frame(frame);
      if (!ref) return {Code::kInternal, "out of memory referencing a frame"};
      child->queue.push(std::move(ref));  // false: the child failed; the job is ending
    }
    return encode(frame);
  }

  Status open_encoder(const AVFrame* frame) {
    const auto& cfg = *ctx_.config;
    media::VideoEncoderConfig ec;
    ec.encoder = r_.encoder;
    ec.width = frame->width;
    ec.height = frame->height;
    ec.pix_fmt = static_cast<AVPixelFormat>(frame->format);
    ec.hw_frames = frame->hw_frames_ctx;
    ec.time_base = out_time_base_;
    ec.frame_rate = ctx_.frame_rate;
    ec.spec = r_.plan.spec;
    ec.gop_seconds = cfg.ladder.gop_seconds;
    ec.gop_frames = ctx_.gop_frames;
    ec.threads = r_.encoder_threads;
    ec.color_primaries = frame->color_primaries;
    ec.color_trc = frame->color_trc;
    ec.colorspace = frame->colorspace;
    ec.color_range = frame->color_range;
    auto enc = media::open_video_encoder(ec);
    if (!enc) return enc.status();
    encoder_ = std::move(enc).value();
    if (r_.mp4) KILN_RETURN_IF_ERROR(r_.mp4->start_video(encoder_.get()));
    if (!r_.plan.packaged) return Status::ok();
    auto writer = package::CmafTrackWriter::open(cfg.out_dir, r_.plan.folder, encoder_.get(),
                                                 cfg.ladder.segment_seconds, ctx_.timeline);
    if (!writer) return writer.status();
    r_.writer = std::move(writer).value();
    return Status::ok();
  }

  Status encode(AVFrame* frame) {
    if (frame && !encoder_) KILN_RETURN_IF_ERROR(open_encoder(frame));
    if (frame) {
      // Keyframes at the same timestamps in every rendition: the segmenter cuts there.
      double t = frame->pts * av_q2d(out_time_base_);
      frame->pict_type = AV_PICTURE_TYPE_NONE;
      if (ctx_.keyframes_by_count) {
        if (r_.frames.load(std::memory_order_relaxed) % ctx_.gop_frames == 0) frame->pict_type = AV_PICTURE_TYPE_I;
      } else if (t >= next_keyframe_ - kKeyframeEpsilon) {
        frame->pict_type = AV_PICTURE_TYPE_I;
        next_keyframe_ = next_keyframe_time(t, ctx_.config->ladder.gop_seconds,
                                            ctx_.config->ladder.segment_seconds);
      }
      if (r_.frames.load(std::memory_order_relaxed) == ctx_.config->fault_at_frame)
        return {Code::kDeviceLost, fmt::format("fault injected at frame {} (KILN_FAULT)",
                                               ctx_.config->fault_at_frame)};
      r_.frames.fetch_add(1, std::memory_order_relaxed);
      r_.media_seconds.store(t, std::memory_order_relaxed);
    }
    int ret = 0;
    {
      StageTimer t(ctx_.clocks->encode);
      ret = avcodec_send_frame(encoder_.get(), frame);
    }
    if (ret < 0 && ret != AVERROR_EOF)
      return av::to_status(ret, Code::kInternal, fmt::format("encoding {} ({})", r_.plan.folder, r_.encoder));
    for (;;) {
      {
        StageTimer t(ctx_.clocks->encode);
        ret = avcodec_receive_packet(encoder_.get(), packet_.get());
      }
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return Status::ok();
      AV_TRY(ret, Code::kInternal, fmt::format("encoding {} ({})", r_.plan.folder, r_.encoder));
      StageTimer t(ctx_.clocks->package);
      if (r_.mp4) KILN_RETURN_IF_ERROR(r_.mp4->write_video(packet_.get()));  // a copy: the track takes it
      if (r_.writer) KILN_RETURN_IF_ERROR(r_.writer->write(packet_.get()));
      av_packet_unref(packet_.get());
    }
  }

  Rendition& r_;
  const WorkerContext& ctx_;
  std::optional<media::FilterChain> chain_;
  AVRational out_time_base_ = ctx_.time_base;  // a chain's output keeps its input's time base
  av::CodecContextPtr encoder_;
  av::FramePtr scaled_;
  av::PacketPtr packet_;
  double next_keyframe_ = 0;
};

/// Reports progress from its own thread so it keeps ticking while queues are full or the
/// encoders drain.
class ProgressTicker {
 public:
  ProgressTicker(const RunnerConfig& cfg, std::vector<std::unique_ptr<Rendition>>& renditions,
                 double duration)
      : cfg_(cfg), renditions_(renditions), duration_(duration), start_(Clock::now()) {
    if (cfg_.on_progress) thread_ = std::thread([this] { loop(); });
  }
  ~ProgressTicker() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, kProgressInterval, [&] { return stopping_; })) cfg_.on_progress(snapshot());
  }

  Progress snapshot() const {
    Progress p;
    p.phase = "transcoding";
    int64_t frames = INT64_MAX;
    double media = 1e300;
    for (const auto& r : renditions_) {
      frames = std::min<int64_t>(frames, r->frames.load(std::memory_order_relaxed));
      media = std::min(media, r->media_seconds.load(std::memory_order_relaxed));
    }
    if (renditions_.empty()) frames = 0, media = 0;
    double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    p.frames = frames;
    p.fps = elapsed > 0 ? frames / elapsed : 0;
    p.speed = elapsed > 0 ? media / elapsed : 0;
    if (duration_ > 0) {
      p.percent = std::clamp(media / duration_ * 100.0, 0.0, 100.0);
      if (p.speed > 0) p.eta_seconds = std::max(0.0, (duration_ - media) / p.speed);
    }
    return p;
  }

  const RunnerConfig& cfg_;
  std::vector<std::unique_ptr<Rendition>>& renditions_;
  double duration_;
  Clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

/// Demux, video decode, shared pre-processing and audio: the decode thread.
class Decoder {
 public:
  Decoder(const RunnerConfig& cfg, std::vector<std::unique_ptr<Rendition>>& renditions,
          JobState& job, StageClocks* clocks)
      : cfg_(cfg), renditions_(renditions), job_(job), clocks_(clocks) {}

  Status open(package::SharedTimeline* timeline) {
    AVFormatContext* fmt = cfg_.input->format.get();
    const auto& info = cfg_.input->info;
    vst_ = fmt->streams[info.video.index];
    const AVCodec* codec = avcodec_find_decoder(vst_->codecpar->codec_id);
    dec_.reset(avcodec_alloc_context3(codec));
    AV_TRY(avcodec_parameters_to_context(dec_.get(), vst_->codecpar), Code::kInternal,
           "configuring the video decoder");
    dec_->pkt_timebase = vst_->time_base;
    dec_->thread_count = 1;
    tb_ = pipeline_time_base(vst_->time_base);
    pre_desc_ = preprocess_chain(info.video);
    KILN_RETURN_IF_ERROR(setup_hw_decode(codec));
    AV_TRY(avcodec_open2(dec_.get(), codec, nullptr), Code::kInputUndecodable,
           fmt::format("opening the {} decoder for '{}'", codec->name, info.path));
    if (vst_->start_time != AV_NOPTS_VALUE && std::fabs(vst_->start_time * av_q2d(vst_->time_base)) < kMaxStartSeconds)
      origin_ = av_rescale_q(vst_->start_time, vst_->time_base, tb_);
    // The probe chose a plausible rate (or none, when the container gives none).
    const Rational fr = info.video.frame_rate;
    frame_rate_ = fr.num > 0 && fr.den > 0 ? AVRational{fr.num, fr.den} : AVRational{30, 1};
    default_duration_ = std::max<int64_t>(1, av_rescale_q(1, av_inv_q(frame_rate_), tb_));
    repair_.emplace(fmt);
    // A read blocked on a slow or stuck input returns once the job is cancelled.
    if (cfg_.cancel) {
      fmt->interrupt_callback.callback = [](void* flag) {
        return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
      };
      fmt->interrupt_callback.opaque = const_cast<std::atomic<bool>*>(cfg_.cancel);
    }
    if (!pre_desc_.empty()) logger("pipeline")->info("shared pre-processing: {}", pre_desc_);
    frame_ = av::make_frame();
    filtered_ = av::make_frame();
    packet_ = av::make_packet();

    if (info.audio) {
      AVStream* ast = fmt->streams[info.audio->index];
      auto audio = media::AudioTranscoder::open(
          ast, cfg_.ladder.audio, origin_ * av_q2d(tb_),
          [this](AVPacket* p) {
            for (auto& r : renditions_)  // the MP4s' copies first: the track takes the packet
              if (r->mp4) KILN_RETURN_IF_ERROR(r->mp4->write_audio(p));
            return audio_writer_->write(p);
          });
      if (!audio) return audio.status();
      audio_.emplace(std::move(audio).value());
      auto writer = package::CmafTrackWriter::open(cfg_.out_dir, "audio", audio_->encoder(),
                                                   cfg_.ladder.segment_seconds, timeline);
      if (!writer) return writer.status();
      audio_writer_ = std::move(writer).value();
    }
    return Status::ok();
  }

  /// The time base of every frame the decoder hands on (see pipeline_time_base).
  AVRational time_base() const { return tb_; }
  bool hw_decoding() const { return hw_pix_fmt_ != AV_PIX_FMT_NONE; }
  AVRational frame_rate() const { return frame_rate_; }

  /// Reads the whole input. Frames go to every rendition queue; the queues are finished at
  /// the end (or closed on failure).
  Status run() {
    AVFormatContext* fmt = cfg_.input->format.get();
    int read_errors = 0;
    for (;;) {
      if (cfg_.cancel && cfg_.cancel->load()) return {Code::kCancelled, "cancelled"};
      if (job_.aborted()) return Status::ok();
      int ret = av_read_frame(fmt, packet_.get());
      if (ret == AVERROR_EOF || (ret < 0 && fmt->pb && avio_feof(fmt->pb))) break;
      if (ret < 0) {
        // A damaged stretch of container: skip it, but give up on a file that is all damage.
        ++corrupt_;
        // Whatever libav calls it (a damaged size field reads as "cannot allocate memory"),
        // a container that keeps failing to read is the input's fault, not Kiln's.
        if (++read_errors > 100)
          return {Code::kInputTruncated, fmt::format("reading '{}' failed repeatedly ({}): the file is damaged",
                                                     cfg_.input->info.path, av::error_string(ret))};
        continue;
      }
      read_errors = 0;
      Status st = Status::ok();
      const bool audio_packet = audio_ && packet_->stream_index == cfg_.input->info.audio->index;
      if (packet_->stream_index == vst_->index || audio_packet) repair_->fix(packet_.get());
      if (packet_->stream_index == vst_->index) {
        ++video_packets_;
        st = decode(packet_.get());
      } else if (audio_packet) {
        st = audio_->send(packet_.get());
      }
      av_packet_unref(packet_.get());
      KILN_RETURN_IF_ERROR(st);
    }
    KILN_RETURN_IF_ERROR(decode(nullptr));
    if (pre_) {
      KILN_RETURN_IF_ERROR(pre_->push(nullptr));
      KILN_RETURN_IF_ERROR(drain_pre());
    }
    // A cascaded rendition's queue is fed, and finished, by its parent's worker.
    for (auto& r : renditions_)
      if (!r->has_parent) r->queue.finish();
    if (thumbnailer_)
      thumbnailer_->finish(last_out_.get(), last_pts_ == AV_NOPTS_VALUE
                                                ? 0
                                                : (last_pts_ + default_duration_ - origin_) * av_q2d(tb_));
    if (audio_) KILN_RETURN_IF_ERROR(audio_->finish());
    return Status::ok();
  }

  /// Checks that the input really was a decodable, complete video.
  Status verify_complete() const {
    const auto& info = cfg_.input->info;
    if (frames_ == 0)
      return {Code::kInputUndecodable,
              fmt::format("'{}': the {} video stream could not be decoded ({} packets, "
                          "none decodable)", info.path, info.video.codec, video_packets_)};
    double end = (last_pts_ + default_duration_ - origin_) * av_q2d(tb_);
    const AVFormatContext* fmt = cfg_.input->format.get();
    const double expected = info.duration_seconds + repair_->shift_seconds();
    // Only a duration the container states (MP4's moov, Matroska's header) can show a file cut
    // short; one libavformat estimated from the last timestamps (MPEG-TS, FLV) says nothing a
    // damaged timestamp cannot change.
    if (info.duration_seconds > 0 && fmt->duration_estimation_method == AVFMT_DURATION_FROM_STREAM &&
        end < expected * 0.9 - 0.5)
      return {Code::kInputTruncated,
              fmt::format("'{}' is truncated: the container says {:.2f} s{} but the video ends at {:.2f} s", info.path,
                          info.duration_seconds,
                          repair_->shift_seconds() != 0
                              ? fmt::format(" ({:.2f} s once timestamp jumps are closed)", expected)
                              : std::string(),
                          end)};
    return Status::ok();
  }

  int64_t frames() const { return frames_; }
  int corrupt() const { return corrupt_ + (audio_ ? audio_->corrupt_packets() : 0); }
  int dropped() const { return dropped_; }
  int cropped() const { return cropped_; }
  int64_t filled_frames() const { return filled_frames_; }
  double filled_seconds() const { return filled_seconds_; }
  const media::TimestampRepair& repair() const { return *repair_; }
  package::CmafTrackWriter* audio_writer() { return audio_writer_.get(); }
  const media::AudioTranscoder* audio() const { return audio_ ? &*audio_ : nullptr; }

 private:
  /// Decodes on the recipe's device when it can: frames then stay there (zero-copy). Shared
  /// pre-processing (deinterlace, rotation) runs in system memory, so such sources, and codecs
  /// without a hwaccel on this device, decode in software and the scaler uploads.
  Status setup_hw_decode(const AVCodec* codec) {
    const VideoRecipe& recipe = cfg_.recipe;
    if (recipe.hw_decode.empty() || !recipe.hw_device) return Status::ok();
    auto log = logger("pipeline");
    if (!pre_desc_.empty()) {
      log->info("{}: decoding in software (the source needs {})", recipe.backend, pre_desc_);
      return Status::ok();
    }
    AVHWDeviceType type = av_hwdevice_find_type_by_name(recipe.hw_decode.c_str());
    for (int i = 0;; ++i) {
      const AVCodecHWConfig* hw = avcodec_get_hw_config(codec, i);
      if (!hw) break;
      if (hw->device_type == type && (hw->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX)) {
        hw_pix_fmt_ = hw->pix_fmt;
        break;
      }
    }
    if (hw_pix_fmt_ == AV_PIX_FMT_NONE) {
      log->info("{}: no {} hwaccel for {}; decoding in software", recipe.backend, recipe.hw_decode,
                codec->name);
      return Status::ok();
    }
    dec_->hw_device_ctx = av_buffer_ref(recipe.hw_device.get());
    if (!dec_->hw_device_ctx) return {Code::kInternal, "out of memory referencing a device"};
    dec_->opaque = this;
    dec_->get_format = [](AVCodecContext* ctx, const AVPixelFormat* fmts) {
      auto* self = static_cast<Decoder*>(ctx->opaque);
      for (const AVPixelFormat* f = fmts; *f != AV_PIX_FMT_NONE; ++f)
        if (*f == self->hw_pix_fmt_) return *f;
      // The device cannot decode this stream's profile (10-bit H.264, 4:2:2, ...): software.
      logger("pipeline")->warn("{}: the device cannot decode this stream's format; decoding in software",
                               self->cfg_.recipe.backend);
      for (const AVPixelFormat* f = fmts; *f != AV_PIX_FMT_NONE; ++f)
        if (!(av_pix_fmt_desc_get(*f)->flags & AV_PIX_FMT_FLAG_HWACCEL)) return *f;
      return AV_PIX_FMT_NONE;
    };
    // Hardware decoders hold their surfaces until the filters and encoders release them:
    // leave room for every queued frame.
    dec_->extra_hw_frames = static_cast<int>(kQueueDepth * (renditions_.size() + 1) + 1);  // +1: last_out_
    log->info("{}: {} decode on {}", recipe.backend, recipe.hw_decode, recipe.device.id);
    return Status::ok();
  }

  Status decode(const AVPacket* pkt) {
    int ret = 0;
    {
      StageTimer t(clocks_->decode);  // the codec's own time, not waits on full queues
      ret = avcodec_send_packet(dec_.get(), pkt);
    }
    if (ret < 0 && ret != AVERROR_EOF) return decode_error(ret);
    for (;;) {
      {
        StageTimer t(clocks_->decode);
        ret = avcodec_receive_frame(dec_.get(), frame_.get());
      }
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return Status::ok();
      if (ret < 0) {
        KILN_RETURN_IF_ERROR(decode_error(ret));
        continue;
      }
      if (frame_->decode_error_flags || (frame_->flags & AV_FRAME_FLAG_CORRUPT)) ++corrupt_;
      Status st = on_frame(frame_.get());
      av_frame_unref(frame_.get());
      KILN_RETURN_IF_ERROR(st);
    }
  }

  /// A decoder's refusal of a packet. In software it is damage in the input, whatever libav
  /// calls it (decoders answer a damaged stream with EINVAL, EPERM or ENOSYS as well as
  /// INVALIDDATA): the packet is skipped and counted, as the ffmpeg CLI does, and a stream
  /// with no decodable frame at all is refused at the end (verify_complete). On a device, an
  /// error other than damage is the device's: the job moves down its chain.
  Status decode_error(int ret) {
    if (ret == AVERROR(ENOMEM)) return av::to_status(ret, Code::kInputLimits, "decoding video");
    if (hw_decoding() && ret != AVERROR_INVALIDDATA)
      return av::to_status(ret, Code::kDeviceLost, fmt::format("the {} decoder on {}", cfg_.recipe.backend,
                                                               cfg_.recipe.device.id));
    ++corrupt_;
    return Status::ok();
  }

  Status on_frame(AVFrame* f) {
    media::sanitize_frame_colour(f);
    int64_t pts = f->best_effort_timestamp;
    if (pts != AV_NOPTS_VALUE) pts = av_rescale_q(pts, vst_->time_base, tb_);
    if (pts == AV_NOPTS_VALUE) pts = last_pts_ == AV_NOPTS_VALUE ? origin_ : last_pts_ + default_duration_;
    if (last_pts_ != AV_NOPTS_VALUE && pts <= last_pts_) {
      ++dropped_;  // timestamps went backwards: an encoder cannot take this frame
      return Status::ok();
    }
    last_pts_ = pts;
    f->pts = pts;
    KILN_RETURN_IF_ERROR(check_limits_mid_stream(f, pts));
    if (!even_picture(f)) return Status::ok();
    ++frames_;
    if (f->hw_frames_ctx) ++clocks_->device_decoded_frames;
    if (pre_desc_.empty()) return distribute(f);
    if (!pre_ || !pre_->input().same_picture(f)) {
      if (pre_) {
        KILN_RETURN_IF_ERROR(pre_->push(nullptr));
        KILN_RETURN_IF_ERROR(drain_pre());
      }
      auto chain = media::FilterChain::create(media::FrameParams::of(f, tb_, frame_rate_),
                                              pre_desc_, 0);
      if (!chain) return chain.status();
      pre_.emplace(std::move(chain).value());
    }
    KILN_RETURN_IF_ERROR(pre_->push(f));
    return drain_pre();
  }

  /// A damaged stream can change size mid-way to one that 4:2:0 cannot hold (321x240) or to
  /// almost nothing: such a picture is cropped to the chroma grid (a warning counts them), and
  /// one smaller than that grid is dropped as corrupt. False: drop the frame.
  bool even_picture(AVFrame* f) {
    if (f->hw_frames_ctx) return true;  // the device decoder's own surfaces
    const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(f->format));
    if (!d) return true;
    const int wa = 1 << d->log2_chroma_w, ha = 1 << d->log2_chroma_h;
    if (f->width < wa || f->height < ha) {
      ++corrupt_;
      return false;
    }
    if (f->width % wa == 0 && f->height % ha == 0) return true;
    f->crop_right += static_cast<size_t>(f->width % wa);
    f->crop_bottom += static_cast<size_t>(f->height % ha);
    if (av_frame_apply_cropping(f, AV_FRAME_CROP_UNALIGNED) < 0) {
      ++corrupt_;
      return false;
    }
    ++cropped_;
    return true;
  }

  /// The probe checked the first frames' size and the declared duration; a stream may change
  /// size later or run past what its header says. Both must stay inside the preset's limits.
  Status check_limits_mid_stream(const AVFrame* f, int64_t pts) const {
    const Limits& lim = cfg_.ladder.limits;
    const std::string& path = cfg_.input->info.path;
    if (f->width > lim.max_width || f->height > lim.max_height)
      return {Code::kInputLimits,
              fmt::format("'{}': the video changes size mid-stream to {}x{}, larger than the limit of "
                          "{}x{} (limits.max_width/max_height)", path, f->width, f->height,
                          lim.max_width, lim.max_height)};
    double t = (pts - origin_) * av_q2d(tb_);
    if (t > lim.max_duration_seconds)
      return {Code::kInputLimits,
              fmt::format("'{}': the video runs past the limit of {:.0f} s (limits.max_duration_seconds) "
                          "although its header says {:.1f} s", path, lim.max_duration_seconds,
                          cfg_.input->info.duration_seconds)};
    return Status::ok();
  }

  Status drain_pre() {
    for (;;) {
      auto got = pre_->pull(filtered_.get());
      if (!got) return got.status();
      if (!*got) return Status::ok();
      filtered_->pts = av_rescale_q(filtered_->pts, pre_->output_time_base(), tb_);
      Status st = distribute(filtered_.get());
      av_frame_unref(filtered_.get());
      KILN_RETURN_IF_ERROR(st);
    }
  }

  /// One reference per top-level rendition; the picture itself is not copied.
  /// A hole in the video's timestamps (a damaged or lost stretch, a first keyframe that
  /// could not be decoded) is filled with repeats of the frame before it (of the first frame,
  /// at the start), as the ffmpeg CLI's constant-frame-rate mode does: with B-frames the
  /// encoder's decode times would otherwise leave a hole in a player's buffered range, where
  /// it stalls. Gaps a variable-frame-rate source really has (a few frame times) stay, except
  /// before the first frame.
  Status distribute(AVFrame* f) {
    f->pts -= origin_;
    const int64_t step = default_duration_;
    const int64_t hole = std::max<int64_t>(kMinHoleFrames * step, av_rescale_q(kMinHoleMs, {1, 1000}, tb_));
    const AVFrame* fill = last_out_ ? last_out_.get() : f;
    int64_t from = last_out_ ? last_out_->pts + step : 0;
    // At the start any lateness is filled: audio starts at the video's origin.
    if (last_out_ ? f->pts - (from - step) > hole : f->pts > step / 2) {
      for (int64_t t = from; t + step / 2 < f->pts; t += step) {
        av::FramePtr copy = av::ref_frame(fill);
        if (!copy) return {Code::kInternal, "out of memory referencing a frame"};
        copy->pts = t;
        KILN_RETURN_IF_ERROR(emit(copy.get()));
        ++filled_frames_;
        filled_seconds_ += static_cast<double>(step) * av_q2d(tb_);
      }
    }
    KILN_RETURN_IF_ERROR(emit(f));
    last_out_ = av::ref_frame(f);
    if (!last_out_) return {Code::kInternal, "out of memory referencing a frame"};
    return Status::ok();
  }

  /// One reference per top-level rendition; the picture itself is not copied.
  Status emit(const AVFrame* f) {
    for (auto& r : renditions_) {
      if (r->has_parent) continue;
      av::FramePtr ref = av::ref_frame(f);
      if (!ref) return {Code::kInternal, "out of memory referencing a frame"};
      if (!r->queue.push(std::move(ref))) return Status::ok();  // worker gone; job failing
    }
    if (thumbnailer_) thumbnailer_->offer(f);  // false: it failed, and its error ends the job
    return Status::ok();
  }

 public:
  /// The branch that takes poster and thumbnail frames (nullptr: none). Set before run().
  void set_thumbnailer(Thumbnailer* t) { thumbnailer_ = t; }

 private:
  Thumbnailer* thumbnailer_ = nullptr;
  const RunnerConfig& cfg_;
  std::vector<std::unique_ptr<Rendition>>& renditions_;
  JobState& job_;
  StageClocks* clocks_;
  AVStream* vst_ = nullptr;
  av::CodecContextPtr dec_;
  std::optional<media::FilterChain> pre_;
  std::string pre_desc_;
  std::optional<media::AudioTranscoder> audio_;
  std::unique_ptr<package::CmafTrackWriter> audio_writer_;
  av::FramePtr frame_, filtered_;
  av::PacketPtr packet_;
  std::optional<media::TimestampRepair> repair_;
  AVRational tb_{1, 90000};
  AVRational frame_rate_{30, 1};
  int64_t origin_ = 0;  // the video's first timestamp, in tb_
  int64_t default_duration_ = 1;
  int64_t last_pts_ = AV_NOPTS_VALUE;
  int64_t frames_ = 0;
  int64_t video_packets_ = 0;
  int corrupt_ = 0;
  int dropped_ = 0;
  int cropped_ = 0;
  av::FramePtr last_out_;  // the frame handed on last, to repeat across a hole
  int64_t filled_frames_ = 0;
  double filled_seconds_ = 0;
  AVPixelFormat hw_pix_fmt_ = AV_PIX_FMT_NONE;
};

/// Scaling is a large share of a software ladder: each rendition scales from the smallest
/// larger rendition that is at least kCascadeRatio bigger, instead of from the full-size source
/// (1080p -> 720p -> 480p rather than 1080p -> 720p and 1080p -> 480p). The quality cost is
/// measured in bench/ (SSIM against a lanczos downscale of the source).
void plan_cascade(std::vector<std::unique_ptr<Rendition>>& renditions) {
  const std::string first_codec = renditions.empty() ? "" : renditions.front()->plan.codec;
  for (auto& r : renditions) {
    Rendition* parent = nullptr;
    if (r->plan.codec != first_codec) {
      // Another codec of a size the ladder already scales: that rendition's frames, as they are.
      for (auto& p : renditions)
        if (p->plan.codec == first_codec && p->plan.packaged && p->plan.width == r->plan.width &&
            p->plan.height == r->plan.height)
          parent = p.get();
    }
    for (auto& p : renditions) {
      if (parent) break;
      if (p->plan.codec != first_codec) continue;  // codec variants feed no one
      if (p.get() == r.get() || p->plan.width < r->plan.width * kCascadeRatio ||
          p->plan.height < r->plan.height * kCascadeRatio)
        continue;
      if (!parent || p->plan.width < parent->plan.width) parent = p.get();
    }
    if (parent) {
      parent->children.push_back(r.get());
      r->has_parent = true;
    }
  }
}

/// The process's data size against its ceiling (RLIMIT_DATA), as "N of M MiB", or empty when
/// there is no ceiling or less than kCeilingShare of it is in use. Libraries report a refused
/// allocation in their own words (x264: "Generic error in an external library").
std::string at_memory_ceiling() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_DATA, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return "";
  std::FILE* f = std::fopen("/proc/self/status", "re");
  if (!f) return "";
  long long data_kb = -1;
  char line[256];
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmData: %lld kB", &data_kb) == 1) break;
  std::fclose(f);
  const double used = static_cast<double>(data_kb) * 1024, limit = static_cast<double>(rl.rlim_cur);
  if (data_kb < 0 || used < kCeilingShare * limit) return "";
  return fmt::format("{} of {} MiB", static_cast<long long>(used) >> 20, rl.rlim_cur >> 20);
}

/// Runs a pipeline thread's body. A failure at the memory ceiling is the input needing more
/// memory than the job may have (a refusal, whatever the library called it); an allocation
/// of ours that throws there is reported the same way instead of ending the process.
Status guarded(const std::function<Status()>& body) {
  const char* kWhy = "the input needs more memory than the job's ceiling allows (--max-memory, or worker_memory_mb "
                     "on a node)";
  try {
    Status st = body();
    if (st.code() != Code::kInternal && st.code() != Code::kDeviceLost) return st;
    const std::string near = at_memory_ceiling();
    if (near.empty()) return st;
    return {Code::kInputLimits, fmt::format("{}: {} used when this failed: {}", kWhy, near, st.message())};
  } catch (const std::bad_alloc&) {
    return {Code::kInputLimits, fmt::format("{}: an allocation failed", kWhy)};
  }
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

AVRational pipeline_time_base(AVRational stream) {
  if (stream.num <= 0 || stream.den <= 0 || stream.den / static_cast<double>(stream.num) > kMaxTicksPerSecond)
    return {1, 90000};
  return stream;
}

std::string preprocess_chain(const VideoStreamInfo& video) {
  std::vector<std::string> steps;
  // deint=interlaced: only frames flagged interlaced are touched (mixed content stays sharp).
  if (video.interlaced) steps.emplace_back("yadif=mode=send_frame:parity=auto:deint=interlaced");
  switch (video.rotation) {
    case 90: steps.emplace_back("transpose=clock"); break;
    case 180: steps.emplace_back("hflip,vflip"); break;
    case 270: steps.emplace_back("transpose=cclock"); break;
    default: break;
  }
  return fmt::format("{}", fmt::join(steps, ","));
}

int x264_threads_for(const PlannedRendition& rendition, const std::vector<PlannedRendition>& all, int cpus) {
  double pixels = 0;
  for (const auto& r : all) pixels += static_cast<double>(r.width) * r.height;
  if (pixels <= 0 || cpus <= 0) return 0;
  double share = static_cast<double>(rendition.width) * rendition.height / pixels;
  return std::clamp(static_cast<int>(std::ceil(cpus * share - 1e-9)), 1, cpus);
}

double next_keyframe_time(double t, double gop_seconds, double segment_seconds) {
  auto next_multiple = [&](double step) {
    return (std::floor((t + kKeyframeEpsilon) / step) + 1) * step;
  };
  return std::min(next_multiple(gop_seconds), next_multiple(segment_seconds));
}

Result<RunnerOutput> run_ladder(const RunnerConfig& config) {
  JobState job;
  std::vector<std::unique_ptr<Rendition>> renditions;
  for (const auto& plan : config.renditions) {
    renditions.push_back(std::make_unique<Rendition>());
    renditions.back()->plan = plan;
  }
  const bool has_audio = config.input->info.audio.has_value();
  const auto packaged = std::count_if(renditions.begin(), renditions.end(), [](const auto& r) { return r->plan.packaged; });
  package::SharedTimeline timeline(static_cast<int>(packaged) + (has_audio ? 1 : 0));

  StageClocks clocks;
  Decoder decoder(config, renditions, job, &clocks);
  KILN_RETURN_IF_ERROR(decoder.open(&timeline));
  WorkerContext ctx{&config, decoder.time_base(), decoder.frame_rate(), &timeline, &job, &clocks};
  plan_cascade(renditions);
  const int cpus = usable_cpus();
  for (auto& r : renditions) {
    r->encoder = encoder_for(r->plan, config.recipe);
    r->encoder_threads = config.encoder_threads > 0 || r->encoder != "libx264"
                             ? config.encoder_threads
                             : x264_threads_for(r->plan, config.renditions, cpus);
    const VideoCodecInfo* codec = video_codec(r->plan.codec);
    if (codec && !codec->forced_keyframes && r->encoder == codec->software_encoder) ctx.keyframes_by_count = true;
    if (r->plan.mp4) {
      auto mp4 = package::ProgressiveMp4Writer::create(
          (std::filesystem::path(config.out_dir) / "mp4" / (r->plan.spec.name + ".mp4")).string(),
          decoder.audio() ? decoder.audio()->encoder() : nullptr);
      if (!mp4) return mp4.status();
      r->mp4 = std::move(mp4).value();
    }
  }
  ThumbnailerConfig tcfg{config.ladder.thumbnails, config.ladder.poster, config.out_dir,
                        config.input->info.video.display_width(), config.input->info.video.display_height(),
                        decoder.time_base(), config.input->info.duration_seconds};
  auto thumbnailer = Thumbnailer::create(tcfg);
  if (!thumbnailer) return thumbnailer.status();
  decoder.set_thumbnailer(thumbnailer->get());
  std::thread thumb_thread;
  if (*thumbnailer)
    thumb_thread = std::thread([&] {
      pthread_setname_np(pthread_self(), "thumbnails");
      setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kEncoderNiceness);
      Status st = guarded([&] { return (*thumbnailer)->run(); });
      if (!st.is_ok()) {
        kiln::logger("pipeline")->error("thumbnails failed: {}", st.to_string());
        job.fail(st);
      }
      (*thumbnailer)->close();
    });
  AVRational fr = decoder.frame_rate();
  ctx.gop_frames = std::max(1, static_cast<int>(std::lround(config.ladder.gop_seconds * av_q2d(fr))));
  if (ctx.keyframes_by_count)
    logger("pipeline")->info("keyframes every {} frames in every rendition (an encoder of the ladder keeps a fixed GOP)",
                             ctx.gop_frames);
  for (auto& r : renditions) {
    r->thread = std::thread([&r, &ctx, &job, &config] {
      // Named per rendition so profilers and top split CPU by rung; x264's threads, started
      // from here, inherit the name.
      pthread_setname_np(pthread_self(), ("enc-" + r->plan.folder).substr(0, 15).c_str());
      // The decode thread feeds every rendition: when the cores are oversubscribed (x264's own
      // threads, two encoders on two cores) encoders yield to it. Their threads, created from
      // here, inherit this. Raising niceness needs no privilege; failure changes nothing.
      setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kEncoderNiceness);
      Status st = guarded([&] { return RenditionWorker(*r, ctx).run(); });
      if (!st.is_ok()) {
        kiln::logger("pipeline")->error("rendition {} failed: {}", r->plan.folder, st.to_string());
        job.fail(st);
      }
      r->queue.close();  // unblock whoever feeds this queue
      for (Rendition* child : r->children) {
        if (st.is_ok() && !job.aborted()) child->queue.finish();
        else child->queue.close();
      }
    });
  }
  ProgressTicker ticker(config, renditions, config.input->info.duration_seconds);
  Status st = guarded([&] { return decoder.run(); });
  if (!st.is_ok()) job.fail(st);
  if (job.aborted()) {
    for (auto& r : renditions) r->queue.close();
    if (*thumbnailer) (*thumbnailer)->close();
  }
  for (auto& r : renditions) r->thread.join();
  if (thumb_thread.joinable()) thumb_thread.join();
  ticker.stop();
  if (job.aborted()) return job.first_error();

  KILN_RETURN_IF_ERROR(decoder.verify_complete());
  RunnerOutput out;
  out.presentation.segment_seconds = config.ladder.segment_seconds;
  for (auto& r : renditions) {
    out.encoders[r->plan.folder] = r->encoder;
    if (r->plan.packaged) {
      if (!r->writer) return Status(Code::kInternal, fmt::format("rendition {} produced no frames", r->plan.folder));
      KILN_RETURN_IF_ERROR(r->writer->finish());
      out.presentation.video.push_back(
          {r->writer->summary(), r->plan.width, r->plan.height, Rational{fr.num, fr.den}, r->plan.codec});
    }
    if (r->mp4) {
      KILN_RETURN_IF_ERROR(r->mp4->finish());
      out.mp4.push_back({r->plan.spec.name, "mp4/" + r->plan.spec.name + ".mp4", r->plan.width, r->plan.height,
                         r->plan.packaged, r->mp4->summary()});
    }
  }
  if (*thumbnailer) {
    out.thumbnails = (*thumbnailer)->outputs();
    const auto& t = out.thumbnails;
    if (!t.sprites.empty()) {
      const double per_sprite = t.interval_seconds * t.columns * t.rows;
      out.presentation.thumbnails = package::ThumbnailTrack{
          fmt::format("thumbs/sprite_$Number%04d$.{}", t.format), t.format == "webp" ? "image/webp" : "image/jpeg",
          t.columns, t.rows, t.tile_width * t.columns, t.tile_height * t.rows, per_sprite,
          t.duration_seconds > 0 ? static_cast<int64_t>(t.sprite_bytes * 8 / t.duration_seconds) : 0};
    }
  }
  // Grouped by codec in the ladder's order, largest first within each.
  auto codec_rank = [&](const std::string& c) {
    auto at = std::find(config.ladder.codecs.begin(), config.ladder.codecs.end(), c);
    return at - config.ladder.codecs.begin();
  };
  std::stable_sort(out.presentation.video.begin(), out.presentation.video.end(), [&](const auto& a, const auto& b) {
    if (codec_rank(a.codec) != codec_rank(b.codec)) return codec_rank(a.codec) < codec_rank(b.codec);
    return a.height * a.width > b.height * b.width;
  });
  if (auto* aw = decoder.audio_writer()) {
    KILN_RETURN_IF_ERROR(aw->finish());
    const media::AudioTranscoder* audio = decoder.audio();
    const AVCodecContext* enc = audio->encoder();
    if (audio->produced() && !aw->summary().segments.empty())
      out.presentation.audio = package::AudioTrack{aw->summary(), enc->ch_layout.nb_channels, enc->sample_rate};
    else {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::path(config.out_dir) / "audio", ec);  // only an init segment
      out.warnings.push_back("no audio packet could be decoded; the ladder is video-only");
    }
    if (audio->resyncs() > 0)
      out.warnings.push_back(fmt::format("audio was re-synchronised {} time(s) to its timestamps ({:.2f} s of "
                                         "silence inserted, {:.2f} s trimmed)", audio->resyncs(),
                                         audio->padded_seconds(), audio->trimmed_seconds()));
    if (audio->format_changes() > 0)
      out.warnings.push_back(fmt::format("the audio changed sample rate or channels {} time(s) mid-stream",
                                         audio->format_changes()));
  }
  if (decoder.filled_frames() > 0)
    out.warnings.push_back(fmt::format("{} repeated frame(s) fill {:.2f} s where the video had no decodable "
                                       "picture", decoder.filled_frames(), decoder.filled_seconds()));
  if (int n = decoder.repair().discontinuities(); n > 0)
    out.warnings.push_back(fmt::format("{} timestamp discontinuit{} (jumps of over {:.0f} s or backwards) "
                                       "closed", n, n == 1 ? "y" : "ies", media::kDiscontinuitySeconds));
  if (int n = decoder.repair().dropped_timestamps(); n > 0)
    out.warnings.push_back(fmt::format("{} damaged packet timestamp(s) ignored and interpolated", n));
  auto secs = [](const std::atomic<int64_t>& ns) { return ns.load() / 1e9; };
  out.stages = {secs(clocks.decode), secs(clocks.scale), secs(clocks.encode), secs(clocks.package)};
  out.device_decoded_frames = clocks.device_decoded_frames.load();
  out.device_scalers = clocks.device_scalers.load();
  out.cpu_scalers = clocks.cpu_scalers.load();
  out.frames = decoder.frames();
  out.corrupt_packets = decoder.corrupt();
  out.dropped_frames = decoder.dropped();
  if (out.corrupt_packets > 0)
    out.warnings.push_back(fmt::format("{} corrupt packet(s) in the input were skipped",
                                       out.corrupt_packets));
  if (decoder.cropped() > 0)
    out.warnings.push_back(fmt::format("{} frame(s) changed to a size 4:2:0 cannot hold (odd width or height) and "
                                       "were cropped by one pixel", decoder.cropped()));
  if (out.dropped_frames > 0)
    out.warnings.push_back(fmt::format("{} frame(s) with duplicate or backwards timestamps were dropped",
                                       out.dropped_frames));
  return out;
}

}  // namespace kiln::pipeline
