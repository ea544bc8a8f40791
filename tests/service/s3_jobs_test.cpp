// Jobs whose input and output are in buckets, through the real processes: a coordinator and a
// node on a throwaway PostgreSQL database, a real S3 server on loopback (s3rver; see
// tests/storage/s3rver/launch.js for its differences from AWS) behind a TCP proxy that stalls
// uploads, so the server can be killed mid-upload and a lease lost mid-publish. Every wait has
// a deadline; none is a bare sleep.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/ladder_check.hpp"
#include "support/run.hpp"
#include "support/s3_ladder.hpp"
#include "support/s3rver.hpp"
#include "support/tcp_proxy.hpp"

namespace kiln::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using storage::s3::S3Client;

std::string cluster_url() { return read_pg_url(KILN_PG_DIR); }

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

class S3Jobs : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!S3rver::available(&why)) GTEST_SKIP() << why;
    server_ = std::make_unique<S3rver>(tmp_ / "s3", std::vector<std::string>{"media-in", "media-out"});
    proxy_ = std::make_unique<TcpProxy>(server_->port());
    in_ = s3_client(server_->endpoint(), "media-in");
    out_ = s3_client(server_->endpoint(), "media-out");
    // The daemons (and their workers) find credentials as an operator's would: the environment,
    // and for location "locked" a profile whose secret is wrong.
    std::ofstream(tmp_ / "credentials") << "[locked]\naws_access_key_id = " << S3rver::kAccessKey
                                        << "\naws_secret_access_key = not-the-secret\n";
    for (const char* v : {"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                          "CREDENTIALS_DIRECTORY"})
      ::unsetenv(v);
    ::setenv("AWS_ACCESS_KEY_ID", S3rver::kAccessKey, 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", S3rver::kSecret, 1);
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (tmp_ / "credentials").c_str(), 1);
    std::random_device rd;
    db_name_ = "kiln_s3_" + std::to_string(rd()) + std::to_string(rd());
    admin("CREATE DATABASE " + db_name_);
    url_ = cluster_url();
    url_ = url_.substr(0, url_.rfind('/') + 1) + db_name_;
    deadline_ = std::make_unique<TestDeadline>(std::chrono::seconds(270), [this] { print_service_logs(tmp_.path()); });
    fs::create_directories(scratch_);
  }
  void TearDown() override {
    for (int pid : pids_) {
      kill(pid, SIGKILL);
      wait_exit(pid);
    }
    if (HasFailure()) print_service_logs(tmp_.path());
    for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SHARED_CREDENTIALS_FILE"}) ::unsetenv(v);
    if (db_name_.empty()) return;
    try {
      admin("DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
    } catch (...) {
    }
  }
  static void admin(const std::string& q) {
    pqxx::connection c(cluster_url());
    pqxx::nontransaction tx(c);
    tx.exec(q);
  }
  void sql(const std::string& q) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec(q);
  }

  /// The test's file locations and three in buckets, all reached through the proxy.
  std::string locations() const {
    const std::string endpoint = "http://127.0.0.1:" + std::to_string(proxy_->port());
    return test_locations(tmp_.path()) +
           "[[location]]\nname = \"in\"\nurl = \"s3://media-in/uploads/\"\nendpoint = \"" + endpoint + "\"\n" +
           "[[location]]\nname = \"out\"\nurl = \"s3://media-out/ladders/\"\nendpoint = \"" + endpoint +
           "\"\npresign_seconds = 600\n" +
           "[[location]]\nname = \"locked\"\nurl = \"s3://media-in/locked/\"\nendpoint = \"" + endpoint +
           "\"\nprofile = \"locked\"\n" +
           "[[location]]\nname = \"big\"\nurl = \"s3://media-in/big/\"\nendpoint = \"" + endpoint +
           "\"\nstream_input = \"always\"\n";
  }

  void start_coordinator() {
    fs::path cfg = tmp_ / "coordinator.toml";
    std::ofstream(cfg) << locations() << "[database]\nurl = \"" << url_ << "\"\n[api]\nlisten = \"127.0.0.1:0\"\n"
                       << "rate_per_second = 0\n[chores]\nreap_interval_seconds = 0.5\nnode_timeout_seconds = 3\n"
                       << "retry_base_seconds = 1\ndelivery_interval_seconds = 0.2\n";
    fs::path logs = tmp_ / "coordinator";
    fs::create_directories(logs);
    pids_.push_back(spawn_kiln({"coordinator", "--config", cfg.string()}, logs));
    ASSERT_TRUE(eventually([&] { return read_file(logs / "stdout").find("listening on") != std::string::npos; }, 20s))
        << read_file(logs / "stderr");
    std::string out = read_file(logs / "stdout");
    port_ = std::stoi(out.substr(out.rfind(':') + 1));
    RunResult t = run_kiln({"token", "create", "--scope", "admin", "--database", url_});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    token_ = t.out.substr(0, t.out.find('\n'));
  }

  void start_node(double retry_base_seconds = 1, int metrics_port = 0) {
    fs::path cfg = tmp_ / "n1.toml";
    std::ofstream(cfg) << locations() << "[database]\nurl = \"" << url_ << "\"\n[node]\nname = \"n1\"\nmax_jobs = 1\n"
                       << "software_slots = 1\nlease_seconds = 3\nheartbeat_seconds = 0.5\nretry_base_seconds = "
                       << retry_base_seconds << "\ndrain_seconds = 30\ncapacity_file = \""
                       << (tmp_ / "capacity.json").string() << "\"\nscratch_dir = \"" << scratch_.string() << "\"\n"
                       << (metrics_port ? "metrics_listen = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n" : "");
    fs::path logs = tmp_ / "n1";
    fs::create_directories(logs);
    pids_.push_back(spawn_kiln({"node", "--config", cfg.string()}, logs));
    ASSERT_TRUE(eventually([&] { return read_file(logs / "stdout").find("ready") != std::string::npos; }, 20s))
        << read_file(logs / "stderr");
  }
  std::string node_log() const { return read_file(tmp_ / "n1" / "stderr"); }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30);
    return c;
  }
  httplib::Headers auth() const { return {{"Authorization", "Bearer " + token_}}; }
  httplib::Result post_job(const std::string& input, const std::string& output, nlohmann::json extra = {}) {
    if (extra.is_null()) extra = nlohmann::json::object();
    extra["input"] = input;
    extra["output"] = output;
    return client().Post("/v1/jobs", auth(), extra.dump(), "application/json");
  }
  int64_t submit(const std::string& input, const std::string& output, nlohmann::json extra = {}) {
    auto r = post_job(input, output, std::move(extra));
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no answer");
    return r && r->status == 201 ? nlohmann::json::parse(r->body)["id"].get<int64_t>() : 0;
  }
  nlohmann::json job(int64_t id) {
    auto r = client().Get(("/v1/jobs/" + std::to_string(id)).c_str(), auth());
    return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json();
  }
  bool state_is(int64_t id, const std::string& state) {
    auto j = job(id);
    return !j.is_null() && j["state"] == state;
  }
  void upload_input(const std::string& key) {
    auto up = in_->upload_file(media("480p.mp4").string(), key);
    ASSERT_TRUE(up) << up.status().message();
  }
  std::vector<std::string> out_keys(const std::string& output) const { return s3_keys(*out_, "ladders/" + output + "/"); }
  std::vector<std::string> scratch_left() const {
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(scratch_)) left.push_back(e.path().filename().string());
    return left;
  }
  /// The ladder at ladders/NAME/ passes the checks of a local one, its media under `folder`.
  void check_published(const std::string& name, const std::string& folder) {
    EXPECT_TRUE(s3_missing_references(*out_, "ladders/" + name + "/").empty());
    const fs::path local = tmp_ / "copies" / (name + "-" + folder);
    s3_download_prefix(*out_, "ladders/" + name + "/", local);
    LadderExpectation e{{{"480p", 854, 480}}, true, 3.0, 1 / 30.0};
    e.media_prefix = folder + "/";
    check_ladder(local, e);
    for (const auto& k : out_keys(name))
      EXPECT_TRUE(k.rfind(folder + "/", 0) == 0 || k == "master.m3u8" || k == "manifest.mpd" || k == "result.json")
          << "an object of another attempt: " << k;
  }

  TempDir tmp_;
  fs::path scratch_ = tmp_ / "scratch";
  std::unique_ptr<S3rver> server_;
  std::unique_ptr<TcpProxy> proxy_;
  std::unique_ptr<S3Client> in_, out_;
  std::unique_ptr<TestDeadline> deadline_;
  std::string db_name_, url_, token_;
  int port_ = 0;
  std::vector<int> pids_;
};

