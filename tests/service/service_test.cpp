// Kiln as a service, through its real processes: a coordinator and node daemons on a throwaway
// PostgreSQL database, the HTTP API over loopback, a webhook receiver in the test, and
// Debian's Alertmanager. Every wait has a deadline; none is a bare sleep.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/ladder_check.hpp"
#include "support/run.hpp"
#include "support/webhook_receiver.hpp"

namespace kiln::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string cluster_url() { return read_pg_url(KILN_PG_DIR); }

void write_file(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

class Cluster : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    db_name_ = "kiln_svc_" + std::to_string(rd()) + std::to_string(rd());
    admin("CREATE DATABASE " + db_name_);
    url_ = cluster_url();
    url_ = url_.substr(0, url_.rfind('/') + 1) + db_name_;
    deadline_ = std::make_unique<TestDeadline>(std::chrono::seconds(270), [this] { print_service_logs(tmp_.path()); });
  }
  void TearDown() override {
    for (int pid : pids_) {
      kill(pid, SIGKILL);
      wait_exit(pid);
    }
    if (HasFailure())  // what the services said, for a failure seen only in CI
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

  /// Starts a coordinator with `extra` TOML appended; waits until it listens.
  /// The per-token rate limit is off (rate_per_second = 0): these tests poll job states many
  /// times a second. tests/service/api_abuse_test.cpp tests the limiter itself.
  void start_coordinator(const std::string& extra = "") {
    fs::path cfg = tmp_ / "coordinator.toml";
    write_file(cfg, test_locations(tmp_.path()) + "[database]\nurl = \"" + url_ + "\"\n[api]\nlisten = \"127.0.0.1:0\"\nrate_per_second = 0\nmax_body_bytes = 4096\n"
                    "[chores]\nreap_interval_seconds = 0.5\nnode_timeout_seconds = 3\nretry_base_seconds = 1\n"
                    "delivery_interval_seconds = 0.2\n" + extra);
    fs::path logs = tmp_ / "coordinator";
    fs::create_directories(logs);
    pids_.push_back(spawn_kiln({"coordinator", "--config", cfg.string()}, logs));
    ASSERT_TRUE(eventually([&] { return read_file(logs / "stdout").find("listening on") != std::string::npos; }, 20s))
        << read_file(logs / "stderr");
    std::string out = read_file(logs / "stdout");
    port_ = std::stoi(out.substr(out.rfind(':') + 1));
    RunResult t = run_kiln_env({"token", "create", "--scope", "admin", "--database", url_});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    admin_token_ = t.out.substr(0, t.out.find('\n'));
  }

  /// Starts a node daemon; returns its pid once it says it is ready.
  int start_node(const std::string& name, int max_jobs = 1, int metrics_port = 0) {
    fs::path cfg = tmp_ / (name + ".toml");
    std::string metrics = metrics_port ? "metrics_listen = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n" : "";
    write_file(cfg, test_locations(tmp_.path()) + "[database]\nurl = \"" + url_ + "\"\n[node]\nname = \"" + name + "\"\nmax_jobs = " +
                        std::to_string(max_jobs) + "\nsoftware_slots = " + std::to_string(max_jobs) +
                        "\nlease_seconds = 3\nheartbeat_seconds = 0.5\n"
                        "retry_base_seconds = 1\ndrain_seconds = 30\n" + metrics);
    fs::path logs = tmp_ / name;
    fs::create_directories(logs);
    int pid = spawn_kiln({"node", "--config", cfg.string()}, logs);
    pids_.push_back(pid);
    EXPECT_TRUE(eventually([&] { return read_file(logs / "stdout").find("ready") != std::string::npos; }, 20s))
        << read_file(logs / "stderr");
    return pid;
  }

  RunResult run_kiln_env(const std::vector<std::string>& args) { return run_kiln(args); }
  RunResult run_shell(const std::string& cmd) {
    RunResult r;
    std::string out = (tmp_ / "shell.out").string();
    r.exit_code = WEXITSTATUS(std::system((cmd + " > '" + out + "' 2>&1").c_str()));
    r.out = read_file(out);
    return r;
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30);
    return c;
  }
  httplib::Headers auth(const std::string& token = "") const {
    return {{"Authorization", "Bearer " + (token.empty() ? admin_token_ : token)}};
  }
  nlohmann::json submit(const std::string& input, const std::string& out, const std::string& key = "") {
    auto h = auth();
    if (!key.empty()) h.emplace("Idempotency-Key", key);
    auto r = client().Post("/v1/jobs", h, nlohmann::json{{"input", input}, {"output", out}}.dump(), "application/json");
    EXPECT_TRUE(r) << "no answer";
    if (!r) return nullptr;
    EXPECT_TRUE(r->status == 201 || r->status == 200) << r->status << " " << r->body;
    return nlohmann::json::parse(r->body);
  }
  nlohmann::json job(int64_t id) {
    auto r = client().Get(("/v1/jobs/" + std::to_string(id)).c_str(), auth());
    return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json();
  }
  bool job_state_is(int64_t id, const std::string& state) {
    auto j = job(id);
    return !j.is_null() && j["state"] == state;
  }

  TempDir tmp_;
  std::unique_ptr<TestDeadline> deadline_;  // under CTest's TIMEOUT of 300 s
  std::string db_name_, url_, admin_token_;
  int port_ = 0;
  std::vector<int> pids_;
};

