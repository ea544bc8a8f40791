// Publishing a ladder to a bucket (pipeline/s3_publish.hpp) against a real S3 server on loopback
// (s3rver; tests/storage/s3rver/launch.js lists its differences from AWS): the order and the
// headers, what a reader sees at every step, a lease lost before the manifests, a lease check
// too old for the manifests, the server killed mid-upload, and whose output may be replaced.
// The ladder here is laid out as transcode() leaves it, with stand-in bytes for the media: the
// publisher never looks inside (tests/cli/transcode_s3_test.cpp publishes real ladders).
#include "pipeline/s3_publish.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "package/manifest.hpp"
#include "support/run.hpp"
#include "support/s3_ladder.hpp"
#include "support/s3rver.hpp"
#include "support/tcp_proxy.hpp"

namespace kiln::pipeline {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using storage::s3::S3Client;
using test::eventually;
using test::S3rver;

double counter(const std::string& name, std::vector<std::string> label_names = {}, metrics::Labels labels = {}) {
  return metrics::default_registry().counter(name, "", std::move(label_names)).counter(labels).value();
}

class LineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  bool contains(const std::string& text) {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& m) override { lines_.emplace_back(m.payload.data(), m.payload.size()); }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

package::TrackSummary track(const std::string& folder, int segments, int64_t bytes) {
  package::TrackSummary t;
  t.folder = folder;
  t.timescale = 1000;
  t.codecs = folder == "audio" ? "mp4a.40.2" : "avc1.64001f";
  for (int i = 0; i < segments; ++i) t.segments.push_back({i * 4000, 4000, bytes});
  return t;
}

/// A ladder as transcode() leaves it for an s3 output: two renditions and audio under
/// `folder/`, both manifests naming them through it, and result.json with the job's marker.
void make_ladder(const fs::path& dir, const std::string& folder, int64_t job, int attempt, size_t segment_bytes = 2000) {
  package::Presentation p;
  p.video.push_back({track("480p", 3, segment_bytes), 854, 480, Rational{30, 1}});
  p.video.push_back({track("240p", 3, segment_bytes / 2), 426, 240, Rational{30, 1}});
  p.audio = package::AudioTrack{track("audio", 3, 500), 2, 48000};
  auto fill = [&](const package::TrackSummary& t) {
    fs::create_directories(dir / folder / t.folder);
    std::ofstream(dir / folder / t.folder / "init.mp4") << folder << " init of " << t.folder;
    for (size_t i = 0; i < t.segments.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "seg_%05zu.m4s", i + 1);
      std::string body = folder + " " + t.folder + " " + name + " ";
      body.resize(static_cast<size_t>(t.segments[i].bytes), 'x');
      std::ofstream(dir / folder / t.folder / name, std::ios::binary) << body;
    }
  };
  for (const auto& v : p.video) fill(v.track);
  fill(p.audio->track);
  ASSERT_TRUE(package::write_hls(dir.string(), p, folder + "/").is_ok());
  ASSERT_TRUE(package::write_dash(dir.string(), p, folder + "/").is_ok());
  std::ofstream(dir / "result.json") << nlohmann::json{{"kilnJob", {{"id", job}, {"attempt", attempt}}}}.dump();
}

/// What a published object is, by where it lies: the order the publish must keep.
int step_of(const std::string& rel, const std::string& folder) {
  if (rel == "result.json") return 3;
  if (rel.rfind(folder + "/", 0) != 0) return 2;  // a manifest at the top
  return rel.size() > 5 && rel.compare(rel.size() - 5, 5, ".m3u8") == 0 ? 1 : 0;
}

class S3PublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!S3rver::available(&why)) GTEST_SKIP() << why;
    server_ = std::make_unique<S3rver>(tmp_ / "s3", std::vector<std::string>{"bkt"});
    client_ = test::s3_client(server_->endpoint(), "bkt");
  }

  S3Output output(const S3Client& c) const { return {&c, "s3://bkt/out/show", "out/show"}; }
  S3PublishOptions options(int64_t job, int attempt) const {
    S3PublishOptions o;
    o.folder = attempt_folder(job, attempt);
    o.job_id = job;
    o.attempt = attempt;
    return o;
  }
  /// A ladder of job `job`'s attempt `attempt`, its media under `folder` (default: the attempt's).
  fs::path ladder(int64_t job, int attempt, size_t segment_bytes = 2000, std::string folder = "") {
    if (folder.empty()) folder = attempt_folder(job, attempt);
    fs::path dir = tmp_ / ("ladder-" + folder);
    make_ladder(dir, folder, job, attempt, segment_bytes);
    return dir;
  }
  std::vector<std::string> keys() const { return test::s3_keys(*client_, "out/show/"); }

  test::TempDir tmp_;
  std::unique_ptr<S3rver> server_;
  std::unique_ptr<S3Client> client_;
};

