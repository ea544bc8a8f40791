// The coordinator's API under abuse, through the real process on a throwaway PostgreSQL
// database: idle event streams, random paths, floods from one token, revoked and expired
// tokens, out-of-range numbers, concurrent submits with one idempotency key, and the node's
// database role. Every wait has a deadline; none is a bare sleep.

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <fstream>
#include <functional>
#include <iostream>
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

void write_file(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

/// One HTTP/1.1 request over a raw socket (to send what httplib's client never would); the
/// whole answer, headers and body.
std::string raw_request(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)!write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    db_name_ = "kiln_abuse_" + std::to_string(rd()) + std::to_string(rd());
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
    if (HasFailure()) print_service_logs(tmp_.path());
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

  void start_coordinator(const std::string& api_extra = "") {
    fs::path cfg = tmp_ / "coordinator.toml";
    write_file(cfg, test_locations(tmp_.path()) + "[database]\nurl = \"" + url_ + "\"\n[api]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 4096\n" +
                        api_extra + "[chores]\nreap_interval_seconds = 0.5\nnode_timeout_seconds = 3\n");
    fs::path logs = tmp_ / "coordinator";
    fs::create_directories(logs);
    pids_.push_back(spawn_kiln({"coordinator", "--config", cfg.string()}, logs));
    ASSERT_TRUE(eventually([&] { return read_file(logs / "stdout").find("listening on") != std::string::npos; }, 20s))
        << read_file(logs / "stderr");
    std::string out = read_file(logs / "stdout");
    port_ = std::stoi(out.substr(out.rfind(':') + 1));
    admin_token_ = token("admin");
  }
  std::string token(const std::string& scope, const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {"token", "create", "--scope", scope, "--database", url_};
    args.insert(args.end(), more.begin(), more.end());
    RunResult t = run_kiln(args);
    EXPECT_EQ(t.exit_code, 0) << t.err;
    return t.out.substr(0, t.out.find('\n'));
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10);
    return c;
  }
  httplib::Headers auth(const std::string& token = "") const {
    return {{"Authorization", "Bearer " + (token.empty() ? admin_token_ : token)}};
  }
  httplib::Result post_job(const nlohmann::json& body, const std::string& key = "") {
    auto h = auth();
    if (!key.empty()) h.emplace("Idempotency-Key", key);
    return client().Post("/v1/jobs", h, body.dump(), "application/json");
  }
  static void expect_clean_error(const httplib::Result& r, int status, const std::string& code) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_FALSE(r->has_header("EXCEPTION_WHAT"));
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_EQ(j["error"]["code"], code) << r->body;
    for (const char* leak : {"PostgreSQL", "ERROR:", "pqxx", "127.0.0.1", "stoll", "SQL"})
      EXPECT_EQ(r->body.find(leak), std::string::npos) << leak << " in " << r->body;
  }

  TempDir tmp_;
  std::unique_ptr<TestDeadline> deadline_;  // under CTest's TIMEOUT of 300 s
  std::string db_name_, url_, admin_token_;
  int port_ = 0;
  std::vector<int> pids_;
};

TEST_F(Api, OutOfRangeNumbersAndIdsAreCleanBadRequests) {
  start_coordinator();
  auto c = client();
  expect_clean_error(c.Get("/v1/jobs/99999999999999999999", auth()), 400, "invalid_id");
  expect_clean_error(c.Post("/v1/jobs/99999999999999999999/cancel", auth(), "", "application/json"), 400, "invalid_id");
  expect_clean_error(c.Get("/v1/jobs?limit=99999999999999999999", auth()), 400, "invalid_limit");
  expect_clean_error(c.Get("/v1/jobs?cursor=-1", auth()), 400, "invalid_cursor");
  nlohmann::json base = {{"input", "/media/a.mp4"}, {"output", "/out/a"}};
  for (const auto& [field, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"delaySeconds", 1e300}, {"delaySeconds", -1}, {"priority", 1e300}, {"priority", 99999999999999999999.0},
           {"maxAttempts", 4294967297LL}, {"segmentSeconds", 1e300}}) {
    auto body = base;
    body[field] = value;
    auto r = post_job(body);
    expect_clean_error(r, 400, "invalid_spec");
    EXPECT_NE(r->body.find(field), std::string::npos) << r->body;
  }
  std::string deep = R"({"input":"/a.mp4","output":"/b","metadata":)" + std::string(200, '[') + std::string(200, ']') + "}";
  expect_clean_error(c.Post("/v1/jobs", auth(), deep, "application/json"), 400, "too_deep");
  // A POST with no Content-Length at all, as curl -X POST sends it: a JSON answer either way,
  // at once (a server waiting for a body to EOF answers only when its read timeout ends, after
  // this client's 10 s receive timeout has given up with nothing).
  for (const std::string path : {"/v1/jobs/1/cancel", "/v1/jobs"}) {
    std::string answer = raw_request(port_, "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                                 admin_token_ + "\r\nConnection: close\r\n\r\n");
    auto blank = answer.find("\r\n\r\n");
    ASSERT_NE(blank, std::string::npos) << answer;
    std::string body = answer.substr(blank + 4);
    EXPECT_FALSE(nlohmann::json::parse(body, nullptr, false).is_discarded()) << path << ": " << answer;
    EXPECT_NE(body.find("\"error\""), std::string::npos) << path << ": " << answer;
  }
}