TEST_F(S3Jobs, ABucketToBucketJobCompletesWithS3UrlsAndNoOtherJobMayTakeItsOutput) {
  upload_input("uploads/clip.mp4");
  start_coordinator();
  start_node();
  int64_t id = submit("in:clip.mp4", "out:clip/");
  ASSERT_TRUE(eventually([&] { return state_is(id, "completed"); }, 120s)) << job(id).dump(2);
  auto j = job(id);
  EXPECT_EQ(j["spec"]["input"], "s3://media-in/uploads/clip.mp4") << "the row names the canonical URL";
  EXPECT_EQ(j["spec"]["output"], "s3://media-out/ladders/clip");
  EXPECT_EQ(j["attempt"], 1);
  const auto& group = j["output"]["detail"]["outputGroupDetails"][0];
  EXPECT_EQ(group["outputDirectory"], "s3://media-out/ladders/clip");
  EXPECT_EQ(group["playlistFilePaths"][0], "s3://media-out/ladders/clip/master.m3u8");
  EXPECT_EQ(group["outputDetails"][0]["outputFilePaths"][0], "s3://media-out/ladders/clip/a1/480p/playlist.m3u8");
  EXPECT_EQ(j["output"]["detail"]["inputDetails"][0]["uri"], "s3://media-in/uploads/clip.mp4");
  ASSERT_TRUE(group.contains("playbackUrls")) << group.dump(2);
  EXPECT_NE(group["playbackUrls"]["hls"].get<std::string>().find("/media-out/ladders/clip/master.m3u8?"),
            std::string::npos);
  check_published("clip", "a1");
  auto published = nlohmann::json::parse(out_->get("ladders/clip/result.json").value_or("{}"));
  EXPECT_EQ(published["kilnJob"]["id"], id);
  EXPECT_TRUE(scratch_left().empty()) << scratch_left().front();

  // Its output is taken: a new job may not publish there, nor outside the locations.
  auto taken = post_job("in:clip.mp4", "s3://media-out/ladders/clip/");
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->status, 400);
  EXPECT_NE(taken->body.find("output_exists"), std::string::npos) << taken->body;
  for (auto [in, out] : std::vector<std::pair<std::string, std::string>>{
           {"in:clip.mp4", "s3://media-out/elsewhere/clip"},
           {"s3://media-in/uploads/../locked/clip.mp4", "out:x"},
           {"in:clip.mp4", "out:"},
       }) {
    auto r = post_job(in, out);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << in << " -> " << out;
    EXPECT_NE(r->body.find("path_not_allowed"), std::string::npos) << r->body;
  }
}

