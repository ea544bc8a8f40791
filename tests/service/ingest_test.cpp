// Ingest through the real processes: a coordinator with [[watch]] rules and node daemons on a
// throwaway PostgreSQL database, a real S3 server on loopback (s3rver, tests/storage/s3rver;
// its differences from AWS are in launch.js: here, event keys are not URL-encoded, so the
// rules say event_keys = "raw", and a multipart upload's event is ObjectCreated:Post), and
// real watch folders. Every wait has a deadline; none is a bare sleep: a test that must let
// time pass waits for what the coordinator reports (its /metrics, its ledger).
//
// An upload in a bucket becomes a job whose input is the object (s3://BUCKET/KEY); a refusal
// (here: an output that exists) is recorded once and reported in the rule's errors/ prefix.

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>
#include <thread>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "storage/s3/s3_client.hpp"
#include "support/run.hpp"
#include "support/webhook_receiver.hpp"
#include "support/s3rver.hpp"
#include "support/service_cluster.hpp"

namespace kiln::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace s3 = storage::s3;

std::string url_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

/// An S3 event body as AWS words it (s3rver's shape, lib/models/event.js).
std::string event_body(const std::string& bucket, const std::string& key, const std::string& etag,
                       const std::string& name = "ObjectCreated:Put") {
  return nlohmann::json{{"Records",
                         {{{"eventVersion", "2.1"},
                           {"eventSource", "aws:s3"},
                           {"eventName", name},
                           {"s3",
                            {{"bucket", {{"name", bucket}}},
                             {"object", {{"key", key}, {"size", 10}, {"eTag", etag}}}}}}}}}
      .dump();
}

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("AWS_ACCESS_KEY_ID", S3rver::kAccessKey, 1);  // the coordinator inherits them
    ::setenv("AWS_SECRET_ACCESS_KEY", S3rver::kSecret, 1);
    svc_.emplace(tmp_.path(), KILN_PG_DIR);
    deadline_ = std::make_unique<TestDeadline>(270s, [this] { print_logs(); });
  }
  void TearDown() override {
    if (HasFailure()) print_logs();
  }
  void print_logs() {
    svc_->print_logs();
    if (s3rver_) std::fprintf(stderr, "---- s3rver ----\n%s\n", s3rver_->log().c_str());
  }

  bool start_s3rver(bool notify = false) {
    std::string why;
    if (!S3rver::available(&why)) {
      skip_reason_ = why;
      return false;
    }
    s3rver_ = std::make_unique<S3rver>(tmp_ / "s3", std::vector<std::string>{"media-in", "other-bucket"},
                                       notify ? tmp_ / "notify.json" : fs::path());
    s3::ClientOptions o;
    o.target.endpoint = *s3::parse_endpoint(s3rver_->endpoint());
    o.target.region = "us-east-1";
    o.target.path_style = true;
    o.target.bucket = "media-in";
    o.target.credentials.access_key_id = S3rver::kAccessKey;
    o.target.credentials.secret_access_key = s3::Secret(S3rver::kSecret);
    o.target.credentials.source = "the test";
    o.part_size = 64 * 1024;
    bucket_ = std::make_unique<s3::S3Client>(o);
    return true;
  }

  /// The bucket's [[location]] and an S3 rule on it.
  std::string s3_config(const std::string& rule_extra, const std::string& output = "work:out/{stem}-{version}") const {
    return "[[location]]\nname = \"inbox\"\nurl = \"s3://media-in/\"\nendpoint = \"" + s3rver_->endpoint() +
           "\"\n[[watch]]\nname = \"uploads\"\nlocation = \"inbox\"\nprefix = \"uploads/\"\nsuffixes = [\".mp4\"]\n"
           "event_keys = \"raw\"\noutput = \"" + output + "\"\nerrors_prefix = \"errors/\"\n" + rule_extra;
  }

  std::string put(const std::string& key, const std::string& body) {
    auto r = bucket_->put(key, body);
    EXPECT_TRUE(r) << r.status().message();
    return r ? r->etag : "";
  }

  httplib::Result post_event(const std::string& body, const std::string& token = "") {
    return svc_->client().Post("/v1/ingest/s3-events", svc_->auth(token.empty() ? ingest_token() : token), body,
                               "application/json");
  }
  const std::string& ingest_token() {
    if (ingest_token_.empty()) ingest_token_ = svc_->token("ingest");
    return ingest_token_;
  }

  long long ledger(const std::string& where) const {
    return svc_->count("SELECT count(*) FROM kiln_ingest_ledger WHERE " + where);
  }
  /// Jobs whose input is `key` in `location`, through the API's filter.
  size_t jobs_for(const std::string& location, const std::string& key) {
    auto j = svc_->get("/v1/jobs?inputLocation=" + location + "&inputKey=" + url_escape(key));
    return j.is_null() ? 999 : j["jobs"].size();
  }

  TempDir tmp_;
  std::optional<ServiceCluster> svc_;
  std::unique_ptr<TestDeadline> deadline_;
  std::unique_ptr<S3rver> s3rver_;
  std::unique_ptr<s3::S3Client> bucket_;
  std::string ingest_token_, skip_reason_;
};

