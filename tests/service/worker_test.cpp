// One worker process per job, through the real processes: a coordinator and a node on a
// throwaway PostgreSQL database. Workers crash (KILN_FAULT), are killed from outside, are
// cancelled, run out of memory or hang; the node outlives every one of them and its other jobs
// complete. Every wait has a deadline; none is a bare sleep.

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
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

/// The `kiln worker` processes whose parent is `node`.
std::vector<int> workers_of(int node) {
  std::vector<int> pids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid != node || state == 'Z') continue;
    std::ifstream cmd(e.path() / "cmdline");
    std::string argv((std::istreambuf_iterator<char>(cmd)), {});
    if (argv.find(std::string("worker\0", 7)) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

bool alive(int pid) {
  int st;
  return waitpid(pid, &st, WNOHANG) == 0;  // our child, not yet exited
}

/// Sets an environment variable for the processes started while it lives.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

class Workers : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    db_name_ = "kiln_wrk_" + std::to_string(rd()) + std::to_string(rd());
    admin("CREATE DATABASE " + db_name_);
    url_ = cluster_url();
    url_ = url_.substr(0, url_.rfind('/') + 1) + db_name_;
    deadline_ = std::make_unique<TestDeadline>(std::chrono::seconds(270), [this] { print_service_logs(tmp_.path()); });
    start_coordinator();
  }
  void TearDown() override {
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

  void start_coordinator() {
    fs::path cfg = tmp_ / "coordinator.toml";
    std::ofstream(cfg) << test_locations(tmp_.path()) << "[database]\nurl = \"" << url_ << "\"\n[api]\nlisten = \"127.0.0.1:0\"\nrate_per_second = 0\n"
                       << "[chores]\nreap_interval_seconds = 0.5\nnode_timeout_seconds = 3\n"
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

  /// A node with `extra` lines in its [node] table; returns its pid once ready.
  /// `software_slots` < 0: as many as `max_jobs` (the tests run software jobs side by side).
  int start_node(const std::string& name, int max_jobs, const std::string& extra = "", int software_slots = -1) {
    fs::path cfg = tmp_ / (name + ".toml");
    std::ofstream(cfg) << test_locations(tmp_.path()) << "[database]\nurl = \"" << (node_url_.empty() ? url_ : node_url_)
                       << "\"\n[node]\nname = \"" << name << "\"\nmax_jobs = "
                       << max_jobs << "\nsoftware_slots = " << (software_slots < 0 ? max_jobs : software_slots)
                       << "\nlease_seconds = 3\nheartbeat_seconds = 0.5\nretry_base_seconds = 1\n"
                       << "drain_seconds = 30\ncapacity_file = \"" << (tmp_ / "capacity.json").string() << "\"\n"
                       << extra;
    fs::path logs = tmp_ / name;
    fs::create_directories(logs);
    int pid = spawn_kiln({"node", "--config", cfg.string()}, logs);
    pids_.push_back(pid);
    EXPECT_TRUE(eventually([&] { return read_file(logs / "stdout").find("ready") != std::string::npos; }, 20s))
        << read_file(logs / "stderr");
    return pid;
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30);
    return c;
  }
  httplib::Headers auth() const { return {{"Authorization", "Bearer " + token_}}; }
  int64_t submit(const fs::path& input, const fs::path& out, nlohmann::json extra = nlohmann::json::object()) {
    extra["input"] = input.string();
    extra["output"] = out.string();
    auto r = client().Post("/v1/jobs", auth(), extra.dump(), "application/json");
    EXPECT_TRUE(r && (r->status == 201 || r->status == 200)) << (r ? r->body : "no answer");
    return r ? nlohmann::json::parse(r->body)["id"].get<int64_t>() : 0;
  }
  nlohmann::json job(int64_t id) {
    auto r = client().Get(("/v1/jobs/" + std::to_string(id)).c_str(), auth());
    return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json();
  }
  bool state_is(int64_t id, const std::string& state) {
    auto j = job(id);
    return !j.is_null() && j["state"] == state;
  }
  std::string first_error(int64_t id) {
    auto j = job(id);
    if (j.is_null() || !j["errors"].is_array() || j["errors"].empty()) return "";
    return j["errors"][0]["error"].value("message", "");
  }
  /// The node's /metrics text.
  std::string metrics(int port) {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }

  TempDir tmp_;
  std::string node_url_;  // the node's database URL, when not the test's own (a role's)
  std::unique_ptr<TestDeadline> deadline_;  // under CTest's TIMEOUT of 300 s
  std::string db_name_, url_, token_;
  int port_ = 0;
  std::vector<int> pids_;
};

