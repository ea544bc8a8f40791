// `kiln transcode` with s3:// paths, as an operator runs it: the real binary, only the AWS
// variables in its environment (no config file), a real S3 server on loopback (s3rver; see
// tests/storage/s3rver/launch.js for its differences from AWS) and real media. The published
// ladder must pass the same checks as a local one, every object must carry its type and cache
// policy, no manifest may name a missing object, and each storage failure has its exit code.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/ladder_check.hpp"
#include "support/run.hpp"
#include "support/s3_ladder.hpp"
#include "support/s3rver.hpp"

namespace kiln::test {
namespace {
namespace fs = std::filesystem;
using storage::s3::S3Client;

/// What curl gets for `url`: the status code and the body.
std::pair<std::string, std::string> curl(const std::string& url, const fs::path& into) {
  std::string cmd = "curl -s -o '" + into.string() + "' -w '%{http_code}' '" + url + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  char code[8] = {0};
  size_t n = std::fread(code, 1, sizeof code - 1, p);
  ::pclose(p);
  return {std::string(code, n), read_file(into)};
}

/// The folder the published media lie in, from a result's first output path
/// ("s3://b/out/run-1f0c2a9b/360p/playlist.m3u8" under "s3://b/out" -> "run-1f0c2a9b").
std::string media_folder(const nlohmann::json& result, const std::string& output) {
  std::string path = result["detail"]["outputGroupDetails"][0]["outputDetails"][0]["outputFilePaths"][0];
  if (path.rfind(output + "/", 0) != 0) return "<" + path + " is not under " + output + ">";
  std::string rel = path.substr(output.size() + 1);
  return rel.substr(0, rel.find('/'));
}

class TranscodeS3 : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!S3rver::available(&why)) GTEST_SKIP() << why;
    server_ = std::make_unique<S3rver>(tmp_ / "s3", std::vector<std::string>{"media-in", "media-out"});
    in_ = s3_client(server_->endpoint(), "media-in");
    out_ = s3_client(server_->endpoint(), "media-out");
    for (const char* v : {"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION",
                          "CREDENTIALS_DIRECTORY"})
      ::unsetenv(v);
    ::setenv("AWS_ACCESS_KEY_ID", S3rver::kAccessKey, 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", S3rver::kSecret, 1);
    ::setenv("AWS_ENDPOINT_URL", server_->endpoint().c_str(), 1);
    ::setenv("AWS_REGION", "us-east-1", 1);
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (tmp_ / "no-credentials").c_str(), 1);
    fs::create_directories(scratch_);
    ::setenv("TMPDIR", scratch_.c_str(), 1);
  }
  void TearDown() override {
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION",
                          "AWS_SHARED_CREDENTIALS_FILE", "TMPDIR"})
      ::unsetenv(v);
  }

  void upload(const std::string& media_name, const std::string& key) {
    auto up = in_->upload_file(media(media_name).string(), key);
    ASSERT_TRUE(up) << up.status().message();
  }
  std::vector<std::string> scratch_left() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(scratch_)) out.push_back(e.path().filename().string());
    return out;
  }

  TempDir tmp_;
  fs::path scratch_ = tmp_ / "scratch";
  std::unique_ptr<S3rver> server_;
  std::unique_ptr<S3Client> in_, out_;
};

