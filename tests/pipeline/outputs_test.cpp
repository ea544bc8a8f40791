// The full output set of one job: progressive MP4s (a remux of a rung, or an encode of their
// own), the poster, thumbnails and storyboard sprites with their WebVTT track, and HEVC and AV1
// renditions beside H.264 in one CMAF ladder. Playback of these in Chromium is the browser
// test's (tests/browser/play.mjs); here, what the files say.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "support/fmp4.hpp"
#include "support/ladder_check.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {
namespace fs = std::filesystem;

std::string shell(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p.get())) out += buf;
  return out;
}

nlohmann::json result_of(const fs::path& out) { return nlohmann::json::parse(read_file(out / "result.json")); }

/// Top-level box types of an MP4 file, in order.
std::vector<std::string> top_boxes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> boxes;
  for (;;) {
    unsigned char h[16];
    if (!in.read(reinterpret_cast<char*>(h), 8)) break;
    uint64_t size = (uint64_t{h[0]} << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
    boxes.emplace_back(reinterpret_cast<char*>(h + 4), 4);
    if (size == 1) {
      in.read(reinterpret_cast<char*>(h + 8), 8);
      size = 0;
      for (int i = 8; i < 16; ++i) size = size << 8 | h[i];
      in.seekg(static_cast<std::streamoff>(size - 16), std::ios::cur);
    } else {
      in.seekg(static_cast<std::streamoff>(size - 8), std::ios::cur);
    }
  }
  return boxes;
}

/// The MD5 of every video packet, as ffmpeg's framemd5 muxer prints them.
std::vector<std::string> packet_md5s(const std::string& input) {
  std::vector<std::string> out;
  std::istringstream lines(shell("ffmpeg -v error -i '" + input + "' -map 0:v -c copy -f framemd5 - 2>/dev/null"));
  for (std::string l; std::getline(lines, l);)
    if (!l.empty() && l[0] != '#') out.push_back(l.substr(l.rfind(',') + 1));
  return out;
}

double probe_duration(const fs::path& file) {
  const std::string s =
      shell("ffprobe -v error -select_streams v:0 -show_entries stream=duration -of csv=p=0 '" + file.string() + "'");
  return s.empty() ? 0.0 : std::stod(s);
}

TEST(Mp4, ARungIsRemuxedIntoAFastStartMp4WithTheSamePackets) {
  TempDir tmp;
  const fs::path out = tmp / "out";
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", out.string(), "--mp4", "720p",
                          "--log-level", "warn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path mp4 = out / "mp4" / "720p.mp4";
  ASSERT_TRUE(fs::exists(mp4));
  auto boxes = top_boxes(mp4);
  auto moov = std::find(boxes.begin(), boxes.end(), "moov"), mdat = std::find(boxes.begin(), boxes.end(), "mdat");
  ASSERT_NE(moov, boxes.end());
  ASSERT_NE(mdat, boxes.end());
  EXPECT_LT(moov, mdat) << "the index must come before the media data (fast start)";
  EXPECT_NEAR(probe_duration(mp4), 6.0, 1.0 / 30 + 1e-3);
  // The same encoded packets as the 720p CMAF track: a remux, not a second encode.
  std::ofstream joined(tmp / "track.mp4", std::ios::binary);
  for (const auto& part : std::vector<std::string>{"init.mp4", "seg_00001.m4s", "seg_00002.m4s"})
    joined << std::ifstream(out / "720p" / part, std::ios::binary).rdbuf();
  joined.close();
  auto a = packet_md5s(mp4.string()), b = packet_md5s((tmp / "track.mp4").string());
  EXPECT_EQ(a.size(), 180u);
  EXPECT_EQ(a, b);
  auto groups = result_of(out)["detail"]["outputGroupDetails"];
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1]["type"], "FILE_GROUP");
  EXPECT_EQ(groups[1]["outputDetails"][0]["remuxOf"], "720p");
  // The ladder itself is untouched.
  check_ladder(out, {{{"720p", 1280, 720}, {"480p", 854, 480}}, true, 6.0, 1.0 / 30});
}