#define START_S3RVER(notify) \
  if (!start_s3rver(notify)) GTEST_SKIP() << skip_reason_

TEST_F(IngestTest, AnEventTwiceAndAPollBetweenMakeOneOutcomeAndARestartMakesNone) {
  START_S3RVER(false);
  int coordinator = svc_->start_coordinator(s3_config("poll_seconds = 0.5\n"));
  std::string etag = put("uploads/a.mp4", "first version");
  auto first = post_event(event_body("media-in", "uploads/a.mp4", etag));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  // A whole pass of the poller after the event: it lists the object too.
  double passes = svc_->metric("kiln_ingest_poll_passes_total", "rule=\"uploads\"");
  ASSERT_TRUE(eventually([&] { return svc_->metric("kiln_ingest_poll_passes_total", "rule=\"uploads\"") >= passes + 2; }, 30s));
  auto second = post_event(event_body("media-in", "uploads/a.mp4", etag));
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(nlohmann::json::parse(second->body)["duplicates"], 1) << second->body;

  // Three sightings (event, poll, event), in whatever order they raced: one outcome.
  EXPECT_EQ(ledger("key = 'uploads/a.mp4'"), 1);
  EXPECT_GE(svc_->metric("kiln_ingest_uploads_total", "outcome=\"duplicate\""), 2);
  EXPECT_GE(svc_->metric("kiln_ingest_uploads_total", "trigger=\"poll\""), 1) << "the poll saw it";
  EXPECT_EQ(svc_->sql("SELECT outcome FROM kiln_ingest_ledger WHERE key = 'uploads/a.mp4'"), "job");
  EXPECT_EQ(jobs_for("inbox", "uploads/a.mp4"), 1u);

  // Replaced (a new ETag): a new upload, a second outcome.
  std::string etag2 = put("uploads/a.mp4", "second version");
  ASSERT_NE(etag2, etag);
  auto third = post_event(event_body("media-in", "uploads/a.mp4", etag2));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 200);
  EXPECT_EQ(ledger("key = 'uploads/a.mp4'"), 2);
  EXPECT_EQ(ledger("key = 'uploads/a.mp4' AND version = '" + etag2 + "'"), 1);

  // A restart: the new process polls the bucket from its ledger and makes nothing new.
  const long long jobs_before = svc_->count("SELECT count(*) FROM kiln_jobs");
  const long long events_before = svc_->count("SELECT count(*) FROM kiln_events WHERE kind = 'ingest_refused'");
  svc_->stop(coordinator);
  svc_->start_coordinator(s3_config("poll_seconds = 0.5\n"));
  ASSERT_TRUE(eventually([&] { return svc_->metric("kiln_ingest_poll_passes_total", "rule=\"uploads\"") >= 2; }, 30s))
      << svc_->sql("SELECT string_agg(l.pid || ' ' || l.classid || ' ' || l.objid || ' ' || coalesce(a.query, ''), '; ') "
                   "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'")
      << " | " << svc_->sql("SELECT string_agg(rule || ' ' || scan_after || ' ' || passes, '; ') FROM kiln_ingest_rules");
  EXPECT_GE(svc_->metric("kiln_ingest_uploads_total", "outcome=\"duplicate\""), 2) << "each pass saw the object again";
  EXPECT_EQ(svc_->metric("kiln_ingest_uploads_total", "outcome=\"job\""), 0);
  EXPECT_EQ(svc_->metric("kiln_ingest_uploads_total", "outcome=\"refused\""), 0);
  EXPECT_EQ(ledger("key = 'uploads/a.mp4'"), 2);
  EXPECT_EQ(svc_->count("SELECT count(*) FROM kiln_jobs"), jobs_before);
  EXPECT_EQ(svc_->count("SELECT count(*) FROM kiln_events WHERE kind = 'ingest_refused'"), events_before);
}

