// Faults a node must ride out, through the real processes: PostgreSQL stopped mid-job (shorter
// and longer than the lease), a cancel while the job's node is dead, a SIGTERM drain of jobs
// with maxAttempts 1, a node stopped on purpose and removed. Every wait has a deadline.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/ladder_check.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string cluster_url() { return read_pg_url(KILN_PG_DIR); }

bool alive(int pid) { return waitpid(pid, nullptr, WNOHANG) == 0; }

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

/// How long the short outage lasts: KILN_TEST_OUTAGE_SECONDS, default 30 (sixty heartbeats of
/// 0.5 s, inside the 45 s lease).
std::chrono::seconds short_outage() {
  const char* env = std::getenv("KILN_TEST_OUTAGE_SECONDS");
  return std::chrono::seconds(env ? std::atoi(env) : 30);
}

class Outage : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    db_name_ = "kiln_outage_" + std::to_string(rd()) + std::to_string(rd());
    admin("CREATE DATABASE " + db_name_);
    url_ = cluster_url();
    url_ = url_.substr(0, url_.rfind('/') + 1) + db_name_;
    deadline_ = std::make_unique<TestDeadline>(std::chrono::seconds(270), [this] { print_service_logs(tmp_.path()); });
  }
  void TearDown() override {
    if (pg_down_) pg("up");
    for (int pid : pids_) {
      kill(pid, SIGKILL);
      wait_exit(pid);
    }
    if (HasFailure())
      print_service_logs(tmp_.path());
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
  int64_t count(const std::string& q) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    return tx.exec(q)[0][0].as<int64_t>();
  }
  void pg(const std::string& what) {
    ASSERT_EQ(std::system(("'" KILN_PG_SCRIPT "' " + what + " '" KILN_PG_DIR "'").c_str()), 0) << what;
    pg_down_ = what == "down";
  }

  void start_coordinator() {
    fs::path cfg = tmp_ / "coordinator.toml";
    std::ofstream(cfg) << test_locations(tmp_.path()) << "[database]\nurl = \"" << url_ << "\"\n[api]\nlisten = \"127.0.0.1:0\"\nrate_per_second = 0\n"
                       << "[chores]\nreap_interval_seconds = 0.5\nnode_timeout_seconds = 3\nretry_base_seconds = 1\n"
                       << "delivery_interval_seconds = 0.2\n";
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

  int start_node(const std::string& name, int max_jobs, double lease, const std::string& extra = "") {
    fs::path cfg = tmp_ / (name + ".toml");
    std::ofstream(cfg) << test_locations(tmp_.path()) << "[database]\nurl = \"" << url_ << "\"\n[node]\nname = \"" << name << "\"\nmax_jobs = "
                       << max_jobs << "\nsoftware_slots = " << max_jobs << "\nlease_seconds = " << lease << "\nheartbeat_seconds = 0.5\n"
                       << "retry_base_seconds = 1\n" << extra;
    fs::path logs = tmp_ / name;
    fs::create_directories(logs);
    int pid = spawn_kiln({"node", "--config", cfg.string()}, logs);
    pids_.push_back(pid);
    EXPECT_TRUE(eventually([&] { return read_file(logs / "stdout").find("ready") != std::string::npos; }, 20s))
        << read_file(logs / "stderr");
    return pid;
  }
  std::string node_log(const std::string& name) { return read_file(tmp_ / name / "stderr"); }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30);
    return c;
  }
  httplib::Headers auth() const { return {{"Authorization", "Bearer " + token_}}; }
  int64_t submit(const std::string& input, const fs::path& out, int max_attempts = 5) {
    auto r = client().Post("/v1/jobs", auth(),
                           nlohmann::json{{"input", input}, {"output", out.string()}, {"maxAttempts", max_attempts},
                                          {"ladder", "480p"}}.dump(),  // one rung: fast
                           "application/json");
    EXPECT_TRUE(r && (r->status == 201 || r->status == 200)) << (r ? r->body : "no answer");
    return r ? nlohmann::json::parse(r->body).value("id", int64_t{0}) : 0;
  }
  nlohmann::json job(int64_t id) {
    auto r = client().Get(("/v1/jobs/" + std::to_string(id)).c_str(), auth());
    return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json();
  }
  bool state_is(int64_t id, const std::string& state) {
    auto j = job(id);
    return !j.is_null() && j["state"] == state;
  }
  int64_t events(int64_t id, const std::string& kind) {
    return count("SELECT count(*) FROM kiln_events WHERE job_id = " + std::to_string(id) + " AND kind = '" + kind + "'");
  }
  std::string metrics(int port) {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/metrics");
    if (!r) return "no answer: " + httplib::to_string(r.error());
    return r->status == 200 ? r->body : "HTTP " + std::to_string(r->status) + ": " + r->body;
  }
  int ready_status(int port) {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/readyz");
    return r ? r->status : 0;
  }

  TempDir tmp_;
  std::unique_ptr<TestDeadline> deadline_;  // under CTest's TIMEOUT of 300 s
  std::string db_name_, url_, token_;
  int port_ = 0;
  bool pg_down_ = false;
  std::vector<int> pids_;
};