// An input from a location with stream_input = "always" is read by the node's worker through a
// presigned URL, never staged, and the node says so where an operator looks: its log and its
// /metrics (the worker's counter forwarded). The signed input URL is in neither, nor in the row.
TEST_F(S3Jobs, AnInputFromAStreamingLocationIsReadInPlaceLoggedAndCounted) {
  upload_input("big/clip.mp4");
  start_coordinator();
  const int metrics_port = free_port();
  start_node(1, metrics_port);
  int64_t id = submit("big:clip.mp4", "out:big-clip/");
  ASSERT_TRUE(eventually([&] { return state_is(id, "completed"); }, 120s)) << job(id).dump(2);
  EXPECT_NE(node_log().find("streaming input s3://media-in/big/clip.mp4 (1.3 MiB) through a presigned URL, not staged"),
            std::string::npos) << node_log();
  EXPECT_EQ(node_log().find("staging input"), std::string::npos) << node_log();
  EXPECT_EQ(node_log().find("X-Amz-Signature"), std::string::npos) << node_log();
  EXPECT_EQ(job(id).dump().find("media-in/big/clip.mp4?"), std::string::npos) << job(id).dump(2);
  EXPECT_EQ(job(id)["output"]["detail"]["inputDetails"][0]["uri"], "s3://media-in/big/clip.mp4");
  httplib::Client m("127.0.0.1", metrics_port);
  auto scraped = m.Get("/metrics");
  ASSERT_TRUE(scraped);
  EXPECT_NE(scraped->body.find("kiln_inputs_streamed_total{reason=\"always\"} 1"), std::string::npos) << scraped->body;
  check_published("big-clip", "a1");
  EXPECT_TRUE(scratch_left().empty()) << scratch_left().front();
}