TEST_F(IngestTest, S3rversOwnNotificationsReachTheEndpointWithAnIngestToken) {
  START_S3RVER(true);
  // Events only: what arrives came from s3rver's notifications.
  svc_->start_coordinator(s3_config(""));
  S3rver::write_notify_config(tmp_ / "notify.json", "http://127.0.0.1:" + std::to_string(svc_->port()) +
                                                        "/v1/ingest/s3-events", ingest_token());
  std::string etag = put("uploads/put.mp4", "a single PUT");
  ASSERT_TRUE(eventually([&] { return ledger("key = 'uploads/put.mp4' AND trigger = 'event'") == 1; }, 30s))
      << s3rver_->log();
  EXPECT_EQ(ledger("key = 'uploads/put.mp4' AND version = '" + etag + "'"), 1);
  EXPECT_NE(s3rver_->log().find("notify 200 ObjectCreated:Put uploads/put.mp4"), std::string::npos);
  // A multipart upload: s3rver says ObjectCreated:Post (AWS: CompleteMultipartUpload).
  fs::path big = tmp_ / "big.mp4";
  std::ofstream(big, std::ios::binary) << std::string(200 * 1024, 'm');
  auto mp = bucket_->multipart_upload(big.string(), "uploads/multi.mp4");
  ASSERT_TRUE(mp) << mp.status().message();
  ASSERT_TRUE(eventually([&] { return ledger("key = 'uploads/multi.mp4' AND trigger = 'event'") == 1; }, 30s))
      << s3rver_->log();
  // Outside the rule's prefix or suffix: the event arrives and is counted as unwatched.
  put("elsewhere/x.mp4", "x");
  put("uploads/notes.txt", "x");
  ASSERT_TRUE(eventually([&] { return svc_->metric("kiln_ingest_events_total", "outcome=\"unwatched\"") >= 2; }, 30s));
  // s3rver's copy events carry no eTag: not taken (a poll would find the object), and said so.
  ASSERT_TRUE(bucket_->copy("uploads/put.mp4", "uploads/copied.mp4"));
  ASSERT_TRUE(eventually([&] { return svc_->metric("kiln_ingest_events_total", "outcome=\"no_etag\"") >= 1; }, 30s));
  EXPECT_NE(svc_->log("coordinator").find("uploads/copied.mp4 carries no eTag"), std::string::npos);
  EXPECT_EQ(ledger("true"), 2);

  // Credentials: the ingest scope may post events and nothing else; a read token may not post
  // them; a store that can only send credentials in its URL (SNS, Ceph RGW) uses Basic.
  auto c = svc_->client();
  EXPECT_EQ(c.Get("/v1/jobs", svc_->auth(ingest_token()))->status, 403);
  EXPECT_EQ(post_event(event_body("media-in", "uploads/r.mp4", "e"), svc_->token("read"))->status, 403);
  EXPECT_EQ(c.Post("/v1/ingest/s3-events", event_body("media-in", "uploads/r.mp4", "e"), "application/json")->status, 401);
  c.set_basic_auth("kiln", ingest_token());
  auto basic = c.Post("/v1/ingest/s3-events", event_body("media-in", "uploads/basic.mp4", "0123"), "application/json");
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 200) << basic->body;
  EXPECT_EQ(ledger("key = 'uploads/basic.mp4'"), 1);
}

