#pragma once
// HLS and DASH manifests over one set of CMAF tracks. FFmpeg 5.1's hls and dash muxers each
// want to own segmentation, and neither measures BANDWIDTH/AVERAGE-BANDWIDTH from the real
// segments or lets two manifest formats share one packaging pass with per-track timelines,
// so Kiln writes the (small, text) manifests itself from the segment lists it recorded.

#include <optional>
#include <string>
#include <vector>

#include "kiln/media_info.hpp"
#include "kiln/status.hpp"
#include "package/cmaf_track_writer.hpp"

namespace kiln::package {

struct VideoTrack {
  TrackSummary track;
  int width = 0;
  int height = 0;
  Rational frame_rate;
};

struct AudioTrack {
  TrackSummary track;
  int channels = 2;
  int sample_rate = 48000;
};

struct Presentation {
  std::vector<VideoTrack> video;   // highest first
  std::optional<AudioTrack> audio;
  double segment_seconds = 4;
};

inline constexpr const char* kHlsMaster = "master.m3u8";
inline constexpr const char* kDashManifest = "manifest.mpd";
inline constexpr const char* kMediaPlaylist = "playlist.m3u8";

/// Writes `<folder>/playlist.m3u8` for every track and `master.m3u8` in `dir`.
Status write_hls(const std::string& dir, const Presentation& p);
/// Writes `manifest.mpd` (static, SegmentTemplate + SegmentTimeline) in `dir`.
Status write_dash(const std::string& dir, const Presentation& p);

/// The text of one media playlist (exposed for tests).
std::string hls_media_playlist(const TrackSummary& track);
/// The text of the MPD (exposed for tests).
std::string dash_mpd(const Presentation& p);

}  // namespace kiln::package
