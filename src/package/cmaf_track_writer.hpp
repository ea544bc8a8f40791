#pragma once
// One CMAF track: an fMP4 init segment plus media segments, each starting at a keyframe at or
// after a multiple of the segment duration. libavformat's mp4 muxer writes the boxes; this
// class cuts them into files and records what the manifests need.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "av/av_handles.hpp"
#include "kiln/status.hpp"

namespace kiln::package {

/// One clock for every track of a job. Encoders start with negative decode timestamps (B-frame
/// delay, AAC priming) of different sizes; each track reports its first DTS, and all tracks
/// shift by the same offset so that no DTS is negative and audio stays in sync with video.
/// Thread-safe.
class SharedTimeline {
 public:
  explicit SharedTimeline(int tracks) : remaining_(tracks) {}
  void report_first_dts(double seconds);
  /// Microseconds to add to every timestamp, once every track has reported (or close()).
  std::optional<int64_t> offset_us() const;
  /// No more reports will come: settle with what was reported.
  void close();

 private:
  mutable std::mutex mu_;
  int remaining_;
  double min_dts_ = 0;
  bool settled_ = false;
};

struct SegmentInfo {
  int64_t start = 0;      // earliest presentation time, in the track timescale
  int64_t duration = 0;   // until the next segment's start (the last: its own end)
  int64_t bytes = 0;
};

struct TrackSummary {
  std::string folder;           // "720p", "audio"
  int timescale = 0;
  int64_t presentation_offset = 0;  // the shared offset, in this timescale
  int64_t init_bytes = 0;
  std::vector<SegmentInfo> segments;
  std::string codecs;

  int64_t total_bytes() const;
  double duration_seconds() const;
  int64_t average_bitrate() const;   // bits/s over the whole track
  int64_t peak_bitrate() const;      // bits/s of the densest segment
};

/// Not thread-safe: one writer per track, fed from one thread at a time.
class CmafTrackWriter {
 public:
  /// Creates `<out_dir>/<folder>/` and writes `init.mp4` there.
  static Result<std::unique_ptr<CmafTrackWriter>> open(const std::string& out_dir,
                                                       const std::string& folder,
                                                       const AVCodecContext* encoder,
                                                       double segment_seconds,
                                                       SharedTimeline* timeline);
  ~CmafTrackWriter();

  /// Takes the packet's data (it is left blank). Timestamps in the encoder's time base, zero
  /// at the output timeline's start.
  Status write(AVPacket* packet);
  /// Writes the last segment. Call once, after the last packet, for data to be complete.
  Status finish();

  const TrackSummary& summary() const { return summary_; }

 private:
  CmafTrackWriter() = default;
  Status accept(av::PacketPtr packet);
  Status mux(av::PacketPtr packet);
  Status cut_segment();
  Status save(const std::string& name);
  static int on_write(void* opaque, uint8_t* buf, int size);

  std::string dir_;
  av::AvioContextPtr avio_;
  av::OutputFormatPtr mux_;
  AVRational enc_tb_{1, 1};
  AVRational track_tb_{1, 1};
  bool is_video_ = false;
  int64_t default_duration_ = 0;   // in the encoder time base
  double segment_seconds_ = 4;
  int next_boundary_ = 1;          // in segments
  SharedTimeline* timeline_ = nullptr;
  bool reported_ = false;
  std::optional<int64_t> offset_;  // in the encoder time base
  std::vector<av::PacketPtr> pending_;  // waiting for the shared offset
  av::PacketPtr held_;             // the last packet, held to learn its duration
  std::vector<uint8_t> buffer_;    // bytes the muxer wrote since the last save
  bool open_segment_ = false;
  SegmentInfo current_;
  int64_t current_end_ = 0;
  TrackSummary summary_;
  bool finished_ = false;
};

}  // namespace kiln::package