TEST_F(IngestTest, BadBodiesAreRefusedAndOtherEventsCounted) {
  START_S3RVER(false);
  svc_->start_coordinator(s3_config(""));
  struct Case {
    std::string body;
    int status;
    const char* code;
    const char* reason;  // kiln_ingest_event_bodies_rejected_total{reason}
  } cases[] = {
      {"{not json", 400, "malformed_json", "malformed"},
      {std::string(40, '[') + std::string(40, ']'), 400, "too_deep", "too_deep"},
      {R"({"hello": "world"})", 400, "invalid_event", "invalid"},
      {R"({"Records": [{"eventName": "ObjectCreated:Put"}]})", 400, "invalid_event", "invalid"},
      {"", 400, "empty_body", "empty"},
  };
  for (const auto& c : cases) {
    auto r = post_event(c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body << " -> " << r->body;
    EXPECT_NE(r->body.find(c.code), std::string::npos) << r->body;
    EXPECT_GE(svc_->metric("kiln_ingest_event_bodies_rejected_total", std::string("reason=\"") + c.reason + "\""), 1)
        << c.reason;
  }
  auto big = post_event(event_body("media-in", "uploads/" + std::string(9000, 'k') + ".mp4", "e"));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);  // past [api] max_body_bytes, like every other endpoint

  auto other = post_event(event_body("other-bucket", "uploads/a.mp4", "e1"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(nlohmann::json::parse(other->body)["unwatched"], 1) << other->body;
  auto removed = post_event(event_body("media-in", "uploads/a.mp4", "e1", "ObjectRemoved:Delete"));
  EXPECT_EQ(nlohmann::json::parse(removed->body)["ignored"], 1) << removed->body;
  auto test_event = post_event(R"({"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"media-in"})");
  EXPECT_EQ(test_event->status, 200);
  EXPECT_EQ(svc_->metric("kiln_ingest_events_total", "outcome=\"unwatched\""), 1);
  EXPECT_EQ(svc_->metric("kiln_ingest_events_total", "outcome=\"ignored\""), 1);
  EXPECT_EQ(svc_->metric("kiln_ingest_events_total", "outcome=\"test\""), 1);
  EXPECT_EQ(ledger("true"), 0);
}

TEST_F(IngestTest, ThePollAndTheReportsSurviveTheStoreGoingAwayAndSaySo) {
  START_S3RVER(false);
  // Outputs without the version, so one can be made to exist: during.mp4's is refused.
  svc_->start_coordinator(s3_config("poll_seconds = 0.3\n", "work:out/{stem}"));
  fs::create_directories(tmp_ / "out" / "during");
  std::string e1 = put("uploads/before.mp4", "1");
  ASSERT_TRUE(eventually([&] { return ledger("key = 'uploads/before.mp4' AND trigger = 'poll'") == 1; }, 30s));
  s3rver_->kill();  // as a crash
  ASSERT_TRUE(eventually([&] { return svc_->metric("kiln_ingest_poll_failures_total", "rule=\"uploads\"") >= 2; }, 60s));
  EXPECT_NE(svc_->log("coordinator").find("rule uploads: listing s3://media-in/uploads/ failed"), std::string::npos);
  // An event still lands (the endpoint needs only the database); its refusal's report cannot be
  // written while the store is down: the action fails, is counted, and is tried again.
  auto during = post_event(event_body("media-in", "uploads/during.mp4", "0123456789abcdef0123456789abcdef"));
  ASSERT_TRUE(during);
  EXPECT_EQ(during->status, 200) << during->body;
  EXPECT_EQ(svc_->sql("SELECT outcome FROM kiln_ingest_ledger WHERE key = 'uploads/during.mp4'"), "refused");
  ASSERT_TRUE(eventually([&] { return svc_->metric("kiln_ingest_actions_total", "outcome=\"error\"") >= 1; }, 60s));
  EXPECT_NE(svc_->log("coordinator").find(" failed: PUT s3://media-in/errors/"), std::string::npos);
  s3rver_->restart();  // same port, same data
  std::string e2 = put("uploads/after.mp4", "2");
  ASSERT_TRUE(eventually([&] { return ledger("key = 'uploads/after.mp4' AND trigger = 'poll'") == 1; }, 60s));
  EXPECT_NE(svc_->log("coordinator").find("works again"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return bucket_->head("errors/during.mp4.txt").is_ok(); }, 90s)) << "the report, late";
  EXPECT_NE(bucket_->get("errors/during.mp4.txt").value_or("").find("output_exists"), std::string::npos);
  EXPECT_EQ(ledger("true"), 3);
  EXPECT_EQ(jobs_for("inbox", "uploads/before.mp4"), 1u);
  EXPECT_EQ(jobs_for("inbox", "uploads/after.mp4"), 1u);
}

