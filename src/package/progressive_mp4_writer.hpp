#pragma once
// A single-file MP4 for downloads and plain <video> playback: the moov atom before the media
// data (fast start), H.264 + AAC. It is a remux: it takes the same encoded packets as the rung's
// CMAF track and the job's shared AAC track, so nothing is encoded twice.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "av/av_handles.hpp"
#include "kiln/status.hpp"

namespace kiln::package {

/// What was written, once finished.
struct Mp4Summary {
  std::string path;
  int64_t bytes = 0;
  double duration_seconds = 0;
  int64_t video_packets = 0;
};

/// Thread-safe: video packets come from the rendition's thread, audio packets from the decode
/// thread. Audio that arrives before the video encoder opened waits in memory (a few packets).
class ProgressiveMp4Writer {
 public:
  /// Prepares `path` (written from start_video on). `audio` is the shared AAC encoder, or nullptr
  /// for a video-only file; it must outlive this writer.
  static Result<std::unique_ptr<ProgressiveMp4Writer>> create(std::string path, const AVCodecContext* audio);
  ~ProgressiveMp4Writer();

  /// The rung's encoder is open: adds the video stream and writes the header.
  Status start_video(const AVCodecContext* video);
  /// A copy of one encoded packet, in its encoder's time base.
  Status write_video(const AVPacket* packet);
  Status write_audio(const AVPacket* packet);
  /// Writes the index; fast start moves it in front of the media data (the file is rewritten
  /// once, in place). Nothing is published until the job's staging directory is.
  Status finish();
  const Mp4Summary& summary() const { return summary_; }

 private:
  ProgressiveMp4Writer() = default;
  Status write(av::PacketPtr packet, int stream, AVRational from);

  std::mutex mu_;
  av::FileOutputFormatPtr mux_;  // owns its pb (avio_open); finish() closes it
  const AVCodecContext* audio_ = nullptr;
  AVRational video_tb_{1, 1}, audio_tb_{1, 1};
  int video_stream_ = -1, audio_stream_ = -1;
  bool started_ = false, finished_ = false;
  std::vector<av::PacketPtr> early_audio_;
  int64_t frame_duration_ = 0;  // in the encoder's time base
  int64_t first_pts_ = INT64_MAX, end_pts_ = INT64_MIN;  // the video's span, its encoder's time base
  Mp4Summary summary_;
};

}  // namespace kiln::package
