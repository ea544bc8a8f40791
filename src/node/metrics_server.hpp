#pragma once
// The node's /metrics, /healthz, /readyz and /devices (the live device ledger, as JSON) on
// metrics_listen (its own thread).

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "kiln/status.hpp"

namespace httplib {
class Server;
}

namespace kiln::node {

class MetricsServer {
 public:
  /// `ready` answers /readyz: 200 while it is true (the database is reachable), else 503.
  /// `devices` answers /devices (a JSON array as text); without it /devices is 404.
  explicit MetricsServer(std::function<bool()> ready, std::function<std::string()> devices = {});
  ~MetricsServer();
  /// Serves on "host:port"; kIo if it cannot bind (the node goes on without it).
  Status start(const std::string& listen);
  void stop();

 private:
  std::function<bool()> ready_;
  std::function<std::string()> devices_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace kiln::node