// End to end, as the seeds' pipeline runs without glue: a video uploaded into the input bucket
// -> s3rver's event -> the coordinator's rule makes a job -> a node transcodes it into the
// output bucket -> hls.js and dash.js in Chromium play every rendition straight from the bucket
// (another origin than the page: the bucket's CORS rules, see launch.js) -> a webhook receiver
// gets `complete` with the s3:// URLs.
TEST_F(IngestTest, AnUploadBecomesALadderInTheOutputBucketThatPlaysFromThereAndIsAnnounced) {
  const fs::path play = fs::path(KILN_SOURCE_DIR) / "tests/browser/play.mjs";
  if (!fs::exists(fs::path(KILN_SOURCE_DIR) / "tests/browser/node_modules/playwright-core"))
    GTEST_SKIP() << "playwright-core is not installed in tests/browser (scripts/install-deps --test)";
  if (!fs::exists(std::getenv("CHROMIUM") ? std::getenv("CHROMIUM") : "/usr/bin/chromium"))
    GTEST_SKIP() << "no Chromium (apt install chromium)";
  START_S3RVER(true);
  WebhookReceiver hook;

  const std::string outbox = "[[location]]\nname = \"outbox\"\nurl = \"s3://other-bucket/ladders/\"\nendpoint = \"" +
                             s3rver_->endpoint() + "\"\n";
  svc_->start_coordinator(s3_config("ladder = \"360p,240p\"\n", "outbox:{stem}") + outbox +
                          "[[receiver]]\nname = \"app\"\ntype = \"webhook\"\nurl = \"" + hook.url() +
                          "\"\nevents = [\"complete\"]\n");
  S3rver::write_notify_config(tmp_ / "notify.json", "http://127.0.0.1:" + std::to_string(svc_->port()) +
                                                        "/v1/ingest/s3-events", ingest_token());
  svc_->start_node("n1", "[[location]]\nname = \"inbox\"\nurl = \"s3://media-in/\"\nendpoint = \"" +
                             s3rver_->endpoint() + "\"\n" + outbox);
  auto up = bucket_->upload_file(media("480p.mp4").string(), "uploads/show.mp4");
  ASSERT_TRUE(up) << up.status().message();

  ASSERT_TRUE(eventually([&] { return ledger("key = 'uploads/show.mp4' AND trigger = 'event'") == 1; }, 30s))
      << s3rver_->log();
  ASSERT_EQ(jobs_for("inbox", "uploads/show.mp4"), 1u);
  nlohmann::json announced;
  ASSERT_TRUE(eventually([&] {
    for (const auto& b : hook.bodies())
      if (b.value("kind", "") == "complete") announced = b;
    return !announced.is_null();
  }, 120s)) << svc_->sql("SELECT string_agg(id || ' ' || state, '; ') FROM kiln_jobs");
  // The event's detail is the job's result.json, as MediaConvert's state-change event.
  const auto& result = announced["detail"]["detail"];
  ASSERT_TRUE(result.is_object()) << announced.dump(2);
  const auto& group = result["outputGroupDetails"][0];
  EXPECT_EQ(group["outputDirectory"], "s3://other-bucket/ladders/show") << announced.dump(2);
  EXPECT_EQ(group["playlistFilePaths"][0], "s3://other-bucket/ladders/show/master.m3u8");
  EXPECT_EQ(result["inputDetails"][0]["uri"], "s3://media-in/uploads/show.mp4");

  // The players, from the bucket: the page's origin is play.mjs's own server.
  const std::string command =
      "node " + play.string() + " --url " + s3rver_->endpoint() + "/other-bucket/ladders/show 2>&1";
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  // Two renditions in hls.js and two in dash.js.
  EXPECT_NE(out.find("browser: 4 passed, 0 failed"), std::string::npos) << out;
}

/// A folder rule on the test's `work` location, a node to run its jobs.
class FolderIngest : public IngestTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string folder_config(const std::string& watch, double stable_seconds) const {
    return "[[watch]]\nname = \"hot\"\nlocation = \"work\"\nprefix = \"incoming/\"\nsuffixes = [\".mp4\"]\n"
           "watch = \"" + watch + "\"\npoll_seconds = 0.2\nstable_seconds = " + std::to_string(stable_seconds) +
           "\noutput = \"work:out/{stem}\"\nladder = \"480p\"\nmetadata = { source = \"{key}\", team = \"news\" }\n"
           "on_complete = \"move\"\nmove_to = \"done/\"\nerrors_prefix = \"errors/\"\n";
  }
};