TEST_F(Cluster, ApiRefusesWhatItShould) {
  start_coordinator();
  auto c = client();
  auto none = c.Get("/v1/jobs");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_NE(none->body.find("unauthenticated"), std::string::npos);
  auto wrong = c.Get("/v1/jobs", auth("kiln_not_a_token"));
  EXPECT_EQ(wrong->status, 401);
  RunResult t = run_kiln({"token", "create", "--scope", "read", "--database", url_});
  std::string reader = t.out.substr(0, t.out.find('\n'));
  EXPECT_EQ(c.Get("/v1/jobs", auth(reader))->status, 200);
  auto forbidden = c.Post("/v1/jobs", auth(reader), R"({"input":"/a.mp4","output":"/b"})", "application/json");
  EXPECT_EQ(forbidden->status, 403);
  auto big = c.Post("/v1/jobs", auth(), std::string(10000, ' '), "application/json");
  EXPECT_EQ(big->status, 413);
  auto malformed = c.Post("/v1/jobs", auth(), "{not json", "application/json");
  EXPECT_EQ(malformed->status, 400);
  EXPECT_NE(malformed->body.find("malformed_json"), std::string::npos);
  auto bad_ladder = c.Post("/v1/jobs", auth(), R"({"input":"/a.mp4","output":"/b","ladder":"720p,banana"})", "application/json");
  EXPECT_EQ(bad_ladder->status, 400);
  EXPECT_NE(bad_ladder->body.find("ladder"), std::string::npos) << bad_ladder->body;
  auto unknown = c.Post("/v1/jobs", auth(), R"({"input":"/a.mp4","output":"/b","prority":5})", "application/json");
  EXPECT_EQ(unknown->status, 400);
  EXPECT_NE(unknown->body.find("prority"), std::string::npos);
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  EXPECT_EQ(c.Get("/readyz")->status, 200);
  auto first = submit("/media/a.mp4", "/out/a", "upload-1");
  auto again = submit("/media/a.mp4", "/out/a", "upload-1");
  EXPECT_EQ(first["id"], again["id"]);
  EXPECT_EQ(first["status"], "SUBMITTED");
  auto metrics = c.Get("/metrics", auth());
  EXPECT_NE(metrics->body.find("kiln_api_requests_total"), std::string::npos);
}

TEST_F(Cluster, AJobRunsToAPublishedLadderWithLiveEvents) {
  start_coordinator();
  start_node("n1");
  auto out = tmp_ / "ladder";
  auto j = submit(media("1080p.mp4").string(), out.string());
  int64_t id = j["id"];
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "completed"); }, 120s)) << job(id).dump(2);
  auto done = job(id);
  EXPECT_EQ(done["status"], "COMPLETE");
  EXPECT_EQ(done["node"], "n1");
  EXPECT_EQ(done["inputInformation"]["video"][0]["widthInPx"], 1920);
  EXPECT_EQ(done["output"]["detail"]["status"], "COMPLETE");
  check_ladder(out, {{{"720p", 1280, 720}, {"480p", 854, 480}}, true, 6.0, 1 / 30.0});
  auto events = client().Get(("/v1/jobs/" + std::to_string(id) + "/events").c_str(), auth());
  ASSERT_TRUE(events);
  for (const char* kind : {"event: submitted", "event: progressing", "event: input_information", "event: complete"})
    EXPECT_NE(events->body.find(kind), std::string::npos) << kind << "\n" << events->body;
}

