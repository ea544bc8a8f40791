#pragma once
// coordinator.toml: the database, the API's address, chores, and where alerts go.

#include <string>
#include <vector>

#include "kiln/status.hpp"

namespace kiln::coordinator {

struct Receiver {
  std::string name;                 // also the delivery key: each receiver gets every event once
  std::string type;                 // webhook, slack, alertmanager
  std::string url;                  // webhook/slack: the URL; alertmanager: its base URL
  std::vector<std::string> events;  // event kinds routed here
  double resend_seconds = 60;       // alertmanager: re-send firing alerts this often
};

struct Config {
  std::string database_url;
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;           // 0: any free port (printed at start)
  size_t max_body_bytes = 64 * 1024;
  double reap_interval_seconds = 5;
  double node_timeout_seconds = 30;
  double delivery_interval_seconds = 1;
  double retry_base_seconds = 15;   // backoff after a lost lease: base * 2^(attempt-1), jittered
  std::vector<Receiver> receivers;
};

Result<Config> load_config(const std::string& path);
Result<Config> parse_config(std::string_view text, std::string_view origin);

}  // namespace kiln::coordinator
