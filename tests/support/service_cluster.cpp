#include "support/service_cluster.hpp"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <pqxx/pqxx>

#include "support/run.hpp"

namespace kiln::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
void admin_sql(const std::string& cluster_url, const std::string& q) {
  pqxx::connection c(cluster_url);
  pqxx::nontransaction tx(c);
  tx.exec(q);
}
}  // namespace

ServiceCluster::ServiceCluster(fs::path dir, const fs::path& pg_dir) : dir_(std::move(dir)) {
  cluster_url_ = read_pg_url(pg_dir);
  std::random_device rd;
  db_name_ = "kiln_svc_" + std::to_string(rd()) + std::to_string(rd());
  admin_sql(cluster_url_, "CREATE DATABASE " + db_name_);
  url_ = cluster_url_.substr(0, cluster_url_.rfind('/') + 1) + db_name_;
}

ServiceCluster::~ServiceCluster() {
  for (int pid : pids_) {
    ::kill(pid, SIGKILL);
    wait_exit(pid);
  }
  try {
    admin_sql(cluster_url_, "DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
  } catch (...) {
  }
}

int ServiceCluster::start_coordinator(const std::string& extra, int port, const std::string& name) {
  fs::path cfg = dir_ / (name + ".toml");
  std::ofstream(cfg) << test_locations(dir_) << "[database]\nurl = \"" << url_ << "\"\n"
                     << "[api]\nlisten = \"127.0.0.1:" << port << "\"\nrate_per_second = 0\nmax_body_bytes = 8192\n"
                     << "[chores]\nreap_interval_seconds = 0.5\nnode_timeout_seconds = 3\nretry_base_seconds = 1\n"
                     << "delivery_interval_seconds = 0.2\ndelivery_retry_seconds = 0.5\n"
                     << extra;
  fs::path logs = dir_ / name;
  // A restart under the same name: the last process's logs move aside (kept for a failure's
  // report), so nothing here reads the old "listening on" before the new process writes its own.
  for (int n = 1; fs::exists(logs); ++n)
    if (!fs::exists(dir_ / (name + ".before-" + std::to_string(n)))) fs::rename(logs, dir_ / (name + ".before-" + std::to_string(n)));
  fs::create_directories(logs);
  int pid = spawn_kiln({"coordinator", "--config", cfg.string()}, logs);
  pids_.push_back(pid);
  if (!eventually([&] { return read_file(logs / "stdout").find("listening on") != std::string::npos; }, 30s))
    throw std::runtime_error("the coordinator did not start: " + read_file(logs / "stderr"));
  std::string out = read_file(logs / "stdout");
  port_ = std::stoi(out.substr(out.rfind(':') + 1));
  return pid;
}

int ServiceCluster::start_node(const std::string& name, const std::string& extra) {
  fs::path cfg = dir_ / (name + ".toml");
  std::ofstream(cfg) << test_locations(dir_) << "[database]\nurl = \"" << url_ << "\"\n[node]\nname = \"" << name
                     << "\"\nmax_jobs = 1\nsoftware_slots = 1\nlease_seconds = 3\nheartbeat_seconds = 0.5\n"
                     << "retry_base_seconds = 1\ndrain_seconds = 30\n" << extra;
  fs::path logs = dir_ / name;
  fs::create_directories(logs);
  int pid = spawn_kiln({"node", "--config", cfg.string()}, logs);
  pids_.push_back(pid);
  if (!eventually([&] { return read_file(logs / "stdout").find("ready") != std::string::npos; }, 30s))
    throw std::runtime_error("node " + name + " did not start: " + read_file(logs / "stderr"));
  return pid;
}

void ServiceCluster::stop(int pid, bool crash) {
  ::kill(pid, crash ? SIGKILL : SIGTERM);
  wait_exit(pid);
  pids_.erase(std::remove(pids_.begin(), pids_.end(), pid), pids_.end());
}

std::string ServiceCluster::token(const std::string& scope) {
  RunResult t = run_kiln({"token", "create", "--scope", scope, "--database", url_});
  if (t.exit_code != 0) throw std::runtime_error("kiln token create: " + t.err);
  return t.out.substr(0, t.out.find('\n'));
}

const std::string& ServiceCluster::admin_token() {
  if (admin_token_.empty()) admin_token_ = token("admin");
  return admin_token_;
}

httplib::Client ServiceCluster::client() const {
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(30);
  return c;
}

httplib::Headers ServiceCluster::auth(const std::string& token) {
  return {{"Authorization", "Bearer " + (token.empty() ? admin_token() : token)}};
}

nlohmann::json ServiceCluster::get(const std::string& path) {
  auto r = client().Get(path.c_str(), auth());
  return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json();
}

double ServiceCluster::metric(const std::string& name, const std::string& label_filter) {
  auto r = client().Get("/metrics", auth());
  if (!r || r->status != 200) return 0;
  std::istringstream in(r->body);
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0) continue;
    char next = line.size() > name.size() ? line[name.size()] : ' ';
    if (next != '{' && next != ' ') continue;  // another metric whose name starts with this one
    size_t space = line.rfind(' ');
    if (!label_filter.empty() && line.substr(0, space).find(label_filter) == std::string::npos) continue;
    sum += std::stod(line.substr(space + 1));
  }
  return sum;
}

std::string ServiceCluster::sql(const std::string& query) const {
  pqxx::connection c(url_);
  pqxx::nontransaction tx(c);
  auto r = tx.exec(query);
  return r.empty() || r[0][0].is_null() ? std::string() : std::string(r[0][0].c_str());
}

std::string ServiceCluster::log(const std::string& name) const { return read_file(dir_ / name / "stderr"); }

void ServiceCluster::print_logs() const { print_service_logs(dir_); }

}  // namespace kiln::test
