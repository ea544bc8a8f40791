#pragma once
// Decodes the source audio once, resamples/downmixes it and encodes one AAC-LC track that
// every rendition shares. Timestamps follow the video timeline: audio before the first video
// frame is dropped, a late audio start is padded with silence.

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

 private:
  Status on_decoded(AVFrame* frame);
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
  int64_t drop_samples_ = 0;   // source audio before the video's first frame
  int64_t next_pts_ = 0;       // in samples of the output rate
  int corrupt_ = 0;
};

}  // namespace kiln::media