TEST_F(Cluster, MetricsOfNodeAndCoordinatorPassPromtool) {
  start_coordinator();
  int metrics_port = free_port();
  start_node("n1", 1, metrics_port);
  int64_t id = submit(media("480p.mp4").string(), (tmp_ / "m").string())["id"];
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "completed"); }, 60s));
  httplib::Client node_client("127.0.0.1", metrics_port);
  auto node_metrics = node_client.Get("/metrics");
  ASSERT_TRUE(node_metrics);
  for (const char* m : {"kiln_node_jobs_total{outcome=\"completed\"} 1", "kiln_job_duration_seconds_bucket",
                        "kiln_job_queue_wait_seconds_count 1", "kiln_device_sessions{device=\"software:cpu\"} 0",
                        "kiln_node_encode_fps"})
    EXPECT_NE(node_metrics->body.find(m), std::string::npos) << m << "\n" << node_metrics->body;
  ASSERT_TRUE(eventually([&] {
    return client().Get("/metrics", auth())->body.find("kiln_jobs{state=\"completed\"} 1") != std::string::npos;
  }, 10s));
  for (const auto& [who, text] : {std::pair{"node", node_metrics->body}, std::pair{"coordinator", client().Get("/metrics", auth())->body}}) {
    write_file(tmp_ / "metrics.txt", text);
    RunResult check = run_shell("promtool check metrics < '" + (tmp_ / "metrics.txt").string() + "'");
    EXPECT_EQ(check.exit_code, 0) << who << ": " << check.out << check.err;
  }
}

TEST_F(Cluster, CliSubmitsWaitsAndLists) {
  start_coordinator();
  start_node("n1");
  setenv("KILN_API", ("http://127.0.0.1:" + std::to_string(port_)).c_str(), 1);
  setenv("KILN_TOKEN", admin_token_.c_str(), 1);
  RunResult r = run_kiln({"submit", media("480p.mp4").string(), "-o", (tmp_ / "cli-out").string(), "--wait", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["status"], "COMPLETE");
  RunResult list = run_kiln({"jobs", "--state", "completed"});
  EXPECT_NE(list.out.find("COMPLETE"), std::string::npos) << list.out;
  RunResult bad = run_kiln({"submit", media("480p.mp4").string(), "-o", (tmp_ / "x").string(), "--ladder", "7p?"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;  // the API's 400 is a usage error
  EXPECT_NE(bad.err.find("ladder"), std::string::npos) << bad.err;
  // A retried command (same spec: kiln submit sends the spec's digest as Idempotency-Key)
  // returns the job it made; another output is another job.
  RunResult first = run_kiln({"submit", media("480p.mp4").string(), "-o", (tmp_ / "once").string()});
  RunResult again = run_kiln({"submit", media("480p.mp4").string(), "-o", (tmp_ / "once").string()});
  RunResult other = run_kiln({"submit", media("480p.mp4").string(), "-o", (tmp_ / "twice").string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(again.exit_code, 0) << again.err;
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(first.out, again.out);
  EXPECT_NE(first.out, other.out);
  unsetenv("KILN_API");
  unsetenv("KILN_TOKEN");
}

TEST_F(Cluster, CancellingARunningJobStopsItAndPublishesNothing) {
  start_coordinator();
  start_node("n1");
  auto out = tmp_ / "cancelled";
  int64_t id = submit(media("long.mp4").string(), out.string())["id"];
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "running"); }, 30s));
  auto r = client().Post(("/v1/jobs/" + std::to_string(id) + "/cancel").c_str(), auth(), "", "application/json");
  EXPECT_EQ(r->status, 202);
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "cancelled"); }, 10s)) << job(id).dump(2);
  EXPECT_FALSE(fs::exists(out));
  auto again = client().Post(("/v1/jobs/" + std::to_string(id) + "/cancel").c_str(), auth(), "", "application/json");
  EXPECT_EQ(again->status, 409);
}