TEST_P(FolderIngest, AFileWrittenInPiecesStartsOneJobOnlyOnceCompleteAndStable) {
  const std::string mode = GetParam();
  fs::create_directories(tmp_ / "incoming");
  svc_->start_coordinator(folder_config(mode, 3));
  const bool inotify = mode == "inotify";
  if (inotify) svc_->start_node("n1");
  const std::string video = read_file(media("odd.mp4"));
  ASSERT_GT(video.size(), 5000u);
  fs::path file = tmp_ / "incoming" / "odd.mp4";
  const size_t pieces = 5, piece = video.size() / pieces + 1;
  for (size_t i = 0; i < pieces; ++i) {
    // The writer pauses after each piece until the watcher has seen it (its change counter),
    // far less than stable_seconds: the file must not be taken while it grows.
    double seen = svc_->metric("kiln_ingest_watch_changes_total", "rule=\"hot\"");
    {
      std::ofstream out(file, std::ios::binary | std::ios::app);
      out << video.substr(i * piece, piece);
    }
    ASSERT_TRUE(eventually([&] { return svc_->metric("kiln_ingest_watch_changes_total", "rule=\"hot\"") > seen; }, 20s))
        << "piece " << i;
    EXPECT_EQ(ledger("rule = 'hot'"), 0) << "taken after piece " << i << " of " << pieces;
  }
  ASSERT_EQ(fs::file_size(file), video.size());
  ASSERT_TRUE(eventually([&] { return ledger("rule = 'hot'") == 1; }, 30s));
  EXPECT_EQ(ledger("rule = 'hot' AND key = 'incoming/odd.mp4' AND size = " + std::to_string(video.size()) +
                   " AND trigger = 'watch' AND outcome = 'job'"), 1)
      << "the job is for the whole file";
  EXPECT_EQ(svc_->metric("kiln_ingest_watch_fallbacks_total", "rule=\"hot\""), 0) << "polling was asked for, not fallen back to";
  auto jobs = svc_->get("/v1/jobs?inputLocation=work&inputKey=incoming/odd.mp4");
  ASSERT_EQ(jobs["jobs"].size(), 1u) << jobs.dump();
  const auto& job = jobs["jobs"][0];
  EXPECT_EQ(job["spec"]["metadata"]["source"], "incoming/odd.mp4");
  EXPECT_EQ(job["spec"]["ladder"], "480p");
  auto by_meta = svc_->get("/v1/jobs?metadataKey=source&metadataValue=incoming/odd.mp4");
  ASSERT_EQ(by_meta["jobs"].size(), 1u);
  if (!inotify) return;  // the job itself is the same either way: run it once

  const int64_t id = job["id"];
  ASSERT_TRUE(eventually([&] { return svc_->get("/v1/jobs/" + std::to_string(id))["state"] == "completed"; }, 180s))
      << svc_->get("/v1/jobs/" + std::to_string(id)).dump(2);
  EXPECT_TRUE(fs::exists(tmp_ / "out" / "odd" / "master.m3u8"));
  // on_complete = "move": the upload goes to done/ once its job completed.
  ASSERT_TRUE(eventually([&] { return fs::exists(tmp_ / "done" / "odd.mp4"); }, 30s));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(fs::file_size(tmp_ / "done" / "odd.mp4"), video.size());
  EXPECT_EQ(ledger("rule = 'hot'"), 1) << "the move made no new upload";
  EXPECT_GE(svc_->metric("kiln_ingest_actions_total", "on=\"complete\",outcome=\"ok\""), 1);
}

INSTANTIATE_TEST_SUITE_P(Modes, FolderIngest, ::testing::Values("inotify", "poll"));

