#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "package/manifest.hpp"
#include "package/manifest_io.hpp"

namespace kiln::package {
namespace {

std::string iso_duration(double seconds) { return fmt::format("PT{:.3f}S", seconds); }

/// Text for an XML attribute value (a media prefix is Kiln's own "aN/", but stays well-formed).
std::string xml_attr(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// <SegmentTimeline> with runs of equal, contiguous segments folded into r="N".
std::string segment_timeline(const TrackSummary& t) {
  std::string out = "          <SegmentTimeline>\n";
  const auto& s = t.segments;
  int64_t expected = -1;
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    while (j + 1 < s.size() && s[j + 1].duration == s[i].duration &&
           s[j + 1].start == s[j].start + s[j].duration)
      ++j;
    std::string tattr = s[i].start != expected ? fmt::format(" t=\"{}\"", s[i].start) : "";
    std::string rattr = j > i ? fmt::format(" r=\"{}\"", j - i) : "";
    out += fmt::format("            <S{} d=\"{}\"{} />\n", tattr, s[i].duration, rattr);
    expected = s[j].start + s[j].duration;
    i = j + 1;
  }
  return out + "          </SegmentTimeline>\n";
}

std::string segment_template(const TrackSummary& t, const std::string& media_prefix) {
  return fmt::format(
             "        <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{}\" "
             "initialization=\"{}$RepresentationID$/init.mp4\" "
             "media=\"{}$RepresentationID$/seg_$Number%05d$.m4s\" startNumber=\"1\">\n",
             t.timescale, t.presentation_offset, xml_attr(media_prefix), xml_attr(media_prefix)) +
         segment_timeline(t) + "        </SegmentTemplate>\n";
}

}  // namespace

std::string dash_mpd(const Presentation& p, const std::string& media_prefix) {
  double duration = 0;
  for (const auto& v : p.video) duration = std::max(duration, v.track.duration_seconds());
  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
      "profiles=\"urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019\" "
      "type=\"static\" mediaPresentationDuration=\"{}\" minBufferTime=\"{}\">\n"
      "  <Period id=\"0\" start=\"PT0S\">\n",
      iso_duration(duration), iso_duration(p.segment_seconds));
  // One video adaptation set per codec, in the presentation's order (the first is the one
  // every player can decode): a player picks the set whose codecs it supports.
  int set_id = 0;
  for (size_t i = 0; i < p.video.size();) {
    size_t end = i;
    int max_w = 0, max_h = 0;
    while (end < p.video.size() && p.video[end].codec == p.video[i].codec) {
      max_w = std::max(max_w, p.video[end].width), max_h = std::max(max_h, p.video[end].height);
      ++end;
    }
    out += fmt::format(
        "    <AdaptationSet id=\"{}\" contentType=\"video\" mimeType=\"video/mp4\" "
        "segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"{}\" maxHeight=\"{}\">\n",
        set_id++, max_w, max_h);
    for (; i < end; ++i) {
      const auto& v = p.video[i];
      out += fmt::format(
          "      <Representation id=\"{}\" bandwidth=\"{}\" width=\"{}\" height=\"{}\" "
          "sar=\"1:1\" frameRate=\"{}/{}\" codecs=\"{}\">\n",
          v.track.folder, v.track.peak_bitrate(), v.width, v.height, v.frame_rate.num,
          v.frame_rate.den, v.track.codecs);
      out += segment_template(v.track, media_prefix) + "      </Representation>\n";
    }
    out += "    </AdaptationSet>\n";
  }
  if (p.audio) {
    const auto& a = *p.audio;
    out += fmt::format(
        "    <AdaptationSet id=\"{}\" contentType=\"audio\" mimeType=\"audio/mp4\" "
        "segmentAlignment=\"true\" startWithSAP=\"1\">\n"
        "      <Representation id=\"{}\" bandwidth=\"{}\" audioSamplingRate=\"{}\" "
        "codecs=\"{}\">\n"
        "        <AudioChannelConfiguration "
        "schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" "
        "value=\"{}\" />\n",
        set_id++, a.track.folder, a.track.peak_bitrate(), a.sample_rate, a.track.codecs, a.channels);
    out += segment_template(a.track, media_prefix) + "      </Representation>\n    </AdaptationSet>\n";
  }
  if (p.thumbnails) {
    const auto& t = *p.thumbnails;
    out += fmt::format(
        "    <AdaptationSet id=\"{}\" contentType=\"image\" mimeType=\"{}\">\n"
        "      <SegmentTemplate media=\"{}\" duration=\"{}\" timescale=\"1000\" startNumber=\"1\" />\n"
        "      <Representation id=\"thumbnails\" bandwidth=\"{}\" width=\"{}\" height=\"{}\">\n"
        "        <EssentialProperty schemeIdUri=\"http://dashif.org/thumbnail_tile\" value=\"{}x{}\" />\n"
        "      </Representation>\n    </AdaptationSet>\n",
        set_id++, t.mime_type, xml_attr(media_prefix + t.media), std::llround(t.seconds_per_sprite * 1000), std::max<int64_t>(t.bandwidth, 1),
        t.sprite_width, t.sprite_height, t.columns, t.rows);
  }
  return out + "  </Period>\n</MPD>\n";
}

Status write_dash(const std::string& dir, const Presentation& p, const std::string& media_prefix) {
  return write_text_file(dir + "/" + kDashManifest, dash_mpd(p, media_prefix));
}

}  // namespace kiln::package