// The store dies while the attempt uploads: the attempt fails (storage_unreachable), is retried
// once the store is back, and the final output is whole with nothing of the failed attempt.
TEST_F(S3Jobs, TheStoreKilledMidUploadFailsTheAttemptAndTheRetryLeavesNoOrphans) {
  upload_input("uploads/clip.mp4");
  start_coordinator();
  const int metrics_port = free_port();
  start_node(/*retry_base_seconds=*/3, metrics_port);  // the retry waits at least 3 s: time to restart the store
  // Client-to-server bytes: requests to stage the input are a few hundred bytes each; the
  // ladder's upload passes this mid-segment.
  proxy_->hold_uploads_after(200 * 1000);
  int64_t id = submit("in:clip.mp4", "out:clip", {{"maxAttempts", 3}});
  ASSERT_TRUE(eventually([&] { return proxy_->holding(); }, 120s)) << job(id).dump(2);
  server_->kill();
  proxy_->release();
  ASSERT_TRUE(eventually([&] { auto j = job(id); return !j.is_null() && !j["errors"].empty(); }, 60s))
      << job(id).dump(2);
  server_->restart();
  ASSERT_TRUE(eventually([&] { return state_is(id, "completed"); }, 150s)) << job(id).dump(2);
  auto j = job(id);
  ASSERT_GE(j["attempt"].get<int>(), 2);
  EXPECT_EQ(j["errors"][0]["attempt"], 1);
  EXPECT_EQ(j["errors"][0]["error"]["code"], "storage_unreachable") << j.dump(2);
  // The first attempt had stored objects it could not delete with the store down: logged at
  // warn, and counted where an operator sees it (the worker's counters reach the node's /metrics)...
  EXPECT_NE(node_log().find("could not be deleted"), std::string::npos) << node_log();
  httplib::Client m("127.0.0.1", metrics_port);
  auto scraped = m.Get("/metrics");
  ASSERT_TRUE(scraped);
  EXPECT_NE(scraped->body.find("kiln_s3_cleanup_failures_total{when=\"failed_publish\"} "), std::string::npos)
      << scraped->body;
  EXPECT_NE(scraped->body.find("kiln_s3_retries_total{reason=\"connection\"}"), std::string::npos) << scraped->body;
  // ...and the publish that completed the job deleted them.
  check_published("clip", "a" + std::to_string(j["attempt"].get<int>()));
  EXPECT_TRUE(scratch_left().empty()) << scratch_left().front();
}