TEST_F(TranscodeS3, BucketToBucketPublishesALadderThatPassesTheLocalChecks) {
  upload("1080p.mp4", "uploads/1080p.mp4");
  RunResult r = run_kiln({"transcode", "s3://media-in/uploads/1080p.mp4", "-o", "s3://media-out/shows/ep1/",
                          "--ladder", "360p,240p", "--presign-seconds", "600", "--mp4", "240p", "--thumbnails", "2",
                          "--poster", "auto", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto result = nlohmann::json::parse(r.out);
  const auto& detail = result["detail"];
  const auto& group = detail["outputGroupDetails"][0];
  EXPECT_EQ(detail["inputDetails"][0]["uri"], "s3://media-in/uploads/1080p.mp4");
  EXPECT_EQ(group["outputDirectory"], "s3://media-out/shows/ep1");
  EXPECT_EQ(group["playlistFilePaths"],
            nlohmann::json({"s3://media-out/shows/ep1/master.m3u8", "s3://media-out/shows/ep1/manifest.mpd"}));
  const std::string folder = media_folder(result, "s3://media-out/shows/ep1");
  EXPECT_EQ(folder.rfind("run-", 0), 0u) << folder;
  EXPECT_EQ(group["outputDetails"][1]["outputFilePaths"][0],
            "s3://media-out/shows/ep1/" + folder + "/240p/playlist.m3u8");

  // Every object carries its type and cache policy: media under the run's folder never change,
  // the manifests and result.json at the top are revalidated.
  const std::vector<std::string> keys = s3_keys(*out_, "shows/ep1/");
  ASSERT_FALSE(keys.empty());
  size_t segments = 0;
  for (const auto& rel : keys) {
    SCOPED_TRACE(rel);
    auto head = out_->head("shows/ep1/" + rel);
    ASSERT_TRUE(head) << head.status().message();
    const bool under_folder = rel.rfind(folder + "/", 0) == 0;
    EXPECT_TRUE(under_folder || rel == "master.m3u8" || rel == "manifest.mpd" || rel == "result.json");
    EXPECT_EQ(head->cache_control, under_folder ? "public, max-age=31536000, immutable" : "no-cache");
    auto ends = [&](const char* ext) { return rel.size() >= std::strlen(ext) && rel.rfind(ext) == rel.size() - std::strlen(ext); };
    if (ends(".m4s")) {
      ++segments;
      EXPECT_EQ(head->content_type, "video/iso.segment");
    } else if (ends("init.mp4")) EXPECT_EQ(head->content_type, "video/mp4");
    else if (ends(".m3u8")) EXPECT_EQ(head->content_type, "application/vnd.apple.mpegurl");
    else if (ends(".mpd")) EXPECT_EQ(head->content_type, "application/dash+xml");
    else if (ends(".json")) EXPECT_EQ(head->content_type, "application/json");
    else if (ends(".mp4")) EXPECT_EQ(head->content_type, "video/mp4");  // the progressive MP4
    else if (ends(".jpg")) EXPECT_EQ(head->content_type, "image/jpeg");  // thumbnails, sprites, poster
    else if (ends(".vtt")) EXPECT_EQ(head->content_type, "text/vtt");
    else ADD_FAILURE() << "an object the ladder does not have";
  }
  // The MP4, the poster, the sprites and the WebVTT track lie under the run's folder too, and
  // the result and the MPD name them there.
  const std::string top = "s3://media-out/shows/ep1/";
  auto key_of = [&](const nlohmann::json& url) {
    const std::string u = url.get<std::string>();
    EXPECT_EQ(u.rfind(top + folder + "/", 0), 0u) << u;
    return "shows/ep1/" + u.substr(top.size());
  };
  ASSERT_EQ(detail["outputGroupDetails"].size(), 2u) << detail.dump(2);
  EXPECT_TRUE(out_->head(key_of(detail["outputGroupDetails"][1]["outputDetails"][0]["outputFilePaths"][0])));
  const auto& images = detail["images"];
  EXPECT_TRUE(out_->head(key_of(images["poster"]["filePath"])));
  EXPECT_TRUE(out_->head(key_of(images["thumbnails"]["webvtt"])));
  for (const auto& sprite : images["thumbnails"]["sprites"]) EXPECT_TRUE(out_->head(key_of(sprite)));
  const std::string mpd = out_->get("shows/ep1/manifest.mpd").value_or("");
  EXPECT_NE(mpd.find("media=\"" + folder + "/thumbs/sprite_"), std::string::npos) << mpd;
  EXPECT_GE(segments, 3u * 2);  // two 4 s segments a track, three tracks
  EXPECT_TRUE(s3_missing_references(*out_, "shows/ep1/").empty()) << s3_missing_references(*out_, "shows/ep1/").front();

  // The same checks as a local ladder, on a copy of the prefix.
  const fs::path local = tmp_ / "copy" / "ep1";
  s3_download_prefix(*out_, "shows/ep1/", local);
  LadderExpectation expect;
  for (const auto& o : group["outputDetails"])
    if (o.contains("videoDetails"))
      expect.renditions.push_back({o["name"], o["videoDetails"]["widthInPx"], o["videoDetails"]["heightInPx"]});
  ASSERT_EQ(expect.renditions.size(), 2u);
  EXPECT_EQ(expect.renditions[0].height, 360);
  EXPECT_EQ(expect.renditions[1].height, 240);
  expect.duration = 6.0;
  expect.frame_seconds = 1 / 30.0;
  expect.media_prefix = folder + "/";
  check_ladder(local, expect);
  auto published = nlohmann::json::parse(read_file(local / "result.json"));
  EXPECT_EQ(published["detail"]["outputGroupDetails"][0]["outputDetails"], group["outputDetails"]);

  // Presigned URLs of the manifests, for a player with no credentials: plain curl gets them.
  ASSERT_TRUE(group.contains("playbackUrls")) << group.dump(2);
  const std::string hls = group["playbackUrls"]["hls"];
  EXPECT_EQ(hls.rfind(server_->endpoint() + "/media-out/shows/ep1/master.m3u8?", 0), 0u) << hls;
  EXPECT_NE(hls.find("X-Amz-Expires=600"), std::string::npos) << hls;
  auto [code, body] = curl(hls, tmp_ / "fetched");
  EXPECT_EQ(code, "200");
  EXPECT_EQ(body, out_->get("shows/ep1/master.m3u8").value_or("<missing>"));
  EXPECT_EQ(curl(group["playbackUrls"]["dash"], tmp_ / "fetched").first, "200");
  EXPECT_FALSE(group["playbackUrls"]["expiresAt"].get<std::string>().empty());

  EXPECT_TRUE(scratch_left().empty()) << "the staged input and the built ladder are gone: " << scratch_left().front();
  EXPECT_EQ(in_->head("uploads/1080p.mp4")->size, fs::file_size(media("1080p.mp4"))) << "the input is untouched";
}

// An image in a bucket makes an image job whose variants land under the run's folder, with their
// image types, and result.json last at the top.
TEST_F(TranscodeS3, AnImageInABucketBecomesVariantsInABucket) {
  upload("images/image.png", "uploads/photo.png");
  RunResult r = run_kiln({"transcode", "s3://media-in/uploads/photo.png", "-o", "s3://media-out/photos/p1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto result = nlohmann::json::parse(r.out);
  const auto& group = result["detail"]["outputGroupDetails"][0];
  ASSERT_EQ(group["type"], "IMAGE_GROUP") << result.dump(2);
  EXPECT_EQ(result["detail"]["inputDetails"][0]["uri"], "s3://media-in/uploads/photo.png");
  ASSERT_FALSE(group["outputDetails"].empty());
  for (const auto& o : group["outputDetails"]) {
    const std::string url = o["outputFilePaths"][0];
    SCOPED_TRACE(url);
    ASSERT_EQ(url.rfind("s3://media-out/photos/p1/run-", 0), 0u);
    auto head = out_->head(url.substr(std::strlen("s3://media-out/")));
    ASSERT_TRUE(head) << head.status().message();
    EXPECT_EQ(head->content_type, "image/" + std::string(o["imageDetails"]["format"] == "jpg" ? "jpeg"
                                                                                              : o["imageDetails"]["format"]));
    EXPECT_EQ(head->cache_control, "public, max-age=31536000, immutable");
  }
  auto published = out_->get("photos/p1/result.json");
  ASSERT_TRUE(published) << published.status().message();
  EXPECT_EQ(nlohmann::json::parse(*published)["detail"]["outputGroupDetails"][0]["outputDetails"], group["outputDetails"]);
  EXPECT_TRUE(scratch_left().empty()) << scratch_left().front();
}

TEST_F(TranscodeS3, AnExistingOutputIsRefusedAndOverwriteReplacesItOnlyAfterTheNewManifests) {
  upload("480p.mp4", "clip.mp4");
  RunResult first = run_kiln({"transcode", "s3://media-in/clip.mp4", "-o", "s3://media-out/clip", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string first_folder = media_folder(nlohmann::json::parse(first.out), "s3://media-out/clip");

  RunResult refused = run_kiln({"transcode", "s3://media-in/clip.mp4", "-o", "s3://media-out/clip/"});
  EXPECT_EQ(refused.exit_code, 20) << refused.err;
  EXPECT_NE(refused.err.find("pass --overwrite"), std::string::npos) << refused.err;

  RunResult second = run_kiln({"transcode", "s3://media-in/clip.mp4", "-o", "s3://media-out/clip", "--overwrite", "--json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const std::string second_folder = media_folder(nlohmann::json::parse(second.out), "s3://media-out/clip");
  ASSERT_NE(first_folder, second_folder);
  for (const auto& k : s3_keys(*out_, "clip/"))
    EXPECT_TRUE(k.rfind(second_folder + "/", 0) == 0 || k.find('/') == std::string::npos) << "left of the first run: " << k;
  EXPECT_NE(out_->get("clip/master.m3u8").value_or("").find(second_folder + "/480p/playlist.m3u8"), std::string::npos);
  EXPECT_TRUE(s3_missing_references(*out_, "clip/").empty());
}

TEST_F(TranscodeS3, ABucketInputToALocalOutputAndALocalInputToABucket) {
  upload("480p.mp4", "clip.mp4");
  RunResult down = run_kiln({"transcode", "s3://media-in/clip.mp4", "-o", (tmp_ / "local").string()});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  check_ladder(tmp_ / "local", {{{"480p", 854, 480}}, true, 3.0, 1 / 30.0});
  EXPECT_NE(read_file(tmp_ / "local" / "result.json").find("\"uri\": \"s3://media-in/clip.mp4\""), std::string::npos);

  RunResult up = run_kiln({"transcode", media("480p.mp4").string(), "-o", "s3://media-out/from-disk/"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE(up.out.find("Published s3://media-out/from-disk"), std::string::npos) << up.out;
  auto keys = s3_keys(*out_, "from-disk/");
  EXPECT_NE(std::find(keys.begin(), keys.end(), "result.json"), keys.end());
  EXPECT_TRUE(s3_missing_references(*out_, "from-disk/").empty());
  EXPECT_TRUE(scratch_left().empty());
}

// A scratch disk too small for the input: with --stream-input auto (a location's
// stream_input = "auto") the job reads the object through a presigned URL instead of refusing,
// and the ladder is complete. With the default (never) the same run is refused: see
// StorageFailuresHaveTheirExitCodesAndLeaveNothingBehind. The signed URL is never printed.
TEST_F(TranscodeS3, AnInputTheScratchDiskHasNoRoomForIsStreamedThroughAPresignedUrl) {
  upload("480p.mp4", "uploads/clip.mp4");
  ASSERT_GT(fs::file_size(media("480p.mp4")), 1024u * 1024u) << "the input must not fit on the 1 MiB disk";
  const fs::path small = tmp_ / "small";
  fs::create_directories(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0)
    GTEST_SKIP() << "needs root to mount a small tmpfs: " << std::strerror(errno);
  RunResult r = run_kiln({"transcode", "s3://media-in/uploads/clip.mp4", "-o", (tmp_ / "local").string(),
                          "--scratch-dir", small.string(), "--stream-input", "auto", "--json"});
  std::vector<std::string> on_disk;
  for (const auto& e : fs::recursive_directory_iterator(small)) on_disk.push_back(e.path().string());
  ::umount2(small.c_str(), MNT_DETACH);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("streaming input s3://media-in/uploads/clip.mp4 (1.3 MiB) through a presigned URL, not "
                       "staged: the scratch directory '" + small.string()),
            std::string::npos) << r.err;
  check_ladder(tmp_ / "local", {{{"480p", 854, 480}}, true, 3.0, 1 / 30.0});
  auto result = nlohmann::json::parse(r.out);
  EXPECT_EQ(result["detail"]["inputDetails"][0]["uri"], "s3://media-in/uploads/clip.mp4");
  for (const std::string& text : {r.out, r.err, read_file(tmp_ / "local" / "result.json")})
    EXPECT_EQ(text.find("X-Amz-Signature"), std::string::npos) << text;
  EXPECT_TRUE(on_disk.empty()) << on_disk.front();
}

// --stream-input always: bucket to bucket without staging the video; an image is staged all the
// same (libvips reads files); a damaged object read through the URL is refused by its s3:// name,
// its size from the HEAD catching the cut.
TEST_F(TranscodeS3, AlwaysStreamingPublishesTheLadderStagesImagesAndRefusesADamagedObjectByName) {
  upload("480p.mp4", "clip.mp4");
  upload("truncated_faststart.mp4", "cut.mp4");
  upload("images/image.png", "photo.png");
  RunResult r = run_kiln({"transcode", "s3://media-in/clip.mp4", "-o", "s3://media-out/clip/", "--stream-input",
                          "always", "--log-level", "debug"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("streaming input s3://media-in/clip.mp4 (1.3 MiB) through a presigned URL, not staged: its "
                       "location has stream_input = \"always\""),
            std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("staging input"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("X-Amz-Signature="), std::string::npos) << "debug logging shows no signature: " << r.err;
  auto keys = s3_keys(*out_, "clip/");
  EXPECT_NE(std::find(keys.begin(), keys.end(), "result.json"), keys.end());
  EXPECT_TRUE(s3_missing_references(*out_, "clip/").empty());
  s3_download_prefix(*out_, "clip/", tmp_ / "copy");
  LadderExpectation expect{{{"480p", 854, 480}}, true, 3.0, 1 / 30.0};
  expect.media_prefix =
      media_folder(nlohmann::json::parse(read_file(tmp_ / "copy" / "result.json")), "s3://media-out/clip") + "/";
  check_ladder(tmp_ / "copy", expect);

  RunResult image = run_kiln({"transcode", "s3://media-in/photo.png", "-o", "s3://media-out/photo", "--stream-input",
                              "always"});
  EXPECT_EQ(image.exit_code, 0) << image.err;
  EXPECT_NE(image.err.find("input s3://media-in/photo.png is an image: staged, not streamed"), std::string::npos)
      << image.err;

  RunResult cut = run_kiln({"transcode", "s3://media-in/cut.mp4", "-o", "s3://media-out/cut/", "--stream-input",
                            "always"});
  EXPECT_EQ(cut.exit_code, 14) << cut.err;
  EXPECT_NE(cut.err.find("'s3://media-in/cut.mp4' is truncated"), std::string::npos) << cut.err;
  EXPECT_EQ(cut.err.find("X-Amz-"), std::string::npos) << cut.err;
  EXPECT_TRUE(s3_keys(*out_, "cut/").empty()) << s3_keys(*out_, "cut/").front();
  EXPECT_TRUE(scratch_left().empty()) << scratch_left().front();

  RunResult bad = run_kiln({"transcode", "s3://media-in/clip.mp4", "-o", "s3://media-out/x/", "--stream-input", "sometimes"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

// The store goes away while a streamed input is being read (s3rver killed, started again a
// second later on the same port): the read reconnects from where it was, with a ranged GET on the
// same presigned URL, and the ladder is complete.
TEST_F(TranscodeS3, AStreamedInputSurvivesTheStoreRestartingMidRead) {
  upload("long.mp4", "in/long.mp4");  // 39 MB: far more than the socket buffers hold when the store dies
  fs::create_directories(tmp_ / "logs");
  int pid = spawn_kiln({"transcode", "s3://media-in/in/long.mp4", "-o", (tmp_ / "out").string(), "--ladder", "240p",
                        "--stream-input", "always"},
                       tmp_ / "logs");
  auto segment_written = [&] {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(tmp_.path(), ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->path().filename() == "seg_00001.m4s") return true;
    return false;
  };
  ASSERT_TRUE(eventually(segment_written, std::chrono::seconds(120))) << read_file(tmp_ / "logs" / "stderr");
  server_->kill();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  server_->restart();
  ASSERT_EQ(wait_exit(pid), 0) << read_file(tmp_ / "logs" / "stderr");
  const std::string log = read_file(tmp_ / "logs" / "stderr");
  EXPECT_NE(log.find("Will reconnect at"), std::string::npos) << "the store's death reached the read: " << log;
  check_ladder(tmp_ / "out", {{{"240p", 426, 240}}, true, 20.0, 1 / 30.0});
  EXPECT_EQ(log.find("X-Amz-Signature"), std::string::npos) << log;
}

// SIGINT mid-job: nothing reaches the bucket, and the scratch directory is left empty.
TEST_F(TranscodeS3, AnInterruptedRunPublishesNothingAndLeavesNoScratch) {
  fs::create_directories(tmp_ / "logs");
  int pid = spawn_kiln({"transcode", media("long.mp4").string(), "-o", "s3://media-out/long/", "--ladder", "480p"},
                       tmp_ / "logs");
  auto segment_written = [&] {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(scratch_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->path().filename() == "seg_00001.m4s") return true;
    return false;
  };
  ASSERT_TRUE(eventually(segment_written, std::chrono::seconds(120))) << read_file(tmp_ / "logs" / "stderr");
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read_file(tmp_ / "logs" / "stderr");
  EXPECT_NE(read_file(tmp_ / "logs" / "stderr").find("nothing was published"), std::string::npos);
  EXPECT_TRUE(scratch_left().empty()) << scratch_left().front();
  EXPECT_TRUE(s3_keys(*out_, "").empty()) << s3_keys(*out_, "").front();
}

// Each storage failure has its own exit code and message, and none leaves anything behind.
TEST_F(TranscodeS3, StorageFailuresHaveTheirExitCodesAndLeaveNothingBehind) {
  upload("480p.mp4", "clip.mp4");
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> all = {"transcode"};
    all.insert(all.end(), args.begin(), args.end());
    return run_kiln(all);
  };
  RunResult missing = run({"s3://media-in/none.mp4", "-o", "s3://media-out/a/"});
  EXPECT_EQ(missing.exit_code, 10) << missing.err;
  EXPECT_NE(missing.err.find("'s3://media-in/none.mp4' does not exist"), std::string::npos) << missing.err;

  RunResult no_bucket = run({"s3://media-in/clip.mp4", "-o", "s3://no-such-bucket/a/"});
  EXPECT_EQ(no_bucket.exit_code, 34) << no_bucket.err;

  RunResult root = run({"s3://media-in/clip.mp4", "-o", "s3://media-out/"});
  EXPECT_EQ(root.exit_code, 2) << root.err;
  EXPECT_NE(root.err.find("names no key"), std::string::npos) << root.err;
  RunResult dotdot = run({"s3://media-in/x/../clip.mp4", "-o", "s3://media-out/a/"});
  EXPECT_EQ(dotdot.exit_code, 2) << dotdot.err;

  ::setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
  RunResult secret = run({"s3://media-in/clip.mp4", "-o", "s3://media-out/a/"});
  ::setenv("AWS_SECRET_ACCESS_KEY", S3rver::kSecret, 1);
  EXPECT_EQ(secret.exit_code, 32) << secret.err;
  EXPECT_EQ(secret.err.find("not-the-secret"), std::string::npos) << secret.err;

  ::setenv("AWS_ENDPOINT_URL", ("http://127.0.0.1:" + std::to_string(free_port())).c_str(), 1);
  RunResult unreachable = run({"s3://media-in/clip.mp4", "-o", (tmp_ / "never").string()});
  ::setenv("AWS_ENDPOINT_URL", server_->endpoint().c_str(), 1);
  EXPECT_EQ(unreachable.exit_code, 30) << unreachable.err;
  EXPECT_FALSE(fs::exists(tmp_ / "never"));

  // A scratch disk with less room than the input: refused before a byte is staged.
  const fs::path small = tmp_ / "small";
  fs::create_directories(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
    EXPECT_TRUE(s3_keys(*out_, "").empty());
    GTEST_SKIP() << "the full-disk case needs root to mount a small tmpfs: " << std::strerror(errno);
  }
  RunResult full = run({"s3://media-in/clip.mp4", "-o", "s3://media-out/a/", "--scratch-dir", small.string()});
  std::vector<std::string> on_disk;
  for (const auto& e : fs::recursive_directory_iterator(small)) on_disk.push_back(e.path().string());
  ::umount2(small.c_str(), MNT_DETACH);
  EXPECT_EQ(full.exit_code, 21) << full.err;
  EXPECT_NE(full.err.find("no room to stage input 's3://media-in/clip.mp4'"), std::string::npos) << full.err;
  EXPECT_TRUE(on_disk.empty()) << on_disk.front();

  EXPECT_TRUE(s3_keys(*out_, "").empty()) << "nothing was published anywhere: " << s3_keys(*out_, "").front();
  EXPECT_TRUE(scratch_left().empty());
}

}  // namespace
}  // namespace kiln::test
