#include "media/audio_transcoder.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "av/av_error.hpp"
#include "log.hpp"
#include "media/timestamp_repair.hpp"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
}

namespace kiln::media {
namespace {

// Past this distance between where the track is and where its timestamps say it should be,
// the track is padded or trimmed (the ffmpeg CLI's aresample min_hard_comp). Smaller drift is
// timestamp jitter and left alone.
constexpr double kResyncSeconds = 0.1;
// Silence is queued a second at a time, so a long gap never needs one large buffer.
constexpr int kSilenceChunkSeconds = 1;
// More channels than any real layout (22.2 has 24): a damaged header.
constexpr int kMaxChannels = 64;

/// The layout to resample from: the frame's, else the usual one for its channel count, else
/// (a count no standard layout has) the first N speaker positions, which the resampler can
/// always mix down.
AVChannelLayout source_layout(const AVFrame* frame) {
  AVChannelLayout layout{};
  const int n = frame->ch_layout.nb_channels;
  if (frame->ch_layout.order == AV_CHANNEL_ORDER_NATIVE && av_channel_layout_check(&frame->ch_layout))
    av_channel_layout_copy(&layout, &frame->ch_layout);
  else
    av_channel_layout_default(&layout, n);
  if (layout.order != AV_CHANNEL_ORDER_NATIVE) {
    av_channel_layout_uninit(&layout);
    av_channel_layout_from_mask(&layout, n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1);
  }
  return layout;
}

}  // namespace

Result<AudioTranscoder> AudioTranscoder::open(const AVStream* stream,
                                              const AudioSettings& settings,
                                              double origin_seconds, PacketSink sink) {
  AudioTranscoder t;
  t.sink_ = std::move(sink);
  t.origin_ = origin_seconds;
  t.stream_tb_ = stream->time_base;

  const AVCodec* dcodec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!dcodec) return Status(Code::kInputUnsupported, "no decoder for the audio stream");
  t.dec_.reset(avcodec_alloc_context3(dcodec));
  AV_TRY(avcodec_parameters_to_context(t.dec_.get(), stream->codecpar), Code::kInputUndecodable,
         "reading the audio stream's parameters");
  t.dec_->pkt_timebase = stream->time_base;
  AV_TRY(avcodec_open2(t.dec_.get(), dcodec, nullptr), Code::kInputUndecodable,
         fmt::format("opening the {} audio decoder", dcodec->name));

  const AVCodec* ecodec = avcodec_find_encoder_by_name("aac");
  if (!ecodec) return Status(Code::kInternal, "FFmpeg's aac encoder is missing");
  t.enc_.reset(avcodec_alloc_context3(ecodec));
  AVCodecContext* e = t.enc_.get();
  e->sample_fmt = AV_SAMPLE_FMT_FLTP;
  e->sample_rate = settings.sample_rate;
  av_channel_layout_default(&e->ch_layout, settings.channels);
  e->bit_rate = settings.bitrate;
  e->profile = FF_PROFILE_AAC_LOW;
  e->time_base = {1, settings.sample_rate};
  e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AV_TRY(avcodec_open2(e, ecodec, nullptr), Code::kInternal, "opening the AAC encoder");

  t.fifo_.reset(av_audio_fifo_alloc(e->sample_fmt, e->ch_layout.nb_channels, 4 * e->frame_size));
  t.decoded_ = av::make_frame();
  t.chunk_ = av::make_frame();
  t.out_ = av::make_packet();
  if (!t.fifo_ || !t.decoded_ || !t.chunk_ || !t.out_)
    return Status(Code::kInternal, "out of memory setting up audio");
  return t;
}

/// A decoder's refusal of a packet is damage in the input (decoders say so with INVALIDDATA,
/// but also EINVAL, EPERM or ENOSYS): the packet is skipped and counted, and the track's
/// timestamps put the following audio back in place.
Status AudioTranscoder::decode_error(int ret) {
  if (ret == AVERROR(ENOMEM)) return av::to_status(ret, Code::kInputLimits, "decoding audio");
  ++corrupt_;
  return Status::ok();
}