// PostgreSQL stopped for many heartbeats (inside the lease) while three jobs run on two nodes:
// both nodes stay up and say so once, and every job completes exactly once, on its first
// attempt, with no error recorded.
TEST_F(Outage, ShortOutageThreeJobsTwoNodesEachCompletesOnceOnItsFirstAttempt) {
  start_coordinator();
  int metrics_port = free_port();
  // A 45 s lease around a 30 s outage: the margin covers stopping and starting PostgreSQL and
  // the reconnect backoff (capped at an eighth of the lease) on a loaded CI machine.
  int n1 = start_node("n1", 2, 45, "metrics_listen = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n");
  int n2 = start_node("n2", 1, 45);
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(submit(media("long.mp4").string(), tmp_ / ("out" + std::to_string(i))));
  ASSERT_TRUE(eventually([&] {
    for (auto id : ids)
      if (!state_is(id, "running")) return false;
    return true;
  }, 45s));
  pg("down");
  ASSERT_TRUE(eventually([&] { return ready_status(metrics_port) == 503; }, 15s));
  std::string during;
  EXPECT_TRUE(eventually([&] {
    during = metrics(metrics_port);
    return during.find("kiln_node_database_up 0") != std::string::npos;
  }, 5s)) << during.substr(0, 400);
  {  // The API says the database is away, and nothing of libpq's text, hosts or ports.
    auto r = client().Post("/v1/jobs", auth(),
                           nlohmann::json{{"input", media("long.mp4").string()}, {"output", (tmp_ / "during").string()},
                                          {"ladder", "480p"}}.dump(),
                           "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_TRUE(r->has_header("Retry-After"));
    EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["code"], "database_unavailable") << r->body;
    for (const char* leak : {"127.0.0.1", "connection to server", "FATAL", "port", "pqxx"})
      EXPECT_EQ(r->body.find(leak), std::string::npos) << leak << " in " << r->body;
  }
  std::this_thread::sleep_for(short_outage());  // the outage itself: what is under test
  EXPECT_TRUE(alive(n1));
  EXPECT_TRUE(alive(n2));
  pg("up");
  ASSERT_TRUE(eventually([&] { return ready_status(metrics_port) == 200; }, 30s));
  ASSERT_TRUE(eventually([&] {
    for (auto id : ids)
      if (!state_is(id, "completed")) return false;
    return true;
  }, 120s)) << job(ids[0]).dump(2);
  EXPECT_TRUE(alive(n1));
  EXPECT_TRUE(alive(n2));
  for (size_t i = 0; i < ids.size(); ++i) {
    auto j = job(ids[i]);
    EXPECT_EQ(j["attempt"], 1) << j.dump(2);
    EXPECT_TRUE(j["errors"].empty()) << j.dump(2);
    EXPECT_EQ(events(ids[i], "complete"), 1);
    EXPECT_EQ(events(ids[i], "error"), 0);
    check_ladder(tmp_ / ("out" + std::to_string(i)), {{{"480p", 854, 480}}, true, 20.0, 1 / 30.0});
  }
  for (const char* n : {"n1", "n2"}) {
    std::string log = node_log(n);
    EXPECT_EQ(occurrences(log, "database unreachable ("), 1u) << n << "\n" << log;
    EXPECT_EQ(occurrences(log, "database reachable again"), 1u) << n;
  }
  std::string m;
  EXPECT_TRUE(eventually([&] {
    m = metrics(metrics_port);
    return m.find("kiln_node_database_up 1") != std::string::npos;
  }, 10s)) << m.substr(0, 400);
  EXPECT_NE(m.find("kiln_node_database_outages_total 1"), std::string::npos) << m.substr(0, 400);
}