TEST_F(Api, RandomPathsDoNotGrowMetricsAndMetricsNeedAToken) {
  start_coordinator();
  auto c = client();
  EXPECT_EQ(c.Get("/metrics")->status, 401);
  auto series = [&] {
    auto r = client().Get("/metrics", auth());
    EXPECT_EQ(r->status, 200);
    size_t n = 0;
    for (size_t at = 0; (at = r->body.find("kiln_api_requests_total{", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  c.Get("/warm-up/404");
  c.Get("/v1/jobs/1", auth());  // a matched route with a 404 answer
  // A request is counted by the server just after its answer went out, so a scrape right after
  // it may not see it yet: wait until two scrapes agree (the scrape's own series included).
  size_t before = 0;
  ASSERT_TRUE(eventually([&] {
    size_t first = series();
    std::this_thread::sleep_for(200ms);
    before = series();
    return first == before;
  }, 10s));
  httplib::Client fast("127.0.0.1", port_);
  fast.set_keep_alive(true);
  std::mt19937_64 rng(42);
  int answered = 0;
  for (int i = 0; i < 10000; ++i) {
    auto r = fast.Get(("/r" + std::to_string(rng()) + "/" + std::to_string(i)).c_str());
    answered += r && r->status == 404;
  }
  EXPECT_EQ(answered, 10000);
  for (int i = 0; i < 20; ++i) fast.Get(("/v1/jobs/" + std::to_string(1000 + i)).c_str(), auth());
  std::this_thread::sleep_for(200ms);  // the last requests counted (they add no series either way)
  EXPECT_EQ(series(), before) << "random paths and more ids added series:\n" << [&] {
    std::string out, body = client().Get("/metrics", auth())->body;
    for (size_t at = 0; (at = body.find("kiln_api_requests_total{", at)) != std::string::npos; ++at)
      out += body.substr(at, body.find('\n', at) - at) + "\n";
    return out;
  }();
  EXPECT_NE(client().Get("/metrics", auth())->body.find("route=\"GET /v1/jobs/{id}\""), std::string::npos);
}

TEST_F(Api, TokenOverItsRateGets429WithRetryAfter) {
  start_coordinator("rate_per_second = 0.05\nrate_burst = 3\n");
  std::string flood = token("read"), other = token("read");
  auto c = client();
  int ok = 0, limited = 0;
  for (int i = 0; i < 8; ++i) {
    auto r = c.Get("/v1/jobs", auth(flood));
    ASSERT_TRUE(r);
    if (r->status == 200) ++ok;
    if (r->status == 429) {
      ++limited;
      EXPECT_TRUE(r->has_header("Retry-After"));
      EXPECT_GE(std::stoi(r->get_header_value("Retry-After")), 1);
      EXPECT_NE(r->body.find("rate_limited"), std::string::npos);
    }
  }
  EXPECT_EQ(ok, 3) << "the burst";
  EXPECT_EQ(limited, 5);
  EXPECT_EQ(c.Get("/v1/jobs", auth(other))->status, 200) << "another token has its own bucket";
}

TEST_F(Api, RevokedAndExpiredTokensGet401) {
  start_coordinator();
  RunResult made = run_kiln({"token", "create", "--scope", "read", "--database", url_});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string by_id = made.out.substr(0, made.out.find('\n'));
  auto at = made.err.find("token id ");
  ASSERT_NE(at, std::string::npos) << made.err;
  std::string id = made.err.substr(at + 9, made.err.find(' ', at + 9) - at - 9);
  std::string by_value = token("read");
  auto c = client();
  EXPECT_EQ(c.Get("/v1/jobs", auth(by_id))->status, 200);
  EXPECT_EQ(c.Get("/v1/jobs", auth(by_value))->status, 200);
  EXPECT_EQ(run_kiln({"token", "revoke", id, "--database", url_}).exit_code, 0);
  EXPECT_EQ(run_kiln({"token", "revoke", by_value, "--database", url_}).exit_code, 0);
  EXPECT_NE(run_kiln({"token", "revoke", by_value, "--database", url_}).exit_code, 0) << "already revoked";
  EXPECT_EQ(c.Get("/v1/jobs", auth(by_id))->status, 401);
  EXPECT_EQ(c.Get("/v1/jobs", auth(by_value))->status, 401);

  EXPECT_NE(run_kiln({"token", "create", "--scope", "read", "--expires", "soon", "--database", url_}).exit_code, 0);
  std::string brief = token("read", {"--expires", "2s"});
  std::string lasting = token("read", {"--expires", "7d"});
  EXPECT_EQ(c.Get("/v1/jobs", auth(lasting))->status, 200);
  EXPECT_TRUE(eventually([&] { return client().Get("/v1/jobs", auth(brief))->status == 401; }, 30s));
  EXPECT_EQ(c.Get("/v1/jobs", auth(lasting))->status, 200);
}

TEST_F(Api, ConcurrentSubmitsWithOneKeyMakeOneJobAndAnotherSpecIs409) {
  start_coordinator();
  nlohmann::json spec = {{"input", "/media/a.mp4"}, {"output", "/out/a"}, {"delaySeconds", 3600}};
  std::vector<std::thread> threads;
  std::vector<int64_t> ids(8, -1);
  std::vector<int> codes(8, 0);
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto r = post_job(spec, "same-key");
      if (!r) return;
      codes[i] = r->status;
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && j.contains("id")) ids[i] = j["id"].get<int64_t>();
    });
  for (auto& t : threads) t.join();
  std::set<int64_t> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), 1u);
  EXPECT_EQ(*distinct.begin() > 0, true);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), 201), 1);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), 200), 7);
  {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM kiln_jobs WHERE idempotency_key = 'same-key'")[0][0].as<int>(), 1);
  }
  auto other = spec;
  other["output"] = "/out/b";
  expect_clean_error(post_job(other, "same-key"), 409, "idempotency_conflict");
}

