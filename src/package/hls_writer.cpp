#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "package/manifest.hpp"
#include "package/manifest_io.hpp"

namespace kiln::package {

std::string hls_media_playlist(const TrackSummary& t) {
  long target = 1;
  for (const auto& s : t.segments)
    target = std::max(target, std::lround(static_cast<double>(s.duration) / t.timescale));
  std::string out = fmt::format(
      "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:1\n"
      "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n",
      target);
  for (size_t i = 0; i < t.segments.size(); ++i)
    out += fmt::format("#EXTINF:{:.6f},\nseg_{:05d}.m4s\n",
                       static_cast<double>(t.segments[i].duration) / t.timescale, i + 1);
  out += "#EXT-X-ENDLIST\n";
  return out;
}

std::string hls_master_playlist(const Presentation& p, const std::string& media_prefix) {
  std::string master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  int64_t audio_peak = 0, audio_avg = 0;
  std::string audio_codec;
  if (p.audio) {
    const auto& a = *p.audio;
    audio_peak = a.track.peak_bitrate();
    audio_avg = a.track.average_bitrate();
    audio_codec = a.track.codecs;
    master += fmt::format(
        "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,"
        "CHANNELS=\"{}\",URI=\"{}{}/{}\"\n",
        a.channels, media_prefix, a.track.folder, kMediaPlaylist);
  }
  for (const auto& v : p.video) {
    std::string codecs = v.track.codecs;
    if (!audio_codec.empty()) codecs += "," + audio_codec;
    master += fmt::format(
        "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\",RESOLUTION={}x{},"
        "FRAME-RATE={:.3f}{}\n{}{}/{}\n",
        v.track.peak_bitrate() + audio_peak, v.track.average_bitrate() + audio_avg, codecs,
        v.width, v.height, v.frame_rate.value(), p.audio ? ",AUDIO=\"audio\"" : "",
        media_prefix, v.track.folder, kMediaPlaylist);
  }
  return master;
}

Status write_hls(const std::string& dir, const Presentation& p, const std::string& media_prefix) {
  if (p.audio)
    KILN_RETURN_IF_ERROR(write_text_file(dir + "/" + media_prefix + p.audio->track.folder + "/" + kMediaPlaylist,
                                         hls_media_playlist(p.audio->track)));
  for (const auto& v : p.video)
    KILN_RETURN_IF_ERROR(write_text_file(dir + "/" + media_prefix + v.track.folder + "/" + kMediaPlaylist,
                                         hls_media_playlist(v.track)));
  return write_text_file(dir + "/" + kHlsMaster, hls_master_playlist(p, media_prefix));
}

}  // namespace kiln::package