TEST(Mp4, ARungOutsideTheLadderIsEncodedForTheMp4Alone) {
  TempDir tmp;
  const fs::path out = tmp / "out";
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", out.string(), "--ladder", "480p",
                          "--mp4", "720p", "--log-level", "warn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "mp4" / "720p.mp4"));
  EXPECT_FALSE(fs::exists(out / "720p")) << "not a rung of the ladder";
  EXPECT_EQ(read_file(out / "master.m3u8").find("720"), std::string::npos);
  auto file = result_of(out)["detail"]["outputGroupDetails"][1]["outputDetails"][0];
  EXPECT_TRUE(file["remuxOf"].is_null());
  EXPECT_EQ(file["videoDetails"]["heightInPx"], 720);
  check_ladder(out, {{{"480p", 854, 480}}, true, 6.0, 1.0 / 30});
}

struct Cue {
  double start, end;
  std::string file;
  int x, y, w, h;
};

std::vector<Cue> read_vtt(const fs::path& file) {
  std::vector<Cue> cues;
  std::istringstream in(read_file(file));
  std::regex time(R"((\d+):(\d+):(\d+)\.(\d+) --> (\d+):(\d+):(\d+)\.(\d+))");
  std::regex target(R"(([^#\s]+)#xywh=(\d+),(\d+),(\d+),(\d+))");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (!std::regex_search(line, m, time)) continue;
    auto secs = [&](int i) {
      return std::stoi(m[i]) * 3600.0 + std::stoi(m[i + 1]) * 60.0 + std::stoi(m[i + 2]) + std::stoi(m[i + 3]) / 1000.0;
    };
    Cue c{secs(1), secs(5), "", 0, 0, 0, 0};
    std::getline(in, line);
    if (std::regex_search(line, m, target))
      c.file = m[1], c.x = std::stoi(m[2]), c.y = std::stoi(m[3]), c.w = std::stoi(m[4]), c.h = std::stoi(m[5]);
    cues.push_back(c);
  }
  return cues;
}

std::pair<int, int> image_size(const fs::path& file) {
  std::string s = shell("ffprobe -v error -show_entries stream=width,height -of csv=p=0 '" + file.string() + "'");
  int w = 0, h = 0;
  std::sscanf(s.c_str(), "%d,%d", &w, &h);
  return {w, h};
}