TEST_F(IngestTest, BadInputIsDiscardedWithTheReasonReportedAndNothingPublished) {
  fs::create_directories(tmp_ / "incoming");
  svc_->start_coordinator("[[watch]]\nname = \"hot\"\nlocation = \"work\"\nprefix = \"incoming/\"\n"
                          "suffixes = [\".mp4\"]\nstable_seconds = 0.5\npoll_seconds = 0.2\n"
                          "output = \"work:out/{stem}\"\nerrors_prefix = \"errors/\"\n"
                          "on_complete = \"move\"\nmove_to = \"done/\"\n");
  svc_->start_node("n1");
  std::ofstream(tmp_ / "incoming" / "text.mp4") << "this is a text file with an .mp4 name\n";
  std::ofstream(tmp_ / "incoming" / "empty.mp4");
  struct Want {
    const char* name;
    const char* code;
  } wants[] = {{"text", "input_not_media"}, {"empty", "input_empty"}};
  for (const auto& w : wants) {
    const std::string key = std::string("incoming/") + w.name + ".mp4";
    ASSERT_TRUE(eventually([&] { return jobs_for("work", key) == 1; }, 30s)) << key;
    auto job = svc_->get("/v1/jobs?inputLocation=work&inputKey=" + key)["jobs"][0];
    const std::string id = std::to_string(job["id"].get<int64_t>());
    ASSERT_TRUE(eventually([&] { return svc_->get("/v1/jobs/" + id)["state"] == "discarded"; }, 90s))
        << svc_->get("/v1/jobs/" + id).dump(2);
    auto done = svc_->get("/v1/jobs/" + id);
    EXPECT_EQ(done["status"], "ERROR");
    EXPECT_EQ(done["errors"].back()["error"]["code"], w.code) << done.dump(2);
    fs::path report = tmp_ / "errors" / (std::string(w.name) + ".mp4.txt");
    ASSERT_TRUE(eventually([&] { return fs::exists(report); }, 30s)) << report;
    std::string text = read_file(report);
    EXPECT_NE(text.find(std::string("reason: ") + w.code), std::string::npos) << text;
    EXPECT_NE(text.find("job:    " + id), std::string::npos) << text;
    EXPECT_FALSE(fs::exists(tmp_ / "out" / w.name)) << "nothing is published";
    EXPECT_TRUE(fs::exists(tmp_ / "incoming" / (std::string(w.name) + ".mp4"))) << "a failed upload is not moved";
  }
  EXPECT_GE(svc_->metric("kiln_ingest_actions_total", "on=\"failed\",outcome=\"ok\""), 2);
}

TEST_F(IngestTest, JobsFilterByInputAndMetadata) {
  svc_->start_coordinator();
  auto c = svc_->client();
  auto submit = [&](const std::string& input, const std::string& out, const nlohmann::json& meta) {
    auto r = c.Post("/v1/jobs", svc_->auth(), nlohmann::json{{"input", input}, {"output", out}, {"metadata", meta}}.dump(),
                    "application/json");
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no answer");
    return r ? nlohmann::json::parse(r->body)["id"].get<int64_t>() : 0;
  };
  int64_t a = submit("media:odd.mp4", "work:o1", {{"asset", "A1"}, {"team", "news"}});
  int64_t b = submit(media("odd.mp4").string(), "work:o2", {{"asset", "A2"}, {"team", "news"}});  // same input, a path
  int64_t x = submit("media:1080p.mp4", "work:o3", {{"asset", "A3"}, {"team", "sport"}});
  auto ids = [&](const std::string& query) {
    std::vector<int64_t> out;
    auto j = svc_->get("/v1/jobs?" + query);
    for (const auto& job : j["jobs"]) out.push_back(job["id"]);
    return out;
  };
  EXPECT_EQ(ids("inputLocation=media&inputKey=odd.mp4"), (std::vector<int64_t>{a, b}));
  EXPECT_EQ(ids("inputLocation=media"), (std::vector<int64_t>{a, b, x}));
  EXPECT_EQ(ids("inputLocation=work"), (std::vector<int64_t>{}));
  EXPECT_EQ(ids("metadataKey=team&metadataValue=news"), (std::vector<int64_t>{a, b}));
  EXPECT_EQ(ids("metadataKey=asset&metadataValue=A3&inputLocation=media"), (std::vector<int64_t>{x}));
  EXPECT_EQ(ids("metadataKey=team&metadataValue=news&limit=1&cursor=" + std::to_string(a)), (std::vector<int64_t>{b}));
  EXPECT_EQ(c.Get("/v1/jobs?inputKey=odd.mp4", svc_->auth())->status, 400);
  EXPECT_EQ(c.Get("/v1/jobs?metadataKey=team", svc_->auth())->status, 400);
  EXPECT_EQ(c.Get("/v1/jobs?metadataValue=news", svc_->auth())->status, 400);
  EXPECT_EQ(svc_->count("SELECT count(*) FROM pg_indexes WHERE indexname IN ('kiln_jobs_input', 'kiln_jobs_metadata')"), 2);
}

}  // namespace
}  // namespace kiln::test