TEST_F(Api, IdleEventStreamsAreCappedAndDoNotStarveTheApi) {
  start_coordinator("threads = 4\nmax_streams = 16\nstream_keepalive_seconds = 1\n");
  auto created = post_job({{"input", "/media/a.mp4"}, {"output", "/out/a"}, {"delaySeconds", 3600}});
  ASSERT_TRUE(created);
  int64_t id = nlohmann::json::parse(created->body)["id"].get<int64_t>();
  std::string path = "/v1/jobs/" + std::to_string(id) + "/events";
  std::atomic<int> opened{0}, refused{0}, keepalives{0}, cancelled_seen{0};
  std::vector<std::thread> streams;
  for (int i = 0; i < 20; ++i)
    streams.emplace_back([&] {
      httplib::Client sc("127.0.0.1", port_);
      sc.set_read_timeout(30);
      bool counted = false;
      std::string seen;
      auto r = sc.Get(path.c_str(), auth(),
                      [&](const httplib::Response& res) {
                        if (res.status == 200) ++opened;
                        if (res.status == 503 && res.has_header("Retry-After")) ++refused;
                        return true;
                      },
                      [&](const char* data, size_t n) {
                        seen.append(data, n);
                        if (!counted && seen.find(": keep-alive") != std::string::npos) {
                          counted = true;
                          ++keepalives;
                        }
                        return true;
                      });
      if (seen.find("event: cancelled") != std::string::npos) ++cancelled_seen;
    });
  ASSERT_TRUE(eventually([&] { return opened + refused == 20; }, 30s)) << opened << " " << refused;
  EXPECT_EQ(opened.load(), 16);
  EXPECT_EQ(refused.load(), 4);
  // Sixteen streams are open on four API threads' worth of pool: the API still answers.
  auto c = client();
  c.set_read_timeout(5);
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health) << "no answer from /healthz while streams are open";
  EXPECT_EQ(health->status, 200);
  auto second = post_job({{"input", "/media/b.mp4"}, {"output", "/out/b"}, {"delaySeconds", 3600}});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 201);
  EXPECT_TRUE(eventually([&] { return keepalives == 16; }, 30s)) << keepalives;
  // A cancel is an event: NOTIFY wakes every stream, which sends it and ends.
  auto cancel = c.Post(("/v1/jobs/" + std::to_string(id) + "/cancel").c_str(), auth(), "", "application/json");
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 202) << cancel->body;
  for (auto& t : streams) t.join();
  EXPECT_EQ(cancelled_seen.load(), 16);
  // The slots came back: a new stream on the (final) job opens and ends at once.
  auto again = client().Get(path.c_str(), auth());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_NE(again->body.find("event: submitted"), std::string::npos);
}

TEST_F(Api, NodeRoleCannotReadTokens) {
  start_coordinator();
  std::random_device rd;
  std::string role = "kiln_test_node_" + std::to_string(rd());
  admin("CREATE ROLE " + role + " LOGIN IN ROLE kiln_node");
  std::string node_url = url_;
  auto scheme = node_url.find("://") + 3;
  auto at = node_url.find('@', scheme);
  node_url = node_url.substr(0, scheme) + role + node_url.substr(at);
  {
    pqxx::connection conn(node_url);
    {
      pqxx::nontransaction tx(conn);
      EXPECT_GE(tx.exec("SELECT count(*) FROM kiln_jobs")[0][0].as<int>(), 0);
    }
    for (const char* q : {"SELECT count(*) FROM kiln_tokens",
                          "INSERT INTO kiln_tokens (hash, scope) VALUES ('\\x00', 'admin')"}) {
      pqxx::nontransaction tx(conn);
      EXPECT_THROW(tx.exec(q), pqxx::insufficient_privilege) << q;
    }
  }
  admin("DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
  admin("DROP ROLE IF EXISTS " + role);
}

}  // namespace
}  // namespace kiln::test