// Stopped for longer than the lease: the nodes stop their jobs and publish nothing; once the
// database is back the jobs run again and each output is published once, by the new attempt.
TEST_F(Outage, LongerThanTheLeaseJobsRerunAndTheFirstAttemptsPublishNothing) {
  start_coordinator();
  int n1 = start_node("n1", 1, 3);
  int n2 = start_node("n2", 1, 3);
  std::vector<int64_t> ids = {submit(media("long.mp4").string(), tmp_ / "a"),
                              submit(media("long.mp4").string(), tmp_ / "b")};
  ASSERT_TRUE(eventually([&] { return state_is(ids[0], "running") && state_is(ids[1], "running"); }, 45s));
  pg("down");
  // Both nodes see their leases run out (3 s) while the database is away, and stop.
  ASSERT_TRUE(eventually([&] {
    return node_log("n1").find("lease ran out") != std::string::npos &&
           node_log("n2").find("lease ran out") != std::string::npos;
  }, 30s)) << node_log("n1");
  EXPECT_FALSE(fs::exists(tmp_ / "a"));
  EXPECT_FALSE(fs::exists(tmp_ / "b"));
  EXPECT_TRUE(alive(n1));
  EXPECT_TRUE(alive(n2));
  pg("up");
  ASSERT_TRUE(eventually([&] { return state_is(ids[0], "completed") && state_is(ids[1], "completed"); }, 150s))
      << job(ids[0]).dump(2) << job(ids[1]).dump(2);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto j = job(ids[i]);
    EXPECT_GE(j["attempt"].get<int>(), 2) << j.dump(2);
    EXPECT_EQ(j["errors"][0]["error"]["code"], "lease_expired") << j.dump(2);
    EXPECT_EQ(events(ids[i], "complete"), 1);
    fs::path out = tmp_ / (i == 0 ? "a" : "b");
    auto marker = nlohmann::json::parse(read_file(out / "result.json"))["kilnJob"];
    EXPECT_EQ(marker["id"], ids[i]);
    EXPECT_EQ(marker["attempt"], j["attempt"]);  // published by the attempt that completed
  }
}