TEST_F(Workers, ACrashingWorkerFailsItsAttemptWhileAnotherJobOnTheNodeCompletes) {
  // Only inputs whose path contains "crashme" crash: the other job runs the same binary, unharmed.
  auto crashme = tmp_ / "crashme.mp4";
  fs::copy_file(media("long.mp4"), crashme);
  int metrics_port = free_port();
  int node;
  {
    ScopedEnv fault("KILN_FAULT", "worker:crash=5@crashme");
    node = start_node("n1", 2, "metrics_listen = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n");
  }
  int64_t bad = submit(crashme, tmp_ / "bad-out", {{"maxAttempts", 2}});
  int64_t good = submit(media("480p.mp4"), tmp_ / "good-out");
  ASSERT_TRUE(eventually([&] { return state_is(good, "completed"); }, 120s)) << job(good).dump(2);
  ASSERT_TRUE(eventually([&] { return state_is(bad, "discarded"); }, 120s)) << job(bad).dump(2);
  auto j = job(bad);
  EXPECT_EQ(j["attempt"], 2) << "a crash is retryable: the job got its second attempt";
  ASSERT_EQ(j["errors"].size(), 2u) << j.dump(2);
  for (const auto& e : j["errors"]) {
    EXPECT_EQ(e["error"]["code"], "internal");
    EXPECT_NE(e["error"]["message"].get<std::string>().find("worker killed by SIGSEGV"), std::string::npos)
        << e.dump();
  }
  EXPECT_FALSE(fs::exists(tmp_ / "bad-out"));
  for (const auto& e : fs::directory_iterator(tmp_.path()))
    EXPECT_EQ(e.path().filename().string().find(".bad-out.kiln-staging"), std::string::npos)
        << "a crashed worker's staging directory is removed: " << e.path();
  check_ladder(tmp_ / "good-out", {{{"480p", 854, 480}}, true, 3.0, 1 / 30.0});
  EXPECT_TRUE(alive(node)) << "a worker's crash never takes the node down";
  EXPECT_NE(metrics(metrics_port).find("kiln_worker_failures_total{reason=\"signal\"} 2"), std::string::npos)
      << metrics(metrics_port);
  EXPECT_NE(read_file(tmp_ / "n1" / "stderr").find("worker killed by SIGSEGV"), std::string::npos);
}

TEST_F(Workers, AWorkerKilledFromOutsideFailsItsAttemptAndTheJobIsRetried) {
  int metrics_port = free_port();
  int node = start_node("n1", 2, "metrics_listen = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n");
  int64_t victim = submit(media("long.mp4"), tmp_ / "victim");
  int64_t other = submit(media("480p.mp4"), tmp_ / "other");
  // The short job completes in its own worker; the long one's worker is then the only one left.
  ASSERT_TRUE(eventually([&] { return state_is(other, "completed"); }, 120s)) << job(other).dump(2);
  std::vector<int> pids;
  ASSERT_TRUE(eventually([&] {
    pids = workers_of(node);
    return state_is(victim, "running") && pids.size() == 1;
  }, 60s)) << job(victim).dump(2);
  int killed = pids[0];
  const std::string placed = "kiln_device_jobs{device=\"software:cpu\"} ";
  ASSERT_NE(metrics(metrics_port).find(placed + "1"), std::string::npos) << metrics(metrics_port);
  ASSERT_EQ(kill(killed, SIGKILL), 0);
  // Its place in the ledger is given back at once (the retry waits out its backoff first).
  EXPECT_TRUE(eventually([&] { return metrics(metrics_port).find(placed + "0") != std::string::npos; }, 10s));
  ASSERT_TRUE(eventually([&] { return state_is(victim, "completed"); }, 180s)) << job(victim).dump(2);
  auto j = job(victim);
  EXPECT_EQ(j["attempt"], 2);
  EXPECT_NE(first_error(victim).find("worker killed by SIGKILL"), std::string::npos) << j.dump(2);
  check_ladder(tmp_ / "victim", {{{"720p", 1280, 720}, {"480p", 854, 480}}, true, 20.0, 1 / 30.0});
  EXPECT_TRUE(alive(node));
}

