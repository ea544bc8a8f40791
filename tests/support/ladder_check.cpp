#include "support/ladder_check.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "support/fmp4.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace fs = std::filesystem;
namespace {

constexpr double kAacFrame = 1024.0 / 48000.0;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

size_t count_segment_files(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".m4s";
  return n;
}

void check_media_playlist(const fs::path& playlist, const CmafTrack& track) {
  SCOPED_TRACE(playlist.string());
  ASSERT_TRUE(fs::exists(playlist));
  std::string text = read_file(playlist);
  EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos);
  EXPECT_NE(text.find("#EXT-X-ENDLIST"), std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("#EXT-X-MAP:URI=\"([^\"]+)\"")));
  EXPECT_TRUE(fs::exists(playlist.parent_path() / m[1].str()));
  double total = 0;
  size_t segments = 0;
  for (const auto& l : lines(text)) {
    if (l.rfind("#EXTINF:", 0) == 0) total += std::stod(l.substr(8));
    if (!l.empty() && l[0] != '#') {
      ++segments;
      EXPECT_TRUE(fs::exists(playlist.parent_path() / l)) << l;
    }
  }
  EXPECT_EQ(segments, track.segments.size());
  EXPECT_NEAR(total, track.end_seconds() - track.start_seconds(), 0.002);
}

void check_hls(const fs::path& out, const LadderExpectation& expect,
               const std::map<std::string, CmafTrack>& tracks) {
  std::string master = read_file(out / "master.m3u8");
  ASSERT_FALSE(master.empty());
  EXPECT_EQ(master.rfind("#EXTM3U", 0), 0u);
  EXPECT_NE(master.find("#EXT-X-INDEPENDENT-SEGMENTS"), std::string::npos);
  auto ls = lines(master);
  std::vector<std::string> variants;
  for (size_t i = 0; i < ls.size(); ++i) {
    if (ls[i].rfind("#EXT-X-STREAM-INF:", 0) != 0) continue;
    const std::string& attrs = ls[i];
    for (const char* key : {"BANDWIDTH=", "AVERAGE-BANDWIDTH=", "CODECS=", "RESOLUTION=", "FRAME-RATE="})
      EXPECT_NE(attrs.find(key), std::string::npos) << key << " missing in " << attrs;
    EXPECT_EQ(attrs.find("AUDIO=") != std::string::npos, expect.audio) << attrs;
    ASSERT_LT(i + 1, ls.size());
    variants.push_back(ls[i + 1]);
  }
  ASSERT_EQ(variants.size(), expect.renditions.size());
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_EQ(variants[i], expect.media_prefix + expect.renditions[i].name + "/playlist.m3u8");
    check_media_playlist(out / variants[i], tracks.at(expect.renditions[i].name));
  }
  std::smatch m;
  bool has_media = std::regex_search(master, m, std::regex("#EXT-X-MEDIA:TYPE=AUDIO[^\\n]*URI=\"([^\"]+)\""));
  EXPECT_EQ(has_media, expect.audio);
  if (has_media) {
    EXPECT_EQ(m[1].str(), expect.media_prefix + "audio/playlist.m3u8");
    check_media_playlist(out / m[1].str(), tracks.at("audio"));
  }
}

void check_dash(const fs::path& out, const LadderExpectation& expect) {
  std::string mpd = read_file(out / "manifest.mpd");
  ASSERT_FALSE(mpd.empty());
  EXPECT_NE(mpd.find("type=\"static\""), std::string::npos);
  std::regex rep_re("<Representation id=\"([^\"]+)\"([\\s\\S]*?)</Representation>");
  std::set<std::string> seen;
  for (auto it = std::sregex_iterator(mpd.begin(), mpd.end(), rep_re); it != std::sregex_iterator(); ++it) {
    std::string id = (*it)[1];
    std::string body = (*it)[2];
    if (id == "thumbnails") continue;  // the storyboard's image set: not a media track
    seen.insert(id);
    SCOPED_TRACE("MPD representation " + id);
    EXPECT_NE(body.find("initialization=\"" + expect.media_prefix + "$RepresentationID$/init.mp4\""), std::string::npos);
    EXPECT_NE(body.find("media=\"" + expect.media_prefix + "$RepresentationID$/seg_$Number%05d$.m4s\""),
              std::string::npos);
    const fs::path media = out / expect.media_prefix;
    EXPECT_TRUE(fs::exists(media / id / "init.mp4"));
    size_t segments = 0;
    std::regex s_re("<S (?:t=\"\\d+\" )?d=\"\\d+\"(?: r=\"(\\d+)\")? />");
    for (auto s = std::sregex_iterator(body.begin(), body.end(), s_re); s != std::sregex_iterator(); ++s)
      segments += 1 + ((*s)[1].matched ? std::stoul((*s)[1]) : 0);
    EXPECT_EQ(segments, count_segment_files(media / id));
    for (size_t n = 1; n <= segments; ++n) {
      char name[32];
      std::snprintf(name, sizeof name, "seg_%05zu.m4s", n);
      EXPECT_TRUE(fs::exists(media / id / name)) << name;
    }
  }
  std::set<std::string> want;
  for (const auto& r : expect.renditions) want.insert(r.name);
  if (expect.audio) want.insert("audio");
  EXPECT_EQ(seen, want);
}

}  // namespace