Status AudioTranscoder::send(const AVPacket* packet) {
  int ret = avcodec_send_packet(dec_.get(), packet);
  if (ret < 0 && ret != AVERROR_EOF) return decode_error(ret);
  for (;;) {
    ret = avcodec_receive_frame(dec_.get(), decoded_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return Status::ok();
    if (ret < 0) {
      KILN_RETURN_IF_ERROR(decode_error(ret));
      continue;
    }
    Status st = on_decoded(decoded_.get());
    av_frame_unref(decoded_.get());
    KILN_RETURN_IF_ERROR(st);
  }
}

Result<bool> AudioTranscoder::configure_resampler(const AVFrame* frame) {
  const uint64_t mask = frame->ch_layout.order == AV_CHANNEL_ORDER_NATIVE ? frame->ch_layout.u.mask : 0;
  if (swr_ && frame->sample_rate == in_rate_ && frame->format == in_format_ &&
      frame->ch_layout.nb_channels == in_channels_ && mask == in_mask_)
    return true;
  if (swr_) {
    // What the old resampler still holds belongs before this frame.
    KILN_RETURN_IF_ERROR(flush_resampler());
    ++format_changes_;
    logger("pipeline")->info("audio changes mid-stream to {} Hz, {} channel(s); resampler rebuilt",
                             frame->sample_rate, frame->ch_layout.nb_channels);
  }
  AVChannelLayout in_layout = source_layout(frame);
  SwrContext* swr = nullptr;
  int ret = swr_alloc_set_opts2(&swr, &enc_->ch_layout, enc_->sample_fmt, enc_->sample_rate, &in_layout,
                                static_cast<AVSampleFormat>(frame->format), frame->sample_rate, 0, nullptr);
  av_channel_layout_uninit(&in_layout);
  swr_.reset(swr);
  if (ret >= 0) ret = swr_init(swr);
  if (ret < 0) {
    // Parameters no resampler takes come from the input (a damaged header): these frames are
    // undecodable audio, skipped and counted; the track's timestamps keep what follows in sync.
    if (ret == AVERROR(ENOMEM)) return av::to_status(ret, Code::kInputLimits, "initialising the resampler");
    swr_.reset();
    logger("pipeline")->warn("audio at {} Hz, {} channel(s), {} cannot be resampled: {}; skipped", frame->sample_rate,
                             frame->ch_layout.nb_channels,
                             av_get_sample_fmt_name(static_cast<AVSampleFormat>(frame->format)), av::error_string(ret));
    return false;
  }
  in_rate_ = frame->sample_rate;
  in_format_ = frame->format;
  in_channels_ = frame->ch_layout.nb_channels;
  in_mask_ = mask;
  return true;
}

Status AudioTranscoder::on_decoded(AVFrame* frame) {
  const int channels = frame->ch_layout.nb_channels;
  if (frame->nb_samples <= 0 || frame->sample_rate <= 0 || channels <= 0 || channels > kMaxChannels ||
      !av_get_sample_fmt_name(static_cast<AVSampleFormat>(frame->format))) {
    ++corrupt_;  // a decoder that returned a frame it cannot describe
    return Status::ok();
  }
  auto usable = configure_resampler(frame);
  if (!usable) return usable.status();
  if (!*usable) {
    ++corrupt_;
    return Status::ok();
  }
  KILN_RETURN_IF_ERROR(resync(frame));
  started_ = true;
  int max_out = swr_get_out_samples(swr_.get(), frame->nb_samples);
  if (max_out < 0) return av::to_status(max_out, Code::kInternal, "sizing the resampler's output");
  av::FramePtr converted = av::make_frame();
  converted->format = enc_->sample_fmt;
  converted->nb_samples = max_out;
  AV_TRY(av_channel_layout_copy(&converted->ch_layout, &enc_->ch_layout), Code::kInternal,
         "resample layout");
  AV_TRY(av_frame_get_buffer(converted.get(), 0), Code::kInternal, "resample buffer");
  int n = swr_convert(swr_.get(), converted->extended_data, max_out,
                      const_cast<const uint8_t**>(frame->extended_data), frame->nb_samples);
  AV_TRY(n, Code::kInternal, "resampling audio");
  KILN_RETURN_IF_ERROR(queue_samples(converted->extended_data, n));
  return encode_available(false);
}

/// Compares where this frame's timestamp says it belongs with where the track is, and pads or
/// trims to match. The first frame aligns the track's start with the video's.
Status AudioTranscoder::resync(const AVFrame* frame) {
  const int64_t pts = frame->best_effort_timestamp;
  if (pts == AV_NOPTS_VALUE) return Status::ok();  // no claim: it follows on
  const int rate = enc_->sample_rate;
  const double t = pts * av_q2d(stream_tb_) - origin_;
  if (!std::isfinite(t)) return Status::ok();
  const int64_t position = queued_ + swr_get_delay(swr_.get(), rate) - drop_samples_;
  const int64_t wanted = std::llround(t * rate);
  const int64_t diff = wanted - position;
  const auto limit = static_cast<int64_t>(kDiscontinuitySeconds * rate);
  if (!started_) {
    if (diff > limit) {
      // Audio that claims to start long after the video: a damaged first timestamp, not a
      // silent opening. The track starts with the video.
      logger("pipeline")->warn("audio claims to start {:.1f} s after the video; aligned with the video's start", t);
      ++resyncs_;
      return Status::ok();
    }
    if (diff > 0) return pad_silence(diff);
    drop_samples_ += -diff;  // audio before the video's first frame
    return Status::ok();
  }
  if (std::abs(diff) <= static_cast<int64_t>(kResyncSeconds * rate)) return Status::ok();
  if (std::abs(diff) > limit) return Status::ok();  // beyond any repair: a damaged timestamp
  ++resyncs_;
  if (diff > 0) {
    padded_ += diff;
    return pad_silence(diff);
  }
  trimmed_ += -diff;
  drop_samples_ += -diff;
  return Status::ok();
}

Status AudioTranscoder::pad_silence(int64_t samples) {
  const int chunk = enc_->sample_rate * kSilenceChunkSeconds;
  av::FramePtr silence = av::make_frame();
  silence->format = enc_->sample_fmt;
  silence->nb_samples = static_cast<int>(std::min<int64_t>(samples, chunk));
  AV_TRY(av_channel_layout_copy(&silence->ch_layout, &enc_->ch_layout), Code::kInternal, "silence layout");
  AV_TRY(av_frame_get_buffer(silence.get(), 0), Code::kInternal, "silence buffer");
  av_samples_set_silence(silence->extended_data, 0, silence->nb_samples, enc_->ch_layout.nb_channels,
                         enc_->sample_fmt);
  while (samples > 0) {
    const int n = static_cast<int>(std::min<int64_t>(samples, silence->nb_samples));
    KILN_RETURN_IF_ERROR(queue_samples(silence->extended_data, n));
    KILN_RETURN_IF_ERROR(encode_available(false));
    samples -= n;
  }
  return Status::ok();
}

/// Puts resampled samples in the FIFO, less any still to be trimmed.
Status AudioTranscoder::queue_samples(uint8_t** planes, int samples) {
  const int skip = static_cast<int>(std::min<int64_t>(drop_samples_, samples));
  drop_samples_ -= skip;
  if (samples <= skip) return Status::ok();
  void* at[AV_NUM_DATA_POINTERS];
  const int bps = av_get_bytes_per_sample(enc_->sample_fmt);
  for (int c = 0; c < enc_->ch_layout.nb_channels; ++c) at[c] = planes[c] + static_cast<size_t>(skip) * bps;
  AV_TRY(av_audio_fifo_write(fifo_.get(), at, samples - skip), Code::kInternal, "queueing audio");
  queued_ += samples - skip;
  return Status::ok();
}

Status AudioTranscoder::flush_resampler() {
  for (;;) {
    av::FramePtr tail = av::make_frame();
    tail->format = enc_->sample_fmt;
    tail->nb_samples = 4096;
    AV_TRY(av_channel_layout_copy(&tail->ch_layout, &enc_->ch_layout), Code::kInternal, "resample layout");
    AV_TRY(av_frame_get_buffer(tail.get(), 0), Code::kInternal, "resample buffer");
    int n = swr_convert(swr_.get(), tail->extended_data, 4096, nullptr, 0);
    AV_TRY(n, Code::kInternal, "flushing the resampler");
    if (n == 0) return Status::ok();
    KILN_RETURN_IF_ERROR(queue_samples(tail->extended_data, n));
  }
}

Status AudioTranscoder::encode_available(bool final) {
  const int frame_size = enc_->frame_size;
  while (av_audio_fifo_size(fifo_.get()) >= frame_size ||
         (final && av_audio_fifo_size(fifo_.get()) > 0)) {
    int n = std::min(frame_size, av_audio_fifo_size(fifo_.get()));
    av_frame_unref(chunk_.get());
    chunk_->format = enc_->sample_fmt;
    chunk_->nb_samples = n;
    chunk_->sample_rate = enc_->sample_rate;
    AV_TRY(av_channel_layout_copy(&chunk_->ch_layout, &enc_->ch_layout), Code::kInternal,
           "audio layout");
    AV_TRY(av_frame_get_buffer(chunk_.get(), 0), Code::kInternal, "audio buffer");
    AV_TRY(av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(chunk_->extended_data), n),
           Code::kInternal, "reading queued audio");
    chunk_->pts = next_pts_;
    next_pts_ += n;
    KILN_RETURN_IF_ERROR(encode(chunk_.get()));
  }
  return Status::ok();
}

Status AudioTranscoder::encode(AVFrame* frame) {
  int ret = avcodec_send_frame(enc_.get(), frame);
  if (ret < 0 && ret != AVERROR_EOF) return av::to_status(ret, Code::kInternal, "encoding AAC");
  for (;;) {
    ret = avcodec_receive_packet(enc_.get(), out_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return Status::ok();
    AV_TRY(ret, Code::kInternal, "encoding AAC");
    KILN_RETURN_IF_ERROR(sink_(out_.get()));
    av_packet_unref(out_.get());
  }
}

Status AudioTranscoder::finish() {
  KILN_RETURN_IF_ERROR(send(nullptr));
  if (swr_) KILN_RETURN_IF_ERROR(flush_resampler());
  KILN_RETURN_IF_ERROR(encode_available(true));
  return encode(nullptr);
}

}  // namespace kiln::media
