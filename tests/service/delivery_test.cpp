// Alert delivery across coordinators, through real processes: two coordinators share one
// throwaway PostgreSQL database and one webhook receiver (an HTTP server in this test on a
// loopback port). Every event must arrive exactly once and in order; a receiver that keeps
// failing gets its delivery dead-lettered, counted in /metrics and alerted on. Every wait has a
// deadline; none is a bare sleep.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/run.hpp"

namespace kiln::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string cluster_url() { return read_pg_url(KILN_PG_DIR); }

/// A webhook receiver and a stand-in for Alertmanager's POST /api/v2/alerts on one loopback
/// port. /hook accepts everything; /flaky answers 500 while failing() is set.
class Receiver {
 public:
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mu_);
      hook_.push_back(nlohmann::json::parse(req.body));
    });
    server_.Post("/flaky", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      auto body = nlohmann::json::parse(req.body);
      ++flaky_tries_[body.value("id", int64_t{0})];
      if (failing_) {
        res.status = 500;
        return;
      }
      flaky_.push_back(body);
    });
    server_.Post("/api/v2/alerts", [this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mu_);
      for (const auto& a : nlohmann::json::parse(req.body)) alerts_.push_back(a);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<nlohmann::json> hook() {
    std::lock_guard lock(mu_);
    return hook_;
  }
  std::vector<nlohmann::json> flaky() {
    std::lock_guard lock(mu_);
    return flaky_;
  }
  std::map<int64_t, int> flaky_tries() {
    std::lock_guard lock(mu_);
    return flaky_tries_;
  }
  std::vector<nlohmann::json> alerts() {
    std::lock_guard lock(mu_);
    return alerts_;
  }
  void set_failing(bool f) {
    std::lock_guard lock(mu_);
    failing_ = f;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> hook_, flaky_, alerts_;
  std::map<int64_t, int> flaky_tries_;
  bool failing_ = false;
};

class Delivery : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    db_name_ = "kiln_dlv_" + std::to_string(rd()) + std::to_string(rd());
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

  /// Starts coordinator `name` with `extra` TOML appended; waits until it listens; returns its port.
  int start_coordinator(const std::string& name, const std::string& extra) {
    fs::path cfg = tmp_ / (name + ".toml");
    std::ofstream(cfg) << test_locations(tmp_.path()) << "[database]\nurl = \"" << url_ << "\"\n[api]\nlisten = \"127.0.0.1:0\"\nrate_per_second = 0\n"
                       << "[chores]\nreap_interval_seconds = 0.5\ndelivery_interval_seconds = 0.1\n"
                       << "delivery_max_attempts = 3\ndelivery_retry_seconds = 0.1\n" << extra;
    fs::path logs = tmp_ / name;
    fs::create_directories(logs);
    pids_.push_back(spawn_kiln({"coordinator", "--config", cfg.string()}, logs));
    int port = 0;
    EXPECT_TRUE(eventually([&] { return read_file(logs / "stdout").find("listening on") != std::string::npos; }, 20s))
        << read_file(logs / "stderr");
    std::string out = read_file(logs / "stdout");
    if (out.rfind(':') != std::string::npos) port = std::atoi(out.c_str() + out.rfind(':') + 1);
    if (token_.empty()) {
      RunResult t = run_kiln({"token", "create", "--scope", "admin", "--database", url_});
      EXPECT_EQ(t.exit_code, 0) << t.err;
      token_ = t.out.substr(0, t.out.find('\n'));
    }
    return port;
  }
  httplib::Headers auth() const { return {{"Authorization", "Bearer " + token_}}; }
  int64_t submit(int port, int n) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30);
    nlohmann::json body = {{"input", "/media/in" + std::to_string(n) + ".mp4"}, {"output", "/out/o" + std::to_string(n)}};
    auto r = c.Post("/v1/jobs", auth(), body.dump(), "application/json");
    EXPECT_TRUE(r && (r->status == 201 || r->status == 200)) << (r ? r->body : "no answer");
    return r && r->status < 300 ? nlohmann::json::parse(r->body)["id"].get<int64_t>() : 0;
  }
  /// The value of one sample in a coordinator's /metrics (0 when absent).
  double metric(int port, const std::string& sample) {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/metrics", auth());
    if (!r || r->status != 200) return 0;
    auto at = r->body.find("\n" + sample + " ");
    return at == std::string::npos ? 0 : std::atof(r->body.c_str() + at + sample.size() + 2);
  }

  TempDir tmp_;
  std::unique_ptr<TestDeadline> deadline_;  // under CTest's TIMEOUT of 300 s
  std::string db_name_, url_, token_;
  std::vector<int> pids_;
};