LadderExpectation expectation_from_result(const fs::path& out) {
  LadderExpectation e;
  e.exact_timing = false;
  e.audio = false;
  auto result = nlohmann::json::parse(read_file(out / "result.json"), nullptr, false);
  if (result.is_discarded()) return e;
  for (const auto& o : result["detail"]["outputGroupDetails"][0]["outputDetails"]) {
    if (o.contains("videoDetails"))
      e.renditions.push_back({o.value("name", ""), o["videoDetails"].value("widthInPx", 0),
                              o["videoDetails"].value("heightInPx", 0)});
    else
      e.audio = true;
  }
  return e;
}

void check_ladder(const fs::path& out, const LadderExpectation& expect) {
  ASSERT_TRUE(fs::is_directory(out)) << out;
  for (const auto& e : fs::directory_iterator(out.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".kiln-"), std::string::npos)
        << "left behind: " << e.path();

  auto result = nlohmann::json::parse(read_file(out / "result.json"));
  EXPECT_EQ(result["detail"]["status"], "COMPLETE");
  auto outputs = result["detail"]["outputGroupDetails"][0]["outputDetails"];
  ASSERT_EQ(outputs.size(), expect.renditions.size() + (expect.audio ? 1 : 0));

  std::map<std::string, CmafTrack> tracks;
  const fs::path media = out / expect.media_prefix;
  for (size_t i = 0; i < expect.renditions.size(); ++i) {
    const auto& want = expect.renditions[i];
    SCOPED_TRACE("rendition " + want.name);
    EXPECT_EQ(outputs[i]["name"], want.name);
    EXPECT_EQ(outputs[i]["videoDetails"]["widthInPx"], want.width);
    EXPECT_EQ(outputs[i]["videoDetails"]["heightInPx"], want.height);
    CmafTrack t = read_cmaf_track(media / want.name);
    EXPECT_EQ(t.handler, "vide");
    EXPECT_EQ(t.width, want.width);
    EXPECT_EQ(t.height, want.height);
    ASSERT_FALSE(t.segments.empty());
    for (size_t s = 0; s < t.segments.size(); ++s) {
      ASSERT_FALSE(t.segments[s].empty());
      EXPECT_TRUE(t.segments[s].front().sync) << "segment " << s + 1 << " does not start with a keyframe";
    }
    if (expect.exact_timing) {
      EXPECT_NEAR(t.end_seconds() - t.start_seconds(), expect.duration, expect.frame_seconds + 1e-3);
    }
    tracks.emplace(want.name, std::move(t));
  }
  // Aligned keyframes: segment i starts at the same time in every rendition.
  const CmafTrack& top = tracks.at(expect.renditions.front().name);
  for (const auto& [name, t] : tracks) {
    ASSERT_EQ(t.segments.size(), top.segments.size()) << name;
    for (size_t s = 0; s < t.segments.size(); ++s)
      EXPECT_NEAR(t.seconds(t.segments[s].front().pts), top.seconds(top.segments[s].front().pts), 1e-3)
          << name << " segment " << s + 1;
  }
  if (expect.audio) {
    CmafTrack a = read_cmaf_track(media / "audio");
    EXPECT_EQ(a.handler, "soun");
    // The first AAC frame is encoder priming: real audio starts one frame later.
    EXPECT_NEAR(a.start_seconds() + kAacFrame, top.start_seconds(), 1e-3) << "audio/video start";
    if (expect.exact_timing) {
      EXPECT_NEAR(a.end_seconds(), top.end_seconds(), expect.frame_seconds + 2 * kAacFrame) << "audio/video end";
    }
    tracks.emplace("audio", std::move(a));
  } else {
    EXPECT_FALSE(fs::exists(media / "audio"));
  }
  check_hls(out, expect, tracks);
  check_dash(out, expect);
}

}  // namespace kiln::test