TEST(Images, PosterThumbnailsAndStoryboardsCoverTheWholeVideo) {
  TempDir tmp;
  const fs::path out = tmp / "out";
  // 20 s at a thumbnail a second: 20 tiles, so the 5x5 storyboard's only sheet is part-filled.
  RunResult r = run_kiln({"transcode", media("long.mp4").string(), "-o", out.string(), "--ladder", "360p",
                          "--thumbnails", "1", "--poster", "auto", "--log-level", "warn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto images = result_of(out)["detail"]["images"];
  EXPECT_EQ(images["thumbnails"]["count"], 20);
  EXPECT_EQ(image_size(out / "thumbs" / "thumb_00001.jpg"), std::make_pair(160, 90));
  EXPECT_EQ(image_size(out / "thumbs" / "sprite_0001.jpg"), std::make_pair(800, 450));
  EXPECT_FALSE(fs::exists(out / "thumbs" / "sprite_0002.jpg"));
  EXPECT_EQ(image_size(out / "poster.jpg"), std::make_pair(1920, 1080));
  const auto cues = read_vtt(out / "thumbs" / "thumbnails.vtt");
  ASSERT_EQ(cues.size(), 20u);
  EXPECT_DOUBLE_EQ(cues.front().start, 0.0);
  for (size_t i = 0; i < cues.size(); ++i) {
    SCOPED_TRACE("cue " + std::to_string(i + 1));
    if (i > 0) {
      EXPECT_DOUBLE_EQ(cues[i].start, cues[i - 1].end) << "a gap or an overlap between cues";
    }
    EXPECT_GT(cues[i].end, cues[i].start);
    EXPECT_TRUE(fs::exists(out / "thumbs" / cues[i].file)) << cues[i].file;
    EXPECT_EQ(cues[i].x, static_cast<int>(i % 5) * 160);
    EXPECT_EQ(cues[i].y, static_cast<int>(i / 5) * 90);
    EXPECT_EQ(cues[i].w, 160);
    EXPECT_EQ(cues[i].h, 90);
  }
  EXPECT_NEAR(cues.back().end, 20.0, 1.0 / 30 + 1e-3);
  // The DASH MPD offers the sprites as a thumbnail track (DASH-IF thumbnail_tile).
  const std::string mpd = read_file(out / "manifest.mpd");
  EXPECT_NE(mpd.find("contentType=\"image\""), std::string::npos) << mpd;
  EXPECT_NE(mpd.find("schemeIdUri=\"http://dashif.org/thumbnail_tile\" value=\"5x5\""), std::string::npos) << mpd;
  EXPECT_NE(mpd.find("media=\"thumbs/sprite_$Number%04d$.jpg\" duration=\"25000\""), std::string::npos) << mpd;
  check_ladder(out, {{{"360p", 640, 360}}, true, 20.0, 1.0 / 30});
}

TEST(Images, APosterAtAGivenTime) {
  TempDir tmp;
  const fs::path out = tmp / "out";
  RunResult r = run_kiln({"transcode", media("1080p.mp4").string(), "-o", out.string(), "--ladder", "360p",
                          "--poster", "2.5", "--log-level", "warn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto poster = result_of(out)["detail"]["images"]["poster"];
  EXPECT_NEAR(poster["atSeconds"].get<double>(), 2.5, 1.0 / 30 + 1e-3);
  EXPECT_EQ(image_size(out / "poster.jpg"), std::make_pair(1920, 1080));
}

/// The first 4 bytes of the sample entry's type in an init segment ("avc1", "hvc1", "av01").
bool has_sample_entry(const fs::path& init, const std::string& type) {
  return read_file(init).find(type) != std::string::npos;
}

TEST(Codecs, HevcRenditionsAreTaggedHvc1WithTheirCodecsString) {
  TempDir tmp;
  const fs::path out = tmp / "out";
  RunResult r = run_kiln({"transcode", media("480p.mp4").string(), "-o", out.string(), "--ladder", "360p,240p",
                          "--codecs", "h264,hevc", "--log-level", "warn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Chromium here has no HEVC decoder: these checks stand in for playback (container level).
  EXPECT_TRUE(has_sample_entry(out / "360p-hevc" / "init.mp4", "hvc1"));
  EXPECT_FALSE(has_sample_entry(out / "360p-hevc" / "init.mp4", "hev1"));
  const std::string master = read_file(out / "master.m3u8");
  EXPECT_TRUE(std::regex_search(master, std::regex(R"(CODECS="hvc1\.1\.6\.L\d+\.[0-9A-F]+(\.[0-9A-F]+)*,mp4a)")))
      << master;
  // Every segment of every rendition, both codecs, starts with a keyframe at the same times.
  check_ladder(out, {{{"360p", 640, 360}, {"240p", 428, 240}, {"360p-hevc", 640, 360}, {"240p-hevc", 428, 240}},
                     true, 3.0, 1.0 / 30});
}

TEST(Codecs, AMixedH264AndAv1LadderSharesOneKeyframeGrid) {
  TempDir tmp;
  const fs::path out = tmp / "out";
  RunResult r = run_kiln({"transcode", media("480p.mp4").string(), "-o", out.string(), "--ladder", "360p,240p",
                          "--codecs", "h264,av1", "--segment-seconds", "1", "--log-level", "warn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has_sample_entry(out / "360p-av1" / "init.mp4", "av01"));
  const std::string mpd = read_file(out / "manifest.mpd");
  std::set<std::string> sets;
  const std::regex codecs_re(R"(codecs="(av01|avc1)[^"]*")");
  for (std::sregex_iterator it(mpd.begin(), mpd.end(), codecs_re), end; it != end; ++it) sets.insert((*it)[1]);
  EXPECT_EQ(sets, (std::set<std::string>{"av01", "avc1"}));
  // One video adaptation set per codec.
  const std::regex video_set(R"(contentType="video")");
  EXPECT_EQ(std::distance(std::sregex_iterator(mpd.begin(), mpd.end(), video_set), std::sregex_iterator()), 2);
  const std::string master = read_file(out / "master.m3u8");
  EXPECT_TRUE(std::regex_search(master, std::regex(R"(CODECS="av01\.0\.\d\dM\.08,mp4a)"))) << master;
  EXPECT_TRUE(std::regex_search(master, std::regex(R"(CODECS="avc1\.)"))) << master;
  // Three 1 s segments in each rendition of both codecs, each starting with a keyframe at the
  // same time (check_ladder compares every rendition's segment starts).
  check_ladder(out, {{{"360p", 640, 360}, {"240p", 428, 240}, {"360p-av1", 640, 360}, {"240p-av1", 428, 240}},
                     true, 3.0, 1.0 / 30});
  EXPECT_EQ(read_cmaf_track(out / "240p-av1").segments.size(), 3u);
}

}  // namespace
}  // namespace kiln::test