// A cancel accepted while the job's node is dead is honoured: cancelled, never retried.
TEST_F(Outage, ACancelWhileTheNodeIsDeadEndsCancelled) {
  start_coordinator();
  int n1 = start_node("n1", 1, 3);
  int64_t id = submit(media("long.mp4").string(), tmp_ / "never");
  ASSERT_TRUE(eventually([&] { return state_is(id, "running"); }, 60s));
  kill(n1, SIGKILL);
  wait_exit(n1);
  auto r = client().Post(("/v1/jobs/" + std::to_string(id) + "/cancel").c_str(), auth(), "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  start_node("n2", 1, 3);  // a live node must not pick it up again
  ASSERT_TRUE(eventually([&] { return state_is(id, "cancelled"); }, 30s)) << job(id).dump(2);
  auto j = job(id);
  EXPECT_EQ(j["attempt"], 1);
  EXPECT_TRUE(j["errors"].empty()) << j.dump(2);
  EXPECT_EQ(events(id, "error"), 0);
  EXPECT_FALSE(fs::exists(tmp_ / "never"));
}

// A rolling restart with maxAttempts 1: SIGTERM hands the job back (no attempt spent, no error,
// no alert), the node is 'stopped' (never 'lost'), another node completes the job, and the
// operator removes the stopped node's record.
TEST_F(Outage, DrainHandsJobsBackAndAStoppedNodeIsNotLost) {
  start_coordinator();
  int n1 = start_node("n1", 1, 3, "drain_seconds = 0.5\n");
  int64_t id = submit(media("long.mp4").string(), tmp_ / "drained", /*max_attempts=*/1);
  ASSERT_TRUE(eventually([&] { return state_is(id, "running"); }, 60s));
  kill(n1, SIGTERM);
  EXPECT_EQ(wait_exit(n1), 0);
  auto j = job(id);
  EXPECT_EQ(j["state"], "available") << j.dump(2);
  EXPECT_TRUE(j["errors"].empty()) << j.dump(2);
  start_node("n2", 1, 3);
  ASSERT_TRUE(eventually([&] { return state_is(id, "completed"); }, 120s)) << job(id).dump(2);
  j = job(id);
  EXPECT_TRUE(j["errors"].empty()) << j.dump(2);
  EXPECT_EQ(j["node"], "n2");
  EXPECT_EQ(events(id, "error"), 0);
  EXPECT_EQ(events(id, "discarded"), 0);
  // Past the coordinator's node timeout (3 s) the stopped node is still 'stopped'.
  ASSERT_TRUE(eventually([&] {
    return count("SELECT count(*) FROM kiln_nodes WHERE name = 'n1' AND heartbeat_at < now() - interval '5 seconds'") == 1;
  }, 30s));
  EXPECT_EQ(count("SELECT count(*) FROM kiln_nodes WHERE name = 'n1' AND state = 'stopped'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM kiln_events WHERE kind = 'node_lost'"), 0);
  RunResult refused = run_kiln({"nodes", "rm", "n2", "--database", url_});
  EXPECT_NE(refused.exit_code, 0);  // n2 is up
  RunResult rm = run_kiln({"nodes", "rm", "n1", "--database", url_});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(count("SELECT count(*) FROM kiln_nodes WHERE name = 'n1'"), 0);
  RunResult list = run_kiln({"nodes", "--database", url_});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("n2"), std::string::npos);
  EXPECT_EQ(list.out.find("n1"), std::string::npos);
}

}  // namespace
}  // namespace kiln::test

namespace kiln::test {
namespace {

// A node published a job's output but its completion never reached the database (the row is
// back in the queue): the next attempt finds result.json naming this job and completes with
// that output, without encoding again and without touching the files.
TEST_F(Outage, APublishedOutputWhoseCompletionWasLostCompletesWithoutReEncoding) {
  start_coordinator();
  start_node("n1", 1, 10);
  fs::path out = tmp_ / "published";
  int64_t id = submit(media("480p.mp4").string(), out);
  ASSERT_TRUE(eventually([&] { return state_is(id, "completed"); }, 120s)) << job(id).dump(2);
  ASSERT_TRUE(fs::exists(out / "result.json"));
  auto marker_time = fs::last_write_time(out / "result.json");
  size_t workers_before = occurrences(node_log("n1"), "job " + std::to_string(id) + " worker");
  ASSERT_GT(workers_before, 0u) << node_log("n1");
  // As if complete() had never got through: the job is available again, attempt 1 spent.
  sql("UPDATE kiln_jobs SET state = 'available', scheduled_at = now(), finalized_at = NULL, output = NULL "
      "WHERE id = " + std::to_string(id));
  ASSERT_TRUE(eventually([&] {
    auto j = job(id);
    return j["state"] == "completed" && j["attempt"] == 2;
  }, 60s)) << job(id).dump(2);
  std::string log = node_log("n1");
  EXPECT_EQ(occurrences(log, "already published"), 1u) << log;
  // One worker ever ran this job: the first attempt's (each worker logs its input once).
  EXPECT_EQ(occurrences(log, "job " + std::to_string(id) + " worker"), workers_before) << log;
  EXPECT_EQ(fs::last_write_time(out / "result.json"), marker_time) << "the output was written again";
  // The completion carries the published result.json, still the first attempt's.
  auto published = nlohmann::json::parse(read_file(out / "result.json"));
  EXPECT_EQ(job(id)["output"], published);
  EXPECT_EQ(published["kilnJob"]["attempt"], 1);
  check_ladder(out, {{{"480p", 854, 480}}, true, 3.0, 1 / 30.0});
}

}  // namespace
}  // namespace kiln::test