TEST_F(Delivery, TwoCoordinatorsDeliverEveryEventExactlyOnceInOrder) {
  Receiver rx;
  std::string receiver = "[[receiver]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"" + rx.base() +
                         "/hook\"\nevents = [\"submitted\"]\n";
  int a = start_coordinator("c1", receiver);
  int b = start_coordinator("c2", receiver);
  ASSERT_TRUE(a && b);
  constexpr int kJobs = 40;
  std::vector<int64_t> ids;
  for (int i = 0; i < kJobs; ++i) ids.push_back(submit(i % 2 ? b : a, i));
  ASSERT_TRUE(eventually([&] { return rx.hook().size() >= kJobs; }, 60s)) << rx.hook().size();
  // A last event: once it is in, everything before it has been sent by whoever was going to.
  int64_t last = submit(a, kJobs);
  ids.push_back(last);
  ASSERT_TRUE(eventually([&] {
    for (const auto& h : rx.hook())
      if (h["jobId"] == last) return true;
    return false;
  }, 60s));
  auto got = rx.hook();
  ASSERT_EQ(got.size(), ids.size()) << "an event arrived twice or not at all";
  std::set<int64_t> event_ids;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["kind"], "submitted");
    EXPECT_EQ(got[i]["jobId"], ids[i]) << "out of order at " << i;
    event_ids.insert(got[i]["id"].get<int64_t>());
  }
  EXPECT_EQ(event_ids.size(), ids.size());
  // Both coordinators ran the loop; between them they sent each event once.
  std::string sample = "kiln_alert_deliveries_total{receiver=\"ops\",outcome=\"ok\"}";
  EXPECT_EQ(metric(a, sample) + metric(b, sample), static_cast<double>(ids.size()));
}

TEST_F(Delivery, AReceiverThatKeepsFailingIsDeadLetteredCountedAndAlerted) {
  Receiver rx;
  rx.set_failing(true);
  std::string receivers = "[[receiver]]\nname = \"flaky\"\ntype = \"webhook\"\nurl = \"" + rx.base() +
                          "/flaky\"\nevents = [\"submitted\"]\n"
                          "[[receiver]]\nname = \"am\"\ntype = \"alertmanager\"\nurl = \"" + rx.base() +
                          "\"\nresend_seconds = 1\n";
  int a = start_coordinator("c1", receivers);
  int b = start_coordinator("c2", receivers);
  ASSERT_TRUE(a && b);
  int64_t doomed = submit(a, 1);
  std::string sample = "kiln_alert_dead_letters_total{receiver=\"flaky\"}";
  ASSERT_TRUE(eventually([&] { return metric(a, sample) + metric(b, sample) == 1; }, 60s));
  auto tries = rx.flaky_tries();
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries.begin()->second, 3) << "delivery_max_attempts = 3 tries, then no more";
  EXPECT_TRUE(rx.flaky().empty());
  ASSERT_TRUE(eventually([&] {
    for (const auto& al : rx.alerts())
      if (al["labels"].value("alertname", "") == "KilnAlertDeliveryFailed" && al["labels"]["receiver"] == "flaky")
        return true;
    return false;
  }, 30s));
  // The receiver recovers: the next event goes through; the dead one is not retried.
  rx.set_failing(false);
  int64_t next = submit(b, 2);
  ASSERT_TRUE(eventually([&] { return !rx.flaky().empty(); }, 60s));
  auto delivered = rx.flaky();
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0]["jobId"], next);
  EXPECT_NE(delivered[0]["jobId"], doomed);
  EXPECT_EQ(rx.flaky_tries().size(), 2u);
  EXPECT_EQ(metric(a, sample) + metric(b, sample), 1);
  // Alertmanager hears from the leader only: one coordinator posted, the other never did.
  std::string am = "kiln_alert_deliveries_total{receiver=\"am\",outcome=\"ok\"}";
  EXPECT_TRUE((metric(a, am) > 0) != (metric(b, am) > 0)) << metric(a, am) << " and " << metric(b, am);
  bool warned = false;
  for (const char* who : {"c1", "c2"})
    warned |= read_file(tmp_ / who / "stderr").find("dead-lettered") != std::string::npos ||
              read_file(tmp_ / who / "stdout").find("dead-lettered") != std::string::npos;
  EXPECT_TRUE(warned) << "a dead letter is logged at warn";
}

}  // namespace
}  // namespace kiln::test
