#pragma once
// Timestamps from the container are repaired before any decoder, encoder or muxer sees them.
// Broadcast captures (MPEG-TS, MPEG-PS, FLV) jump at splices and wrap around; damaged files of
// any container carry one wild timestamp or a shifted tail. The rules follow the ffmpeg CLI's
// own handling (fftools: ts_discontinuity_detect), so a file that plays there plays here:
//
// - Formats that declare discontinuities (AVFMT_TS_DISCONT): a packet whose decode time is more
//   than kDiscontinuitySeconds away from where its stream was heading, or that goes backwards,
//   starts a new stretch. One offset, shared by every stream, closes the gap, so audio and
//   video stay together across the splice.
// - Other formats (MP4, Matroska, AVI...): timestamps come from per-track tables. A packet more
//   than kDiscontinuitySeconds away from its stream's prediction has a damaged timestamp: it
//   is dropped (AV_NOPTS_VALUE) and the decoder and the pipeline interpolate it.
//
// What remains (duplicates, small steps backwards, B-frame reordering) is the decoder's and
// the pipeline's to handle: the video path drops frames whose time does not advance, and the
// audio path keeps sync by padding or trimming (media/audio_transcoder).

#include <cstdint>
#include <vector>

extern "C" {
#include <libavformat/avformat.h>
}

namespace kiln::media {

/// A jump larger than this (seconds) is a discontinuity or a damaged timestamp, never content.
/// The ffmpeg CLI's dts_delta_threshold.
inline constexpr double kDiscontinuitySeconds = 10.0;

/// Repairs the timestamps of one input's packets, in demux order. Not thread-safe: the demux
/// thread owns it.
class TimestampRepair {
 public:
  /// `format` must outlive this object; its streams are read for time bases and durations.
  explicit TimestampRepair(const AVFormatContext* format);

  /// Fixes `packet`'s pts and dts in place (its stream's time base). Call for every packet
  /// that is decoded, in the order av_read_frame returned them.
  void fix(AVPacket* packet);

  /// Discontinuities closed (the shared offset changed).
  int discontinuities() const { return discontinuities_; }
  /// Packets whose timestamps were dropped as damaged.
  int dropped_timestamps() const { return dropped_; }
  /// How far the repairs moved the timeline, in seconds (negative: gaps closed). A container's
  /// duration spans the jumps; plus this, it is the length of what is really there.
  double shift_seconds() const { return static_cast<double>(offset_) / AV_TIME_BASE; }

 private:
  struct StreamState {
    int64_t next_dts = AV_NOPTS_VALUE;  // AV_TIME_BASE units, offset applied
    int64_t last_ts = AV_NOPTS_VALUE;   // the largest decode time seen (not pts: B-frames reorder)
  };

  const AVFormatContext* format_;
  const bool discontinuous_;
  int64_t offset_ = 0;  // AV_TIME_BASE units, added to every timestamp (discontinuous formats)
  std::vector<StreamState> streams_;
  int discontinuities_ = 0;
  int dropped_ = 0;
};

}  // namespace kiln::media
