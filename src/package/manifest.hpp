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
  std::string codec = "h264";  // h264, hevc, av1: one DASH adaptation set per codec
};

struct AudioTrack {
  TrackSummary track;
  int channels = 2;
  int sample_rate = 48000;
};

/// Storyboard sprites as a DASH image adaptation set (DASH-IF IOP 6.2.6, the
/// http://dashif.org/thumbnail_tile scheme that dash.js reads): sprite N covers
/// [(N-1) x seconds_per_sprite, N x seconds_per_sprite).
struct ThumbnailTrack {
  std::string media;               // "thumbs/sprite_$Number%04d$.jpg"
  std::string mime_type;           // image/jpeg, image/webp
  int columns = 0, rows = 0;
  int sprite_width = 0, sprite_height = 0;
  double seconds_per_sprite = 0;
  int64_t bandwidth = 0;           // bits/s of sprites over the presentation
};

struct Presentation {
  std::vector<VideoTrack> video;   // grouped by codec (the ladder's order), highest first in each
  std::optional<AudioTrack> audio;
  std::optional<ThumbnailTrack> thumbnails;
  double segment_seconds = 4;
};

inline constexpr const char* kHlsMaster = "master.m3u8";
inline constexpr const char* kDashManifest = "manifest.mpd";
inline constexpr const char* kMediaPlaylist = "playlist.m3u8";

/// Writes `<media_prefix><folder>/playlist.m3u8` for every track and `master.m3u8` in `dir`.
/// `media_prefix` ("" or a relative folder ending in '/', e.g. "a3/") is where the tracks lie
/// relative to the manifests: an object-store output keeps each attempt's media under a folder
/// of its own, while its manifests sit at the output's top. The media playlists name their
/// init and media segments relative to themselves, so they are the same either way.
Status write_hls(const std::string& dir, const Presentation& p, const std::string& media_prefix = "");
/// Writes `manifest.mpd` (static, SegmentTemplate + SegmentTimeline) in `dir`, its templates
/// naming the tracks under `media_prefix` (as write_hls).
Status write_dash(const std::string& dir, const Presentation& p, const std::string& media_prefix = "");

/// The text of one media playlist (exposed for tests).
std::string hls_media_playlist(const TrackSummary& track);
/// The text of the multivariant playlist (exposed for tests).
std::string hls_master_playlist(const Presentation& p, const std::string& media_prefix = "");
/// The text of the MPD (exposed for tests).
std::string dash_mpd(const Presentation& p, const std::string& media_prefix = "");

}  // namespace kiln::package
