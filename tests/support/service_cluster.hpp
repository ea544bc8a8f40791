#pragma once
// Kiln as a service for a test: a database of its own on the throwaway PostgreSQL cluster,
// coordinators and nodes as real processes (their logs under the test's directory), tokens,
// an HTTP client for the API, /metrics values, and SQL for what only the database shows.
// Everything it started is killed, and the database dropped, when it goes.

#include <httplib.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::test {

class ServiceCluster {
 public:
  /// `dir`: the test's directory (configs and logs go there; it is also the `work` location).
  /// `pg_dir`: the cluster pg_cluster.sh started.
  ServiceCluster(std::filesystem::path dir, const std::filesystem::path& pg_dir);
  ~ServiceCluster();
  ServiceCluster(const ServiceCluster&) = delete;
  ServiceCluster& operator=(const ServiceCluster&) = delete;

  const std::string& url() const { return url_; }
  const std::filesystem::path& dir() const { return dir_; }

  /// Writes coordinator.toml (the test locations, [database], [api] on `port` (0: any) with
  /// the rate limit off, fast chores, then `extra`) and starts a coordinator; returns its pid
  /// once it listens (port() then answers). Throws when it does not come up.
  int start_coordinator(const std::string& extra = "", int port = 0, const std::string& name = "coordinator");
  /// Starts a node daemon on the same database; returns its pid once it is ready.
  int start_node(const std::string& name, const std::string& extra = "");
  /// SIGTERM and wait (a clean stop); SIGKILL when `crash`.
  void stop(int pid, bool crash = false);
  int port() const { return port_; }

  /// A new token (kiln token create).
  std::string token(const std::string& scope);
  const std::string& admin_token();

  httplib::Client client() const;
  httplib::Headers auth(const std::string& token = "");
  /// GET a JSON document with the admin token; null when it is not 200.
  nlohmann::json get(const std::string& path);
  /// /metrics: the sum of every series of `name` whose labels contain `label_filter` (e.g.
  /// rule="uploads"); 0 when there is none.
  double metric(const std::string& name, const std::string& label_filter = "");

  /// Runs SQL on the test's database; the first column of the first row as text ("" if none).
  std::string sql(const std::string& query) const;
  long long count(const std::string& query) const {
    std::string v = sql(query);
    return v.empty() ? 0 : std::stoll(v);
  }

  /// The stderr of a process started here (by name: the latest one of that name; a restarted
  /// one's earlier logs are in NAME.before-N).
  std::string log(const std::string& name) const;
  void print_logs() const;

 private:
  std::filesystem::path dir_;
  std::string cluster_url_, db_name_, url_, admin_token_;
  int port_ = 0;
  std::vector<int> pids_;
};

}  // namespace kiln::test
