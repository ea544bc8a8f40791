#include "media/audio_transcoder.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "av/av_error.hpp"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
}

namespace kiln::media {

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
  AV_TRY(avcodec_parameters_to_context(t.dec_.get(), stream->codecpar), Code::kInternal,
         "configuring the audio decoder");
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

  SwrContext* swr = nullptr;
  AV_TRY(swr_alloc_set_opts2(&swr, &e->ch_layout, e->sample_fmt, e->sample_rate,
                             &t.dec_->ch_layout, t.dec_->sample_fmt, t.dec_->sample_rate, 0,
                             nullptr),
         Code::kInternal, "configuring the audio resampler");
  t.swr_.reset(swr);
  AV_TRY(swr_init(swr), Code::kInternal,
         fmt::format("initialising the resampler ({} Hz {} ch -> {} Hz {} ch)",
                     t.dec_->sample_rate, t.dec_->ch_layout.nb_channels, e->sample_rate,
                     e->ch_layout.nb_channels));
  t.fifo_.reset(av_audio_fifo_alloc(e->sample_fmt, e->ch_layout.nb_channels, 4 * e->frame_size));
  t.decoded_ = av::make_frame();
  t.chunk_ = av::make_frame();
  t.out_ = av::make_packet();
  if (!t.fifo_ || !t.decoded_ || !t.chunk_ || !t.out_)
    return Status(Code::kInternal, "out of memory setting up audio");
  return t;
}

Status AudioTranscoder::send(const AVPacket* packet) {
  int ret = avcodec_send_packet(dec_.get(), packet);
  if (ret == AVERROR_INVALIDDATA) {
    ++corrupt_;
    return Status::ok();
  }
  if (ret < 0 && ret != AVERROR_EOF)
    return av::to_status(ret, Code::kInputUndecodable, "decoding audio");
  for (;;) {
    ret = avcodec_receive_frame(dec_.get(), decoded_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return Status::ok();
    if (ret == AVERROR_INVALIDDATA) {
      ++corrupt_;
      continue;
    }
    if (ret < 0) return av::to_status(ret, Code::kInputUndecodable, "decoding audio");
    Status st = on_decoded(decoded_.get());
    av_frame_unref(decoded_.get());
    KILN_RETURN_IF_ERROR(st);
  }
}

Status AudioTranscoder::on_decoded(AVFrame* frame) {
  const int out_rate = enc_->sample_rate;
  if (!started_) {
    started_ = true;
    int64_t pts = frame->best_effort_timestamp;
    double t = pts == AV_NOPTS_VALUE ? 0.0 : pts * av_q2d(stream_tb_) - origin_;
    auto offset = static_cast<int64_t>(std::llround(t * out_rate));
    if (offset > 0) {
      // Audio starts after the video: lead with silence so both tracks start together.
      av::FramePtr silence = av::make_frame();
      silence->format = enc_->sample_fmt;
      silence->nb_samples = static_cast<int>(offset);
      AV_TRY(av_channel_layout_copy(&silence->ch_layout, &enc_->ch_layout), Code::kInternal,
             "silence layout");
      AV_TRY(av_frame_get_buffer(silence.get(), 0), Code::kInternal, "silence buffer");
      av_samples_set_silence(silence->extended_data, 0, silence->nb_samples,
                             enc_->ch_layout.nb_channels, enc_->sample_fmt);
      AV_TRY(av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(silence->extended_data),
                                 silence->nb_samples),
             Code::kInternal, "queueing silence");
    } else {
      drop_samples_ = -offset;
    }
  }
  int max_out = swr_get_out_samples(swr_.get(), frame->nb_samples);
  av::FramePtr converted = av::make_frame();
  converted->format = enc_->sample_fmt;
  converted->nb_samples = max_out;
  AV_TRY(av_channel_layout_copy(&converted->ch_layout, &enc_->ch_layout), Code::kInternal,
         "resample layout");
  AV_TRY(av_frame_get_buffer(converted.get(), 0), Code::kInternal, "resample buffer");
  int n = swr_convert(swr_.get(), converted->extended_data, max_out,
                      const_cast<const uint8_t**>(frame->extended_data), frame->nb_samples);
  AV_TRY(n, Code::kInternal, "resampling audio");
  int skip = static_cast<int>(std::min<int64_t>(drop_samples_, n));
  drop_samples_ -= skip;
  if (n > skip) {
    void* planes[AV_NUM_DATA_POINTERS];
    int bps = av_get_bytes_per_sample(enc_->sample_fmt);
    for (int c = 0; c < enc_->ch_layout.nb_channels; ++c)
      planes[c] = converted->extended_data[c] + static_cast<size_t>(skip) * bps;
    AV_TRY(av_audio_fifo_write(fifo_.get(), planes, n - skip), Code::kInternal,
           "queueing audio");
  }
  return encode_available(false);
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
  if (started_) {
    // Whatever the resampler still holds.
    for (;;) {
      av::FramePtr tail = av::make_frame();
      tail->format = enc_->sample_fmt;
      tail->nb_samples = 4096;
      AV_TRY(av_channel_layout_copy(&tail->ch_layout, &enc_->ch_layout), Code::kInternal,
             "resample layout");
      AV_TRY(av_frame_get_buffer(tail.get(), 0), Code::kInternal, "resample buffer");
      int n = swr_convert(swr_.get(), tail->extended_data, 4096, nullptr, 0);
      AV_TRY(n, Code::kInternal, "flushing the resampler");
      if (n == 0) break;
      AV_TRY(av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(tail->extended_data), n),
             Code::kInternal, "queueing audio");
    }
  }
  KILN_RETURN_IF_ERROR(encode_available(true));
  return encode(nullptr);
}

}  // namespace kiln::media
