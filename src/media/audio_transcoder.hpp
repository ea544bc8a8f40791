#pragma once
// Decodes the source audio once, resamples/downmixes it and encodes one AAC-LC track that
// every rendition shares. Timestamps follow the video timeline: audio before the first video
// frame is dropped, a late audio start is padded with silence, and after that the track is
// kept within kResyncSeconds of its (repaired) timestamps: a gap (lost or damaged packets) is
// filled with silence and an overlap is trimmed, as the ffmpeg CLI's aresample=async does, so
// audio stays in sync across a timestamp repair. A change of sample rate, format or channel
// layout mid-stream rebuilds the resampler.

#include <functional>

#include "av/av_handles.hpp"
#include "kiln/ladder.hpp"
#include "kiln/status.hpp"

namespace kiln::media {

class AudioTranscoder {
 public:
  using PacketSink = std::function<Status(AVPacket* packet)>;

  /// `origin_seconds`: the source time that is zero on the output timeline (the video start).
  static Result<AudioTranscoder> open(const AVStream* stream, const AudioSettings& settings,
                                      double origin_seconds, PacketSink sink);

  /// Decodes a demuxed packet; corrupt packets are counted, not fatal.
  Status send(const AVPacket* packet);
  /// Drains decoder, resampler and encoder; emits the last packets.
  Status finish();

  const AVCodecContext* encoder() const { return enc_.get(); }
  int corrupt_packets() const { return corrupt_; }
  /// Whether any audio was decoded at all (a track of damaged packets only has none).
  bool produced() const { return started_; }
  /// Repairs made to keep sync: how many, and the silence inserted and audio trimmed (s).
  int resyncs() const { return resyncs_; }
  double padded_seconds() const { return static_cast<double>(padded_) / enc_->sample_rate; }
  double trimmed_seconds() const { return static_cast<double>(trimmed_) / enc_->sample_rate; }
  /// The resampler was rebuilt for a mid-stream change of rate, format or layout.
  int format_changes() const { return format_changes_; }

 private:
  Status decode_error(int ret);
  Status on_decoded(AVFrame* frame);
  /// (Re)builds the resampler for `frame`; false when no resampler takes its parameters.
  Result<bool> configure_resampler(const AVFrame* frame);
  Status flush_resampler();
  Status resync(const AVFrame* frame);
  Status pad_silence(int64_t samples);
  Status queue_samples(uint8_t** planes, int samples);
  Status encode_available(bool final);
  Status encode(AVFrame* frame);

  av::CodecContextPtr dec_;
  av::CodecContextPtr enc_;
  av::SwrPtr swr_;
  av::AudioFifoPtr fifo_;
  av::FramePtr decoded_;
  av::FramePtr chunk_;
  av::PacketPtr out_;
  PacketSink sink_;
  AVRational stream_tb_{1, 1};
  double origin_ = 0;
  bool started_ = false;
  // What the resampler was built for (a decoded frame may differ mid-stream).
  int in_rate_ = 0;
  int in_format_ = -1;
  int in_channels_ = 0;
  uint64_t in_mask_ = 0;  // native-order layouts; 0 for others (compared by channel count)
  int64_t queued_ = 0;         // output samples put in the FIFO so far: the track's position
  int64_t drop_samples_ = 0;   // output samples still to trim (audio before the video, overlaps)
  int64_t next_pts_ = 0;       // in samples of the output rate
  int corrupt_ = 0;
  int resyncs_ = 0;
  int format_changes_ = 0;
  int64_t padded_ = 0, trimmed_ = 0;
};

}  // namespace kiln::media