TEST_F(Cluster, BadInputIsDiscardedAtOnceAndRetriedByHand) {
  start_coordinator();
  start_node("n1");
  auto input = tmp_ / "late.mp4";  // not there yet
  int64_t id = submit(input.string(), (tmp_ / "late-out").string())["id"];
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "discarded"); }, 30s)) << job(id).dump(2);
  auto j = job(id);
  EXPECT_EQ(j["status"], "ERROR");
  EXPECT_EQ(j["attempt"], 1);  // no retry can fix a missing file
  EXPECT_EQ(j["errors"][0]["error"]["code"], "input_missing");
  fs::copy_file(media("480p.mp4"), input);
  auto r = client().Post(("/v1/jobs/" + std::to_string(id) + "/retry").c_str(), auth(), "", "application/json");
  EXPECT_EQ(r->status, 202);
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "completed"); }, 60s)) << job(id).dump(2);
}

TEST_F(Cluster, ThreeNodesOneKilledEveryJobCompletesExactlyOnce) {
  start_coordinator();
  int victim = start_node("n1");
  start_node("n2");
  start_node("n3");
  constexpr int kJobs = 30;
  std::vector<int64_t> ids;
  for (int i = 0; i < kJobs; ++i)
    ids.push_back(submit(media("480p.mp4").string(), (tmp_ / ("out" + std::to_string(i))).string())["id"]);
  // Kill n1 while it runs a job.
  ASSERT_TRUE(eventually([&] {
    for (auto id : ids) {
      auto j = job(id);
      if (j["state"] == "running" && j["node"] == "n1") return true;
    }
    return false;
  }, 60s));
  kill(victim, SIGKILL);
  ASSERT_TRUE(eventually([&] {
    for (auto id : ids)
      if (!job_state_is(id, "completed")) return false;
    return true;
  }, 280s));
  int retried = 0;
  for (int i = 0; i < kJobs; ++i) {
    auto j = job(ids[i]);
    if (j["attempt"].get<int>() > 1) {
      ++retried;
      EXPECT_EQ(j["errors"][0]["error"]["code"], "lease_expired") << j.dump(2);
      EXPECT_NE(j["node"], "n1");
    }
    check_ladder(tmp_ / ("out" + std::to_string(i)), {{{"480p", 854, 480}}, true, 3.0, 1 / 30.0});
    auto events = client().Get(("/v1/jobs/" + std::to_string(ids[i]) + "/events").c_str(), auth());
    size_t completes = 0;
    for (size_t p = events->body.find("event: complete"); p != std::string::npos;
         p = events->body.find("event: complete", p + 1))
      ++completes;
    EXPECT_EQ(completes, 1u) << "job " << ids[i];
  }
  EXPECT_GE(retried, 1);
  auto nodes = nlohmann::json::parse(client().Get("/v1/nodes", auth())->body)["nodes"];
  EXPECT_EQ(nodes[0]["name"], "n1");
  EXPECT_EQ(nodes[0]["state"], "lost");
}

TEST_F(Cluster, PostgresRestartMidJobLosesNothing) {
  start_coordinator();
  start_node("n1");
  int64_t id = submit(media("long.mp4").string(), (tmp_ / "survivor").string())["id"];
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "running"); }, 30s));
  ASSERT_EQ(std::system("'" KILN_PG_SCRIPT "' restart '" KILN_PG_DIR "'"), 0);
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "completed"); }, 120s)) << job(id).dump(2);
  // Nothing lost means the same attempt finished: not a lost lease and a re-run.
  auto j = job(id);
  EXPECT_EQ(j["attempt"], 1) << j.dump(2);
  EXPECT_TRUE(j["errors"].empty()) << j.dump(2);
  check_ladder(tmp_ / "survivor", {{{"720p", 1280, 720}, {"480p", 854, 480}}, true, 20.0, 1 / 30.0});
}

