#include "console/console_cluster.hpp"

#include <signal.h>

#include <fstream>
#include <random>
#include <sstream>

#include <pqxx/pqxx>

namespace kiln::test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {
std::string cluster_url() { return read_pg_url(KILN_PG_DIR); }
void admin_sql(const std::string& q) {
  pqxx::connection c(cluster_url());
  pqxx::nontransaction tx(c);
  tx.exec(q);
}
}  // namespace

void ConsoleCluster::SetUp() {
  std::random_device rd;
  db_name_ = "kiln_console_" + std::to_string(rd()) + std::to_string(rd());
  admin_sql("CREATE DATABASE " + db_name_);
  url_ = cluster_url();
  url_ = url_.substr(0, url_.rfind('/') + 1) + db_name_;
  deadline_ = std::make_unique<TestDeadline>(std::chrono::seconds(270), [this] { print_service_logs(tmp_.path()); });
}

void ConsoleCluster::TearDown() {
  for (int pid : pids_) {
    kill(pid, SIGKILL);
    wait_exit(pid);
  }
  if (HasFailure()) print_service_logs(tmp_.path());
  try {
    admin_sql("DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
  } catch (...) {
  }
}

void ConsoleCluster::start_coordinator(const std::string& console_toml, const std::string& extra) {
  fs::path cfg = tmp_ / "coordinator.toml";
  std::string console = console_toml.empty()
                            ? "[console]\nupload_location = \"work\"\nchunk_bytes = 262144\nladders = [\"360p,240p\", \"720p,480p\"]\n"
                            : console_toml;
  std::ofstream(cfg) << test_locations(tmp_.path()) << "[database]\nurl = \"" << url_
                     << "\"\n[api]\nlisten = \"127.0.0.1:0\"\nrate_per_second = 0\nmax_body_bytes = 4096\n"
                     << "stream_keepalive_seconds = 1\n"
                     << "[chores]\nreap_interval_seconds = 0.5\nnode_timeout_seconds = 3\nretry_base_seconds = 1\n"
                     << console << extra;
  fs::path logs = tmp_ / "coordinator";
  fs::create_directories(logs);
  pids_.push_back(spawn_kiln({"coordinator", "--config", cfg.string()}, logs));
  ASSERT_TRUE(eventually([&] { return read_file(logs / "stdout").find("listening on") != std::string::npos; }, 20s))
      << read_file(logs / "stderr");
  std::string out = read_file(logs / "stdout");
  port_ = std::stoi(out.substr(out.rfind(':') + 1));
  admin_token_ = make_token("admin");
}

int ConsoleCluster::start_node(const std::string& name) {
  fs::path cfg = tmp_ / (name + ".toml");
  std::ofstream(cfg) << test_locations(tmp_.path()) << "[database]\nurl = \"" << url_ << "\"\n[node]\nname = \"" << name
                     << "\"\nmax_jobs = 1\nsoftware_slots = 1\nlease_seconds = 3\nheartbeat_seconds = 0.5\n"
                     << "retry_base_seconds = 1\ndrain_seconds = 5\n";
  fs::path logs = tmp_ / name;
  fs::create_directories(logs);
  int pid = spawn_kiln({"node", "--config", cfg.string()}, logs);
  pids_.push_back(pid);
  EXPECT_TRUE(eventually([&] { return read_file(logs / "stdout").find("ready") != std::string::npos; }, 20s))
      << read_file(logs / "stderr");
  return pid;
}

std::string ConsoleCluster::make_token(const std::string& scope) {
  RunResult t = run_kiln({"token", "create", "--scope", scope, "--database", url_});
  EXPECT_EQ(t.exit_code, 0) << t.err;
  return t.out.substr(0, t.out.find('\n'));
}

httplib::Client ConsoleCluster::client() const {
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(30);
  return c;
}

ConsoleCluster::Session ConsoleCluster::sign_in(const std::string& token, const httplib::Headers& extra) {
  auto r = client().Post("/console/session", extra, nlohmann::json{{"token", token}}.dump(), "application/json");
  Session s;
  EXPECT_TRUE(r);
  if (!r) return s;
  EXPECT_EQ(r->status, 201) << r->body;
  s.set_cookie = r->get_header_value("Set-Cookie");
  s.cookie = s.set_cookie.substr(0, s.set_cookie.find(';'));
  auto body = nlohmann::json::parse(r->body, nullptr, false);
  if (body.is_object()) s.csrf = body.value("csrf", "");
  return s;
}

httplib::Headers ConsoleCluster::with(const Session& s, bool csrf) const {
  httplib::Headers h{{"Cookie", s.cookie}};
  if (csrf) h.emplace("X-Kiln-CSRF", s.csrf);
  return h;
}

double ConsoleCluster::metric(const std::string& series) {
  auto r = client().Get("/metrics", bearer(admin_token_));
  if (!r) return 0;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return 0;
}

nlohmann::json ConsoleCluster::job(int64_t id) {
  auto r = client().Get(("/v1/jobs/" + std::to_string(id)).c_str(), bearer(admin_token_));
  return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json();
}

}  // namespace kiln::test