TEST_F(S3PublishTest, ObjectsGoOutInOrderWithTheirHeadersAndEveryManifestIsWholeAtEveryStep) {
  std::vector<std::string> order;
  std::vector<std::string> broken;  // what a reader would have missed, after each object
  S3PublishOptions o = options(7, 1);
  o.on_stored = [&](const std::string& key) {
    order.push_back(key.substr(std::string("out/show/").size()));
    for (const auto& m : test::s3_missing_references(*client_, "out/show/")) broken.push_back(order.back() + ": " + m);
  };
  int checks = 0;
  o.before_manifests = [&] {
    ++checks;
    return true;
  };
  Status st = publish_to_s3(ladder(7, 1).string(), output(*client_), o);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(checks, 1);
  EXPECT_TRUE(broken.empty()) << broken.front();

  // 3 tracks x (init + 3 segments + playlist), 2 manifests, result.json: each stored once.
  ASSERT_EQ(order.size(), 3u * 5 + 3);
  for (size_t i = 1; i < order.size(); ++i)
    EXPECT_LE(step_of(order[i - 1], "a1"), step_of(order[i], "a1")) << order[i - 1] << " before " << order[i];
  EXPECT_EQ(order.back(), "result.json");
  EXPECT_EQ(order[order.size() - 3], "master.m3u8");  // the multivariant playlist, the MPD, the result
  EXPECT_EQ(order[order.size() - 2], "manifest.mpd");

  std::vector<std::string> stored = keys();
  std::vector<std::string> sorted_order = order;
  std::sort(sorted_order.begin(), sorted_order.end());
  EXPECT_EQ(stored, sorted_order) << "exactly what was published, nothing else";
  std::map<std::string, std::pair<std::string, std::string>> want = {
      {"a1/480p/seg_00002.m4s", {"video/iso.segment", "public, max-age=31536000, immutable"}},
      {"a1/audio/init.mp4", {"video/mp4", "public, max-age=31536000, immutable"}},
      {"a1/240p/playlist.m3u8", {"application/vnd.apple.mpegurl", "public, max-age=31536000, immutable"}},
      {"master.m3u8", {"application/vnd.apple.mpegurl", "no-cache"}},
      {"manifest.mpd", {"application/dash+xml", "no-cache"}},
      {"result.json", {"application/json", "no-cache"}},
  };
  for (const auto& [rel, headers] : want) {
    auto head = client_->head("out/show/" + rel);
    ASSERT_TRUE(head) << rel << ": " << head.status().message();
    EXPECT_EQ(head->content_type, headers.first) << rel;
    EXPECT_EQ(head->cache_control, headers.second) << rel;
  }
  EXPECT_NE(client_->get("out/show/master.m3u8").value_or("").find("a1/480p/playlist.m3u8"), std::string::npos);
}

// The lease check says no (another attempt holds the job now): nothing a reader sees changes.
// The earlier attempt's publish stays whole, and what this attempt uploaded is deleted.
TEST_F(S3PublishTest, ALeaseLostBeforeTheManifestsChangesNothingAReaderSees) {
  ASSERT_TRUE(publish_to_s3(ladder(5, 1).string(), output(*client_), options(5, 1)).is_ok());
  const std::string master = client_->get("out/show/master.m3u8").value_or("");
  const std::vector<std::string> before = keys();

  S3PublishOptions o = options(5, 2);
  int stored = 0;
  o.on_stored = [&](const std::string&) { ++stored; };
  o.before_manifests = [] { return false; };
  Status st = publish_to_s3(ladder(5, 2).string(), output(*client_), o);
  EXPECT_EQ(st.code(), Code::kCancelled) << st.message();
  EXPECT_NE(st.message().find("nothing was published"), std::string::npos) << st.message();
  EXPECT_EQ(stored, 3 * 5) << "its media and media playlists went up before the check";
  EXPECT_EQ(keys(), before) << "and were deleted: the bucket is as attempt 1 left it";
  EXPECT_EQ(client_->get("out/show/master.m3u8").value_or(""), master);
  EXPECT_TRUE(test::s3_missing_references(*client_, "out/show/").empty());
}