/// Debian's prometheus-alertmanager on a free loopback port.
class Alertmanager {
 public:
  explicit Alertmanager(const fs::path& dir) : port_(free_port()) {
    write_file(dir / "am.yml", "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n");
    pid_ = fork();
    if (pid_ == 0) {
      std::string log = (dir / "alertmanager.log").string();
      freopen(log.c_str(), "w", stderr);
      freopen(log.c_str(), "a", stdout);
      execlp("prometheus-alertmanager", "prometheus-alertmanager", ("--config.file=" + (dir / "am.yml").string()).c_str(),
             ("--storage.path=" + (dir / "am-data").string()).c_str(),
             ("--web.listen-address=127.0.0.1:" + std::to_string(port_)).c_str(), "--cluster.listen-address=",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    if (pid_ < 0) ADD_FAILURE() << "fork for prometheus-alertmanager: " << std::strerror(errno);
  }
  ~Alertmanager() {
    if (pid_ <= 0) return;  // kill(-1, ...) would signal every process we may signal
    kill(pid_, SIGTERM);
    wait_exit(pid_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool ready() {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get("/-/ready");
    return r && r->status == 200;
  }
  /// Active alerts with this alertname.
  std::vector<nlohmann::json> active(const std::string& alertname) {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get("/api/v2/alerts?active=true&silenced=false&inhibited=false");
    std::vector<nlohmann::json> out;
    if (!r || r->status != 200) return out;
    for (const auto& a : nlohmann::json::parse(r->body))
      if (a["labels"].value("alertname", "") == alertname) out.push_back(a);
    return out;
  }

 private:
  int port_;
  int pid_ = -1;
};

TEST_F(Cluster, AlertsReachAWebhookAndAlertmanagerAndResolve) {
  WebhookReceiver hook;
  hook.fail_next(1);  // the first delivery is refused with Retry-After: retried, not lost
  Alertmanager am(tmp_.path());
  ASSERT_TRUE(eventually([&] { return am.ready(); }, 30s)) << read_file(tmp_ / "alertmanager.log");
  start_coordinator("[[receiver]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"" + hook.url() +
                    "\"\nevents = [\"discarded\", \"node_lost\"]\n"
                    "[[receiver]]\nname = \"chat\"\ntype = \"slack\"\nurl = \"" + hook.url() +
                    "\"\nevents = [\"discarded\"]\n"
                    "[[receiver]]\nname = \"am\"\ntype = \"alertmanager\"\nurl = \"" + am.url() +
                    "\"\nresend_seconds = 1\n");
  int node = start_node("n1");
  auto input = tmp_ / "missing.mp4";
  int64_t id = submit(input.string(), (tmp_ / "o").string())["id"];
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "discarded"); }, 30s));
  ASSERT_TRUE(eventually([&] {
    for (const auto& b : hook.bodies())
      if (b.value("kind", "") == "discarded" && b.value("jobId", int64_t{0}) == id) return true;
    return false;
  }, 30s));
  ASSERT_TRUE(eventually([&] { return !am.active("KilnJobDiscarded").empty(); }, 30s));
  EXPECT_EQ(am.active("KilnJobDiscarded")[0]["labels"]["job_id"], std::to_string(id));
  // The condition clears: the input arrives and the job is retried to completion.
  fs::copy_file(media("480p.mp4"), input);
  client().Post(("/v1/jobs/" + std::to_string(id) + "/retry").c_str(), auth(), "", "application/json");
  ASSERT_TRUE(eventually([&] { return job_state_is(id, "completed"); }, 60s));
  EXPECT_TRUE(eventually([&] { return am.active("KilnJobDiscarded").empty(); }, 30s));
  // A lost node fires, and resolves when it comes back.
  kill(node, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !am.active("KilnNodeLost").empty(); }, 30s));
  EXPECT_TRUE(eventually([&] {
    for (const auto& b : hook.bodies())
      if (b.value("kind", "") == "node_lost") return true;
    return false;
  }, 30s));
  start_node("n1");
  EXPECT_TRUE(eventually([&] { return am.active("KilnNodeLost").empty(); }, 30s));
  size_t discarded_deliveries = 0, slack_messages = 0;
  for (const auto& b : hook.bodies()) {
    discarded_deliveries += b.value("kind", "") == "discarded";
    slack_messages += b.value("text", "").find("discarded: job " + std::to_string(id)) != std::string::npos;
  }
  EXPECT_EQ(discarded_deliveries, 1u);  // at least once, and deduplicated: exactly once here
  EXPECT_EQ(slack_messages, 1u);
}