TEST_F(Workers, CancelKillsTheWorkerAndPublishesNothing) {
  int node = start_node("n1", 1);
  auto out = tmp_ / "cancelled";
  int64_t id = submit(media("long.mp4"), out);
  std::vector<int> pids;
  ASSERT_TRUE(eventually([&] {
    pids = workers_of(node);
    return state_is(id, "running") && !pids.empty();
  }, 60s));
  auto r = client().Post(("/v1/jobs/" + std::to_string(id) + "/cancel").c_str(), auth(), "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  ASSERT_TRUE(eventually([&] { return state_is(id, "cancelled"); }, 15s)) << job(id).dump(2);
  EXPECT_TRUE(eventually([&] { return workers_of(node).empty(); }, 15s)) << "the worker is gone";
  EXPECT_TRUE(eventually([&] { return !fs::exists("/proc/" + std::to_string(pids[0])); }, 15s))
      << "worker " << pids[0] << " was reaped";
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(alive(node));
}

TEST_F(Workers, AWorkerOverItsMemoryLimitEndsAsAClearFailure) {
  int node;
  {
    ScopedEnv fault("KILN_FAULT", "worker:oom=5");
    node = start_node("n1", 1, "worker_memory_mb = 1024\n");
  }
  int64_t id = submit(media("long.mp4"), tmp_ / "oom", {{"maxAttempts", 1}});
  ASSERT_TRUE(eventually([&] { return state_is(id, "discarded"); }, 120s)) << job(id).dump(2);
  std::string why = first_error(id);
  EXPECT_NE(why.find("memory limit of 1024 MiB (worker_memory_mb)"), std::string::npos) << job(id).dump(2);
  EXPECT_FALSE(fs::exists(tmp_ / "oom"));
  EXPECT_TRUE(alive(node));
}

TEST_F(Workers, AHangingWorkerIsKilledAtTheWallClockLimit) {
  int node;
  {
    ScopedEnv fault("KILN_FAULT", "worker:hang=5");
    node = start_node("n1", 1, "worker_wall_factor = 0\nworker_wall_min_seconds = 3\n");
  }
  int64_t id = submit(media("long.mp4"), tmp_ / "hang", {{"maxAttempts", 1}});
  ASSERT_TRUE(eventually([&] { return state_is(id, "discarded"); }, 60s)) << job(id).dump(2);
  EXPECT_NE(first_error(id).find("worker exceeded the wall-clock limit of 3 s"), std::string::npos) << job(id).dump(2);
  EXPECT_TRUE(workers_of(node).empty());
  EXPECT_TRUE(alive(node));
}

}  // namespace
}  // namespace kiln::test

namespace kiln::test {
namespace {

// The README's grants are enough for a node and no more: a node connected as a login role in
// kiln_node claims, heartbeats, records events and completes a job; the same role cannot read
// or mint tokens.
TEST_F(Workers, ANodeOnTheNodeRoleRunsAJobAndCannotTouchTokens) {
  std::random_device rd;
  std::string role = "kiln_test_node_" + std::to_string(rd());
  admin("CREATE ROLE " + role + " LOGIN IN ROLE kiln_node");
  auto scheme = url_.find("://") + 3;
  node_url_ = url_.substr(0, scheme) + role + url_.substr(url_.find('@', scheme));
  int pid = start_node("n1", 1);
  int64_t id = submit(media("480p.mp4"), tmp_ / "as-node-role", {{"ladder", "480p"}});
  EXPECT_TRUE(eventually([&] { return state_is(id, "completed"); }, 120s)) << job(id).dump(2);
  EXPECT_TRUE(job(id)["errors"].empty()) << job(id).dump(2);
  EXPECT_EQ(read_file(tmp_ / "n1" / "stderr").find("permission denied"), std::string::npos)
      << read_file(tmp_ / "n1" / "stderr");
  {
    pqxx::connection conn(node_url_);
    for (const char* q : {"SELECT count(*) FROM kiln_tokens", "INSERT INTO kiln_tokens (hash, scope) VALUES ('\\x00', 'admin')"}) {
      pqxx::nontransaction tx(conn);
      EXPECT_THROW(tx.exec(q), pqxx::insufficient_privilege) << q;
    }
  }
  kill(pid, SIGKILL);
  wait_exit(pid);
  pids_.erase(std::remove(pids_.begin(), pids_.end(), pid), pids_.end());
  admin("DROP ROLE IF EXISTS " + role);  // a member of kiln_node, owning nothing
}

}  // namespace
}  // namespace kiln::test