// The lease check took longer than the manifests' window (a node stalled): the lease may be
// another attempt's by now, so no manifest is written and the attempt's objects go.
TEST_F(S3PublishTest, ALeaseCheckOlderThanTheWindowWritesNoManifest) {
  auto clock = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  S3PublishOptions o = options(8, 1);
  o.manifest_window = 15s;
  o.now = [clock] { return *clock; };
  o.before_manifests = [clock] {
    *clock += 20s;  // the check's answer came back late
    return true;
  };
  Status st = publish_to_s3(ladder(8, 1).string(), output(*client_), o);
  EXPECT_EQ(st.code(), Code::kCancelled) << st.message();
  EXPECT_NE(st.message().find("within 15000 ms of the lease check"), std::string::npos) << st.message();
  EXPECT_TRUE(keys().empty()) << keys().front();

  // Within the window it publishes.
  S3PublishOptions ok = options(8, 2);
  ok.manifest_window = 15s;
  ok.now = [clock] { return *clock; };
  ok.before_manifests = [clock] {
    *clock += 1s;
    return true;
  };
  EXPECT_TRUE(publish_to_s3(ladder(8, 2).string(), output(*client_), ok).is_ok());
  EXPECT_EQ(client_->get("out/show/result.json").value_or(""), R"({"kilnJob":{"attempt":2,"id":8}})");
}

// The S3 server dies mid-upload: the publish fails, cannot delete what it stored (the server is
// gone), says so (warn, metric, message); the next attempt publishes whole and deletes them.
TEST_F(S3PublishTest, TheServerKilledMidUploadLeavesObjectsThatTheNextAttemptDeletes) {
  auto sink = std::make_shared<LineSink>();
  logger("pipeline")->sinks().push_back(sink);
  test::TcpProxy proxy(server_->port());
  auto via_proxy = test::s3_client("http://127.0.0.1:" + std::to_string(proxy.port()), "bkt");
  const fs::path first = ladder(9, 1, 200 * 1000);  // 200 kB segments: the hold lands mid-upload
  const double failed_cleanups = counter("kiln_s3_cleanup_failures_total", {"when"}, {"failed_publish"});
  proxy.hold_uploads_after(700 * 1000);
  Status st = Status(Code::kInternal, "not run");
  std::thread t([&] { st = publish_to_s3(first.string(), output(*via_proxy), options(9, 1)); });
  bool stalled = eventually([&] { return proxy.holding(); }, 30s);
  server_->kill();
  proxy.release();  // the held bytes meet a dead server; new connections find none
  t.join();
  server_->restart();
  logger("pipeline")->sinks().pop_back();
  ASSERT_TRUE(stalled);
  EXPECT_EQ(st.code(), Code::kStorageUnreachable) << st.message();
  EXPECT_NE(st.message().find("left for the next attempt's publish to delete"), std::string::npos) << st.message();
  EXPECT_TRUE(sink->contains("could not be deleted"));
  EXPECT_EQ(counter("kiln_s3_cleanup_failures_total", {"when"}, {"failed_publish"}), failed_cleanups + 1);
  std::vector<std::string> orphans = keys();
  ASSERT_FALSE(orphans.empty()) << "some of attempt 1 reached the server before it died";
  for (const auto& k : orphans) EXPECT_EQ(k.rfind("a1/", 0), 0u) << k << ": no manifest went out";

  ASSERT_TRUE(publish_to_s3(ladder(9, 2).string(), output(*client_), options(9, 2)).is_ok());
  for (const auto& k : keys()) EXPECT_NE(k.rfind("a1/", 0), 0u) << "an orphan of the failed attempt: " << k;
  EXPECT_TRUE(test::s3_missing_references(*client_, "out/show/").empty());
  EXPECT_TRUE(server_->open_uploads("bkt").empty());
}

// The store dies right after result.json went up: the publish stands (it is whole), and the
// earlier attempt's folder it could not delete is logged, counted, and deleted by a later one.
TEST_F(S3PublishTest, EarlierAttemptsThatCannotBeDeletedDoNotFailAPublishThatIsWhole) {
  ASSERT_TRUE(publish_to_s3(ladder(6, 1).string(), output(*client_), options(6, 1)).is_ok());
  auto sink = std::make_shared<LineSink>();
  logger("pipeline")->sinks().push_back(sink);
  const double failed_cleanups = counter("kiln_s3_cleanup_failures_total", {"when"}, {"earlier_attempts"});
  S3PublishOptions o = options(6, 2);
  o.on_stored = [&](const std::string& key) {
    if (key == "out/show/result.json") server_->kill();
  };
  Status st = publish_to_s3(ladder(6, 2).string(), output(*client_), o);
  logger("pipeline")->sinks().pop_back();
  server_->restart();
  EXPECT_TRUE(st.is_ok()) << st.message();
  EXPECT_TRUE(sink->contains("earlier attempts' objects under it could not be deleted"));
  EXPECT_EQ(counter("kiln_s3_cleanup_failures_total", {"when"}, {"earlier_attempts"}), failed_cleanups + 1);
  auto left = keys();
  EXPECT_TRUE(std::any_of(left.begin(), left.end(), [](const std::string& k) { return k.rfind("a1/", 0) == 0; }));
  EXPECT_NE(client_->get("out/show/master.m3u8").value_or("").find("a2/480p/"), std::string::npos);
  EXPECT_TRUE(test::s3_missing_references(*client_, "out/show/").empty());

  ASSERT_TRUE(publish_to_s3(ladder(6, 3).string(), output(*client_), options(6, 3)).is_ok());
  for (const auto& k : keys())
    EXPECT_TRUE(k.rfind("a3/", 0) == 0 || k.find('/') == std::string::npos) << "left of an earlier attempt: " << k;
}