// Storage locations: the coordinator refuses every path outside them at submit (400, saying
// why), resolves named and file:// paths to real paths, and lets one live job write an output.
TEST_F(Cluster, JobPathsStayInsideStorageLocations) {
  start_coordinator();
  TempDir outside;  // not a location
  fs::copy_file(media("480p.mp4"), outside / "secret.mp4");
  fs::create_directories(tmp_ / "dir");
  fs::copy_file(media("480p.mp4"), tmp_ / "dir" / "in.mp4");
  fs::create_directory_symlink(outside.path(), tmp_ / "link");
  const std::string in = (tmp_ / "dir" / "in.mp4").string();
  auto post = [&](const nlohmann::json& body) {
    auto spec = body;
    spec["delaySeconds"] = 3600;  // queued, never run: this test is about the API
    return client().Post("/v1/jobs", auth(), spec.dump(), "application/json");
  };
  auto refused = [&](const nlohmann::json& body, const std::string& code, const std::string& says) {
    auto r = post(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body.dump() << " -> " << r->body;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    EXPECT_EQ(j["error"]["code"], code) << r->body;
    EXPECT_NE(r->body.find(says), std::string::npos) << r->body;
  };
  refused({{"input", (outside / "secret.mp4").string()}, {"output", (tmp_ / "o1").string()}}, "path_not_allowed",
          "outside every storage location");
  refused({{"input", (tmp_ / ".." / outside.path().filename() / "secret.mp4").string()}, {"output", (tmp_ / "o1").string()}},
          "path_not_allowed", "'..' is not allowed");
  refused({{"input", (tmp_ / "link" / "secret.mp4").string()}, {"output", (tmp_ / "o1").string()}}, "path_not_allowed",
          "symlink");
  refused({{"input", in}, {"output", (tmp_ / "link" / "out").string()}}, "path_not_allowed", "symlink");
  refused({{"input", in}, {"output", (outside / "out").string()}}, "path_not_allowed", "outside every storage location");
  refused({{"input", in}, {"output", in}}, "path_not_allowed", "is the input itself");
  refused({{"input", in}, {"output", (tmp_ / "dir").string()}}, "path_not_allowed", "contains the input");
  refused({{"input", in}, {"output", tmp_.path().string()}}, "path_not_allowed", "root of location 'work'");
  refused({{"input", "nowhere:a.mp4"}, {"output", (tmp_ / "o1").string()}}, "path_not_allowed", "no location named 'nowhere'");
  refused({{"input", "media:/etc/passwd"}, {"output", (tmp_ / "o1").string()}}, "path_not_allowed", "relative path");
  refused({{"input", "file://host/etc/passwd"}, {"output", (tmp_ / "o1").string()}}, "path_not_allowed", "no host");
  // An output another job published, or any directory already there, is never replaced by a new job.
  fs::create_directories(tmp_ / "published");
  write_file(tmp_ / "published" / "result.json", R"({"kilnJob":{"id":99,"attempt":1}})");
  refused({{"input", in}, {"output", (tmp_ / "published").string()}}, "output_exists", "another job's published output");
  fs::create_directories(tmp_ / "photos");
  refused({{"input", in}, {"output", (tmp_ / "photos").string()}}, "output_exists", "is not a Kiln output");

  // Named and file:// paths resolve to the real paths inside their locations.
  auto ok = post({{"input", "media:480p.mp4"}, {"output", "file://" + (tmp_ / "named%20out").string()}});
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 201) << ok->body;
  auto job = nlohmann::json::parse(ok->body);
  EXPECT_EQ(job["spec"]["input"], fs::canonical(media("480p.mp4")).string());
  EXPECT_EQ(job["spec"]["output"], (fs::canonical(tmp_.path()) / "named out").string());
  // One live job per output: a second submit for it is 409 and names the first.
  auto busy = post({{"input", in}, {"output", "work:named out"}});
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 409) << busy->body;
  EXPECT_NE(busy->body.find("job " + std::to_string(job["id"].get<int64_t>())), std::string::npos) << busy->body;
  // Once that job is cancelled the output is free again.
  auto cancel = client().Post(("/v1/jobs/" + std::to_string(job["id"].get<int64_t>()) + "/cancel").c_str(), auth(), "", "application/json");
  ASSERT_TRUE(cancel);
  ASSERT_TRUE(eventually([&] { return job_state_is(job["id"], "cancelled"); }, 10s));
  auto again = post({{"input", in}, {"output", "work:named out"}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 201) << again->body;
}