// The lease passes to another attempt while this one uploads: it stops, publishes nothing a
// reader could see (no manifest at any moment), deletes what it uploaded, and a later attempt
// completes the job.
TEST_F(S3Jobs, ALeaseLostMidUploadPublishesNothingAndALaterAttemptCompletes) {
  upload_input("uploads/clip.mp4");
  start_coordinator();
  start_node();
  proxy_->hold_uploads_after(200 * 1000);
  int64_t id = submit("in:clip.mp4", "out:clip", {{"maxAttempts", 5}});
  ASSERT_TRUE(eventually([&] { return proxy_->holding(); }, 120s)) << job(id).dump(2);
  // Another node's claim, as the database sees it: a new attempt holds the job (its lease runs
  // out soon after, and the reaper hands the job on).
  sql("UPDATE kiln_jobs SET attempt = attempt + 1, lease_expires_at = now() + interval '2 seconds' WHERE id = " +
      std::to_string(id) + " AND state = 'running'");
  std::atomic<bool> watching{true};
  std::atomic<int> manifests_seen{0};
  std::thread reader([&] {  // a player polling for the manifests the whole time
    auto reader_client = s3_client(server_->endpoint(), "media-out");
    while (watching) {
      auto master = reader_client->get("ladders/clip/master.m3u8");
      if (master && master->find("a1/") != std::string::npos) ++manifests_seen;
      std::this_thread::sleep_for(50ms);  // a polling interval, not a synchronisation
    }
  });
  proxy_->release();
  ASSERT_TRUE(eventually([&] { return node_log().find("lease lost; stopped, nothing published") != std::string::npos; },
                         60s))
      << node_log();
  // The attempt's worker has gone, and took what it had uploaded with it (a later attempt writes
  // under its own folder, never a1/).
  for (const auto& k : out_keys("clip")) EXPECT_NE(k.rfind("a1/", 0), 0u) << "left by the attempt that lost: " << k;
  ASSERT_TRUE(eventually([&] { return state_is(id, "completed"); }, 150s)) << job(id).dump(2);
  watching = false;
  reader.join();
  EXPECT_EQ(manifests_seen, 0) << "a manifest of the attempt that lost its lease was published";
  auto j = job(id);
  EXPECT_GE(j["attempt"].get<int>(), 3);
  check_published("clip", "a" + std::to_string(j["attempt"].get<int>()));
}

// Storage that refuses the node for good (here a wrong secret) is not retried: the job is
// discarded at once, with the reason, whatever its attempts left.
TEST_F(S3Jobs, StorageThatRefusesTheNodeForGoodIsDiscardedAtOnceWithTheReason) {
  upload_input("locked/clip.mp4");
  start_coordinator();
  start_node();
  int64_t id = submit("locked:clip.mp4", "out:locked-clip", {{"maxAttempts", 3}});
  ASSERT_TRUE(eventually([&] { return state_is(id, "discarded"); }, 60s)) << job(id).dump(2);
  auto j = job(id);
  EXPECT_EQ(j["attempt"], 1);
  const auto& error = j["errors"][0]["error"];
  EXPECT_EQ(error["code"], "storage_bad_secret") << j.dump(2);
  EXPECT_NE(error["message"].get<std::string>().find("S3RVER"), std::string::npos) << "names the key id";
  EXPECT_EQ(error["message"].get<std::string>().find("not-the-secret"), std::string::npos) << "never the secret";
  EXPECT_TRUE(out_keys("locked-clip").empty());
  EXPECT_TRUE(scratch_left().empty());
}