TEST_F(S3PublishTest, OnlyThisJobsOwnOutputMayBeReplaced) {
  const S3Output out = output(*client_);
  EXPECT_TRUE(check_s3_output(out, 3, false).is_ok()) << "nothing there";
  ASSERT_TRUE(publish_to_s3(ladder(3, 1).string(), out, options(3, 1)).is_ok());
  EXPECT_TRUE(check_s3_output(out, 3, false).is_ok()) << "its own earlier attempt's";
  Status other = check_s3_output(out, 4, false);
  EXPECT_EQ(other.code(), Code::kOutputExists);
  EXPECT_NE(other.message().find("holds job 3's published output"), std::string::npos) << other.message();
  Status cli = check_s3_output(out, 0, false);
  EXPECT_EQ(cli.code(), Code::kOutputExists);
  EXPECT_NE(cli.message().find("pass --overwrite"), std::string::npos) << cli.message();
  EXPECT_TRUE(check_s3_output(out, 0, true).is_ok());

  // An earlier attempt that died before its result.json: its objects are taken as this job's.
  ASSERT_TRUE(client_->remove("out/show/result.json").is_ok());
  EXPECT_TRUE(check_s3_output(out, 4, false).is_ok());
  // Anything that is not laid out as Kiln's is not.
  ASSERT_TRUE(client_->put("out/show/notes.txt", "mine"));
  Status foreign = check_s3_output(out, 4, false);
  EXPECT_EQ(foreign.code(), Code::kOutputExists);
  EXPECT_NE(foreign.message().find("'notes.txt'"), std::string::npos) << foreign.message();
}

// kiln transcode --overwrite: the old run's objects go only once the new manifests name the new
// run's, and then every one of them goes.
TEST_F(S3PublishTest, AnOverwriteDeletesTheOldRunOnlyAfterTheNewManifests) {
  S3PublishOptions first = options(0, 0);
  ASSERT_TRUE(publish_to_s3(ladder(0, 0, 2000, first.folder).string(), output(*client_), first).is_ok());
  ASSERT_TRUE(client_->head("out/show/" + first.folder + "/480p/init.mp4"));
  S3PublishOptions second = options(0, 0);
  ASSERT_NE(second.folder, first.folder);
  second.overwrite = true;
  const fs::path second_dir = ladder(0, 0, 2000, second.folder);
  bool old_gone_early = false;  // while anything of the new run is still going up
  second.on_stored = [&](const std::string&) {
    if (!client_->head("out/show/" + first.folder + "/480p/init.mp4")) old_gone_early = true;
  };
  ASSERT_TRUE(publish_to_s3(second_dir.string(), output(*client_), second).is_ok());
  EXPECT_FALSE(old_gone_early);
  for (const auto& k : keys()) EXPECT_NE(k.rfind(first.folder, 0), 0u) << k;
  EXPECT_NE(client_->get("out/show/master.m3u8").value_or("").find(second.folder + "/480p/"), std::string::npos);
  EXPECT_TRUE(test::s3_missing_references(*client_, "out/show/").empty());
}

TEST(S3ObjectHeaders, ComeFromATableByExtensionAndPlace) {
  EXPECT_EQ(headers_for("a2/720p/seg_00001.m4s").content_type, "video/iso.segment");
  EXPECT_EQ(headers_for("a2/720p/init.mp4").content_type, "video/mp4");
  EXPECT_EQ(headers_for("a2/720p/playlist.m3u8").content_type, "application/vnd.apple.mpegurl");
  EXPECT_EQ(headers_for("a2/720p/playlist.m3u8").cache_control, "public, max-age=31536000, immutable");
  EXPECT_EQ(headers_for("master.m3u8").cache_control, "no-cache");
  EXPECT_EQ(headers_for("manifest.mpd").content_type, "application/dash+xml");
  EXPECT_EQ(headers_for("result.json").content_type, "application/json");
  EXPECT_EQ(headers_for("odd.bin").content_type, "application/octet-stream");
  EXPECT_EQ(attempt_folder(12, 3), "a3");
  EXPECT_EQ(attempt_folder(0, 0).rfind("run-", 0), 0u);
}

}  // namespace
}  // namespace kiln::pipeline