namespace kiln::test {
namespace {

// A capacity file the node cannot use is a config error: the node does not start, and says which
// file and what is wrong, instead of scheduling on figures it could not read.
TEST_F(Workers, ACapacityFileThatIsNotJsonStopsTheNodeAtStart) {
  std::ofstream(tmp_ / "capacity.json") << "{ this is not what kiln bench writes";
  fs::path cfg = tmp_ / "bad.toml";
  std::ofstream(cfg) << test_locations(tmp_.path()) << "[database]\nurl = \"" << url_ << "\"\n[node]\nname = \"bad\"\n"
                     << "capacity_file = \"" << (tmp_ / "capacity.json").string() << "\"\n";
  fs::path logs = tmp_ / "bad";
  fs::create_directories(logs);
  int pid = spawn_kiln({"node", "--config", cfg.string()}, logs);
  EXPECT_EQ(wait_exit(pid), 2) << read_file(logs / "stderr");
  const std::string err = read_file(logs / "stderr");
  EXPECT_NE(err.find((tmp_ / "capacity.json").string()), std::string::npos) << err;
  EXPECT_NE(err.find("not JSON"), std::string::npos) << err;
}

// software_slots = 1 on a node with three job slots: the ledger never lets a second software
// job start (sampled from kiln_device_jobs while they run); the others wait their turn (not
// claimed, or handed back without an error) and every job completes once, with no error.
TEST_F(Workers, SoftwareSlotsHoldAndTheJobsWaitTheirTurn) {
  int metrics_port = free_port();
  start_node("n1", 3, "metrics_listen = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n", 1);
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(submit(media("480p.mp4"), tmp_ / ("turn" + std::to_string(i))));
  const std::string sample = "kiln_device_jobs{device=\"software:cpu\"} ";
  int most = 0, samples = 0, api_most = 0;
  nlohmann::json software;  // the node's software device as /v1/devices last showed it
  ASSERT_TRUE(eventually([&] {
    std::string m = metrics(metrics_port);
    auto at = m.find(sample);
    if (at != std::string::npos) {
      most = std::max(most, std::atoi(m.c_str() + at + sample.size()));
      ++samples;
    }
    if (auto r = client().Get("/v1/devices", auth()); r && r->status == 200) {
      const auto listed = nlohmann::json::parse(r->body);  // kept: the loop reads into it
      for (const auto& d : listed["devices"])
        if (d["backend"] == "software") {
          software = d;
          api_most = std::max(api_most, d.value("jobs", 0));
        }
    }
    for (auto id : ids)
      if (!state_is(id, "completed")) return false;
    return true;
  }, 120s)) << job(ids[0]).dump(2);
  EXPECT_GT(samples, 5);
  EXPECT_EQ(most, 1) << "software jobs at once, at most";
  // The API shows the same ledger, heartbeat by heartbeat, and says the capacity is a guess.
  EXPECT_LE(api_most, 1) << software.dump();
  EXPECT_EQ(software["maxJobs"], 1) << software.dump();
  EXPECT_EQ(software["capacitySource"], "estimate") << software.dump();
  EXPECT_TRUE(software.contains("loadRatio")) << software.dump();
  for (auto id : ids) {
    auto j = job(id);
    EXPECT_TRUE(j["errors"].empty()) << j.dump(2);
  }
  EXPECT_NE(metrics(metrics_port).find(sample + "0"), std::string::npos) << "every place given back";
  // kiln nodes --devices prints the same ledger from the database, as an operator reads it.
  RunResult listed;
  EXPECT_TRUE(eventually([&] {
    listed = run_kiln({"nodes", "--devices", "--database", url_});
    return listed.exit_code == 0 && listed.out.find("software cpu                  0/1 ") != std::string::npos;
  }, 10s)) << listed.out << listed.err;
  EXPECT_NE(listed.out.find("estimate"), std::string::npos) << listed.out;
}


/// Counts `needle` in `text`.
size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

/// The gauge `name{device="key"}` in a /metrics text; -1 when absent.
double gauge_of(const std::string& text, const std::string& name, const std::string& key) {
  const std::string sample = name + "{device=\"" + key + "\"} ";
  auto at = text.find(sample);
  return at == std::string::npos ? -1 : std::atof(text.c_str() + at + sample.size());
}

// Two devices that really run without a GPU: the CPU VA driver behind the libdrm shim on two
// render nodes, placed at the PCI addresses of two GPUs on the two NUMA nodes of a fixture
// server (hwloc reads it from HWLOC_XMLFILE in the node, so discovery, placement and binding
// take their sets from it). max_sessions = 2 (a two-rung job fills a device), software_slots = 1:
// of six jobs at most three run at once, no device ever holds more than its cap (sampled from
// the ledger's metrics while they run), both devices get work, the rest wait and complete, and
// each completes exactly once.
TEST_F(Workers, TwoDevicesSixJobsAndNoCapIsEverPassed) {
#ifndef KILN_FAKE_DRM_SHIM
  GTEST_SKIP() << "built without VAAPI: no fake render nodes";
#else
  const fs::path a = tmp_ / "renderD128", b = tmp_ / "renderD129";
  std::ofstream(a).put('\0');
  std::ofstream(b).put('\0');
  ScopedEnv preload("LD_PRELOAD", KILN_FAKE_DRM_SHIM);
  ScopedEnv nodes("KILN_FAKE_VA_NODES", a.string() + "=0000:4d:00.0," + b.string() + "=0000:ca:00.0");
  ScopedEnv drivers("LIBVA_DRIVERS_PATH", KILN_FAKE_VA_DRIVER_DIR);
  ScopedEnv driver("LIBVA_DRIVER_NAME", "kiln_cpu");
  ScopedEnv topology("HWLOC_XMLFILE", std::string(KILN_SOURCE_DIR) + "/tests/accel/fixtures/2s-2numa-2flex.xml");
  // What kiln bench measured here: capacities the node takes, and session counts (4) that the
  // node.toml rule below overrides (configured beats measured).
  nlohmann::json measured = {{"format", 1}, {"measuredAt", "2026-12-04T21:00:00Z"}, {"devices", nlohmann::json::array()}};
  for (const auto& node : {a, b})
    measured["devices"].push_back({{"backend", "vaapi"}, {"id", node.string()}, {"capacityPixelsPerSecond", 5e7},
                                   {"sessions", 4}, {"jobs", 2}});
  std::ofstream(tmp_ / "capacity.json") << measured.dump();
  int metrics_port = free_port();
  start_node("n1", 6,
             "metrics_listen = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n"
             "[[device]]\nmatch = { backend = \"vaapi\" }\nmax_sessions = 2\n", 1);
  const std::string dev_a = "vaapi:" + a.string(), dev_b = "vaapi:" + b.string(), sw = "software:cpu";
  std::vector<int64_t> ids;
  for (int i = 0; i < 6; ++i)
    ids.push_back(submit(media("480p.mp4"), tmp_ / ("six" + std::to_string(i)), {{"ladder", "480p,240p"}}));
  double most_a = 0, most_b = 0, most_sw = 0, most_jobs = 0;
  int samples = 0;
  ASSERT_TRUE(eventually([&] {
    const std::string m = metrics(metrics_port);
    const double sa = gauge_of(m, "kiln_device_sessions", dev_a), sb = gauge_of(m, "kiln_device_sessions", dev_b);
    const double ja = gauge_of(m, "kiln_device_jobs", dev_a), jb = gauge_of(m, "kiln_device_jobs", dev_b),
                 js = gauge_of(m, "kiln_device_jobs", sw);
    if (sa >= 0 && sb >= 0 && js >= 0) {
      ++samples;
      most_a = std::max(most_a, sa);
      most_b = std::max(most_b, sb);
      most_sw = std::max(most_sw, js);
      most_jobs = std::max(most_jobs, ja + jb + js);
    }
    for (auto id : ids)
      if (!state_is(id, "completed")) return false;
    return true;
  }, 200s)) << job(ids[0]).dump(2) << metrics(metrics_port);
  EXPECT_GT(samples, 10);
  EXPECT_EQ(most_a, 2) << "encoder sessions on " << dev_a << " at once, at most (cap 2)";
  EXPECT_EQ(most_b, 2) << "encoder sessions on " << dev_b << " at once, at most (cap 2)";
  EXPECT_LE(most_sw, 1) << "software jobs at once (software_slots = 1)";
  EXPECT_LE(most_jobs, 3) << "jobs placed at once: two devices of one job each and one software slot";
  std::map<std::string, int> ran_on;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t id = ids[i];
    auto j = job(id);
    EXPECT_TRUE(j["errors"].empty()) << j.dump(2);
    auto events = client().Get(("/v1/jobs/" + std::to_string(id) + "/events").c_str(), auth());
    ASSERT_TRUE(events);
    EXPECT_EQ(occurrences(events->body, "event: complete"), 1u) << "job " << id << "\n" << events->body;
    auto result = nlohmann::json::parse(read_file(tmp_ / ("six" + std::to_string(i)) / "result.json"));
    const auto& d = result["detail"];
    const std::string where = d["backend"].get<std::string>() + ":" + d["device"].get<std::string>();
    ++ran_on[where];
    // Bound as placed, from the fixture's sets, as far as this machine has those CPUs: the
    // first Flex is local to CPUs 0-7 and NUMA node 0, the second to CPUs 8-15 (not here).
    const std::string binding = d["placement"].value("binding", "");
    if (where == dev_a) {
      EXPECT_FALSE(d["placement"]["boundCpus"].get<std::string>().empty()) << binding;
      EXPECT_NE(binding.find("of 0-7 asked"), std::string::npos) << binding;
      EXPECT_EQ(d["placement"]["boundNumaNode"], 0) << binding;
    } else if (where == dev_b) {
      EXPECT_EQ(d["placement"]["boundCpus"], "") << binding;
      EXPECT_NE(binding.find("none of 8-15"), std::string::npos) << binding;
    }
    EXPECT_EQ(d["stages"]["encode"]["encoder"], "libx264");
    EXPECT_EQ(d["accelerationStatus"], "NOT_ACCELERATED");
  }
  EXPECT_GE(ran_on[dev_a], 1) << "jobs spread by load over both devices";
  EXPECT_GE(ran_on[dev_b], 1) << "jobs spread by load over both devices";
  const std::string m = metrics(metrics_port);
  for (const auto& key : {dev_a, dev_b, sw}) EXPECT_EQ(gauge_of(m, "kiln_device_jobs", key), 0) << key;
  // The live ledger from the node itself, and through the API: measured capacity, configured cap.
  RunResult live = run_kiln({"devices", "--node", "127.0.0.1:" + std::to_string(metrics_port)});
  EXPECT_EQ(live.exit_code, 0) << live.err;
  EXPECT_NE(live.out.find("vaapi    " + a.string()), std::string::npos) << live.out;
  EXPECT_NE(live.out.find("0/2       0.00   5e+07      measured"), std::string::npos) << live.out;
  nlohmann::json api_devices;
  EXPECT_TRUE(eventually([&] {
    auto r = client().Get("/v1/devices", auth());
    if (!r || r->status != 200) return false;
    api_devices = nlohmann::json::parse(r->body);
    int measured_seen = 0;
    for (const auto& d : api_devices["devices"])
      if (d["backend"] == "vaapi" && d["capacitySource"] == "measured" && d["maxSessions"] == 2) ++measured_seen;
    return measured_seen == 2;
  }, 10s)) << api_devices.dump(2);
#endif
}

}  // namespace
}  // namespace kiln::test