// Rows written into the database by other means are held to the node's own locations, and an
// output in a bucket holding another job's ladder is not replaced.
TEST_F(S3Jobs, RowsWrittenStraightIntoTheDatabaseAreHeldToTheNodesLocations) {
  upload_input("uploads/clip.mp4");
  ASSERT_TRUE(out_->put("ladders/theirs/result.json", R"({"kilnJob": {"id": 999999, "attempt": 1}})"));
  start_coordinator();
  struct Row {
    std::string input, output, code, why;
  };
  const std::vector<Row> rows = {
      {"s3://media-in/elsewhere/clip.mp4", "s3://media-out/ladders/a", "path_not_allowed", "outside every storage location"},
      {"s3://media-in/uploads/../locked/clip.mp4", "s3://media-out/ladders/b", "path_not_allowed", "'..'"},
      {"s3://media-in/uploads/sub/clip.mp4", "s3://media-in/uploads/sub", "path_not_allowed", "contains the input"},
      {"s3://media-in/uploads/clip.mp4", "s3://media-out/ladders/theirs", "output_exists", "job 999999"},
      {"s3://media-in/uploads/none.mp4", "s3://media-out/ladders/c", "input_missing", "does not exist"},
  };
  std::vector<int64_t> ids;
  {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    for (const auto& r : rows) {
      nlohmann::json spec = {{"input", r.input}, {"output", r.output}, {"ladder", "240p"}, {"backend", "auto"}, {"device", ""}};
      ids.push_back(tx.exec_params1("INSERT INTO kiln_jobs (spec) VALUES ($1::jsonb) RETURNING id", spec.dump())[0].as<int64_t>());
    }
    tx.commit();
  }
  start_node();
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(rows[i].input + " -> " + rows[i].output);
    ASSERT_TRUE(eventually([&] { return state_is(ids[i], "discarded"); }, 60s)) << job(ids[i]).dump();
    auto j = job(ids[i]);
    EXPECT_EQ(j["attempt"], 1);
    const auto& error = j["errors"].back()["error"];
    EXPECT_EQ(error["code"], rows[i].code) << j.dump();
    EXPECT_NE(error.value("message", "").find(rows[i].why), std::string::npos) << j.dump();
  }
  EXPECT_EQ(out_->get("ladders/theirs/result.json").value_or(""), R"({"kilnJob": {"id": 999999, "attempt": 1}})");
  EXPECT_EQ(s3_keys(*out_, "ladders/"), std::vector<std::string>{"theirs/result.json"});
  EXPECT_EQ(s3_keys(*in_, "").size(), 1u) << "nothing written to the input bucket";
}

// A publish whose completion never reached the database: the next attempt finds the job's
// result.json in the bucket and completes with it, without a worker.
TEST_F(S3Jobs, ALostCompletionCompletesFromTheResultJsonInTheBucket) {
  upload_input("uploads/clip.mp4");
  start_coordinator();
  start_node();
  int64_t id = submit("in:clip.mp4", "out:clip");
  ASSERT_TRUE(eventually([&] { return state_is(id, "completed"); }, 120s)) << job(id).dump(2);
  const std::string published = out_->get("ladders/clip/result.json").value_or("");
  const auto before = out_keys("clip");
  const size_t workers_before = occurrences(node_log(), "job " + std::to_string(id) + " worker");
  ASSERT_GT(workers_before, 0u) << node_log();
  sql("UPDATE kiln_jobs SET state = 'available', scheduled_at = now(), finalized_at = NULL, output = NULL "
      "WHERE id = " + std::to_string(id));
  ASSERT_TRUE(eventually([&] {
    auto j = job(id);
    return j["state"] == "completed" && j["attempt"] == 2;
  }, 60s)) << job(id).dump(2);
  EXPECT_EQ(occurrences(node_log(), "already published"), 1u) << node_log();
  EXPECT_EQ(occurrences(node_log(), "job " + std::to_string(id) + " worker"), workers_before) << "no second worker";
  EXPECT_EQ(job(id)["output"], nlohmann::json::parse(published));
  EXPECT_EQ(out_->get("ladders/clip/result.json").value_or(""), published) << "the output was written again";
  EXPECT_EQ(out_keys("clip"), before);
}

}  // namespace
}  // namespace kiln::test