// Rows written straight into the database are held to the node's own locations: the node fails
// each as path_not_allowed or output_exists (not retried) before it opens a file, and writes
// nothing: a path outside every location, a `..` escape, a symlink out of a location, an output
// equal to or containing its input, an output that is another job's published ladder.
TEST_F(Cluster, NodeRefusesJobRowsThatEscapeItsLocations) {
  start_coordinator();
  TempDir outside;
  fs::copy_file(media("480p.mp4"), outside / "secret.mp4");
  fs::create_symlink(outside.path(), tmp_ / "link-out");
  fs::create_directories(tmp_ / "in");
  fs::copy_file(media("480p.mp4"), tmp_ / "in" / "clip.mp4");
  // Another job's published output: its result.json names job 999999.
  fs::create_directories(tmp_ / "theirs");
  std::ofstream(tmp_ / "theirs" / "result.json") << R"({"kilnJob": {"id": 999999, "attempt": 1}})";
  struct Row {
    std::string input, output, code, why;
  };
  std::vector<Row> rows = {
      {(outside / "secret.mp4").string(), (tmp_ / "stolen").string(), "path_not_allowed", "outside every storage location"},
      {(tmp_ / "in" / ".." / ".." / outside.path().filename() / "secret.mp4").string(), (tmp_ / "dotdot").string(),
       "path_not_allowed", ""},
      {(tmp_ / "link-out" / "secret.mp4").string(), (tmp_ / "via-link").string(), "path_not_allowed", ""},
      {(tmp_ / "in" / "clip.mp4").string(), (tmp_ / "in").string(), "path_not_allowed", ""},
      {(tmp_ / "in" / "clip.mp4").string(), (tmp_ / "theirs").string(), "output_exists", "not this job's"},
  };
  std::vector<int64_t> ids;
  {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    for (const auto& r : rows) {
      nlohmann::json spec = {{"input", r.input}, {"output", r.output}, {"ladder", "240p"}, {"backend", "auto"},
                             {"device", ""}};
      ids.push_back(tx.exec_params1("INSERT INTO kiln_jobs (spec) VALUES ($1::jsonb) RETURNING id", spec.dump())[0].as<int64_t>());
    }
    tx.commit();
  }
  start_node("n1");
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(rows[i].input + " -> " + rows[i].output);
    ASSERT_TRUE(eventually([&] { return job_state_is(ids[i], "discarded"); }, 60s)) << job(ids[i]).dump();
    auto j = job(ids[i]);
    EXPECT_EQ(j["attempt"], 1);
    ASSERT_FALSE(j["errors"].empty());
    const auto& error = j["errors"].back()["error"];
    EXPECT_EQ(error["code"], rows[i].code) << j.dump();
    if (!rows[i].why.empty()) {
      EXPECT_NE(error.value("message", "").find(rows[i].why), std::string::npos) << j.dump();
    }
  }
  EXPECT_FALSE(fs::exists(tmp_ / "stolen"));
  EXPECT_FALSE(fs::exists(tmp_ / "dotdot"));
  EXPECT_FALSE(fs::exists(tmp_ / "via-link"));
  EXPECT_FALSE(fs::exists(outside / "via-link"));
  EXPECT_EQ(read_file(tmp_ / "theirs" / "result.json"), R"({"kilnJob": {"id": 999999, "attempt": 1}})");
  std::vector<std::string> in_dir;
  for (const auto& e : fs::directory_iterator(tmp_ / "in")) in_dir.push_back(e.path().filename().string());
  EXPECT_EQ(in_dir, std::vector<std::string>{"clip.mp4"});
}

}  // namespace
}  // namespace kiln::test
