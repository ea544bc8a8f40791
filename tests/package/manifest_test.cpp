#include "package/manifest.hpp"

#include <gtest/gtest.h>

namespace kiln::package {
namespace {

TrackSummary track(const std::string& folder, int timescale, std::vector<SegmentInfo> segs,
                   const std::string& codecs) {
  TrackSummary t;
  t.folder = folder;
  t.timescale = timescale;
  t.segments = std::move(segs);
  t.codecs = codecs;
  return t;
}

TEST(TrackSummary, MeasuresAverageAndPeakFromSegments) {
  auto t = track("v", 1000, {{0, 4000, 1'000'000}, {4000, 4000, 2'000'000}, {8000, 2000, 250'000}}, "");
  EXPECT_DOUBLE_EQ(t.duration_seconds(), 10.0);
  EXPECT_EQ(t.average_bitrate(), 3'250'000 * 8 / 10);
  EXPECT_EQ(t.peak_bitrate(), 4'000'000);  // 2 MB in 4 s
}

TEST(HlsMediaPlaylist, ListsEverySegmentWithItsDuration) {
  auto t = track("v", 90000, {{0, 360000, 1}, {360000, 405000, 1}, {765000, 90000, 1}}, "");
  std::string p = hls_media_playlist(t);
  EXPECT_NE(p.find("#EXT-X-TARGETDURATION:5\n"), std::string::npos) << p;  // 4.5 rounds to 5
  EXPECT_NE(p.find("#EXT-X-MAP:URI=\"init.mp4\""), std::string::npos);
  EXPECT_NE(p.find("#EXTINF:4.000000,\nseg_00001.m4s\n#EXTINF:4.500000,\nseg_00002.m4s\n"
                   "#EXTINF:1.000000,\nseg_00003.m4s\n#EXT-X-ENDLIST"),
            std::string::npos)
      << p;
}

TEST(DashMpd, FoldsRepeatsAndCarriesThePresentationOffset) {
  Presentation p;
  auto v = track("720p", 15360, {{1025, 61440, 10}, {62465, 61440, 10}, {123905, 30720, 10}}, "avc1.64001f");
  v.presentation_offset = 1025;
  p.video.push_back({v, 1280, 720, Rational{30, 1}});
  auto a = track("audio", 48000, {{2177, 193536, 5}}, "mp4a.40.2");
  p.audio = AudioTrack{a, 2, 48000};
  std::string mpd = dash_mpd(p);
  EXPECT_NE(mpd.find("<S t=\"1025\" d=\"61440\" r=\"1\" />\n            <S d=\"30720\" />"),
            std::string::npos) << mpd;
  EXPECT_NE(mpd.find("presentationTimeOffset=\"1025\""), std::string::npos);
  EXPECT_NE(mpd.find("mediaPresentationDuration=\"PT10.000S\""), std::string::npos);
  EXPECT_NE(mpd.find("codecs=\"mp4a.40.2\""), std::string::npos);
  EXPECT_NE(mpd.find("width=\"1280\" height=\"720\""), std::string::npos);
}

// An object-store output keeps each attempt's media under a folder of its own ("a3/") with the
// manifests at the top: both manifests must name the media through that folder, and the media
// playlists stay relative to themselves. Without a prefix the file layout is unchanged.
TEST(Manifests, AMediaPrefixReachesEveryReferenceAndNoPrefixKeepsTheFileLayout) {
  Presentation p;
  p.video.push_back({track("720p", 15360, {{0, 61440, 10}}, "avc1.64001f"), 1280, 720, Rational{30, 1}});
  p.video.push_back({track("480p", 15360, {{0, 61440, 10}}, "avc1.4d401e"), 854, 480, Rational{30, 1}});
  p.audio = AudioTrack{track("audio", 48000, {{0, 192000, 5}}, "mp4a.40.2"), 2, 48000};

  const std::string master = hls_master_playlist(p, "a3/");
  EXPECT_NE(master.find("\na3/720p/playlist.m3u8\n"), std::string::npos) << master;
  EXPECT_NE(master.find("\na3/480p/playlist.m3u8\n"), std::string::npos) << master;
  EXPECT_NE(master.find("URI=\"a3/audio/playlist.m3u8\""), std::string::npos) << master;
  const std::string mpd = dash_mpd(p, "a3/");
  EXPECT_NE(mpd.find("initialization=\"a3/$RepresentationID$/init.mp4\""), std::string::npos) << mpd;
  EXPECT_NE(mpd.find("media=\"a3/$RepresentationID$/seg_$Number%05d$.m4s\""), std::string::npos) << mpd;
  EXPECT_EQ(mpd.find("\"$RepresentationID$/"), std::string::npos) << "every template names the folder: " << mpd;

  const std::string plain = hls_master_playlist(p);
  EXPECT_NE(plain.find("\n720p/playlist.m3u8\n"), std::string::npos) << plain;
  EXPECT_NE(plain.find("URI=\"audio/playlist.m3u8\""), std::string::npos) << plain;
  EXPECT_EQ(plain.find("a3/"), std::string::npos);
  EXPECT_NE(dash_mpd(p).find("initialization=\"$RepresentationID$/init.mp4\""), std::string::npos);
}

TEST(SharedTimeline, OffsetCoversTheEarliestDecodeTimeOfAnyTrack) {
  SharedTimeline tl(2);
  tl.report_first_dts(-0.0667);
  EXPECT_FALSE(tl.offset_us().has_value());
  tl.report_first_dts(-0.0213);
  ASSERT_TRUE(tl.offset_us().has_value());
  EXPECT_EQ(*tl.offset_us(), 66700);
}

TEST(SharedTimeline, CloseSettlesWithWhatWasReported) {
  SharedTimeline tl(3);
  tl.report_first_dts(0.5);
  tl.close();
  EXPECT_EQ(tl.offset_us().value_or(-1), 0);
}

}  // namespace
}  // namespace kiln::package
