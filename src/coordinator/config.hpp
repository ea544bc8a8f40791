#pragma once
// coordinator.toml: the database, the API's address, chores, where alerts go, and which uploads
// become jobs ([[watch]]).

#include <string>
#include <vector>

#include "coordinator/ingest/watch_rule.hpp"
#include "kiln/status.hpp"
#include "storage/location.hpp"

namespace kiln::coordinator {

struct Receiver {
  std::string name;                 // also the delivery key: each receiver gets every event once
  std::string type;                 // webhook, slack, alertmanager
  std::string url;                  // webhook/slack: the URL; alertmanager: its base URL
  std::vector<std::string> events;  // event kinds routed here
  double resend_seconds = 60;       // alertmanager: re-send firing alerts this often
};

/// [console]: the web console and its uploads (src/console/).
struct ConsoleConfig {
  bool enabled = true;
  std::string upload_location;           // a [[location]] name; "" = the first location
  std::string upload_prefix = "uploads/";  // uploads land at LOCATION:PREFIX<upload id>/<file name>
  std::string output_prefix = "outputs/";  // outputs go to OUTPUT_LOCATION:PREFIX<upload id>/
  int64_t max_upload_bytes = int64_t{20} << 30;
  double upload_expiry_hours = 24;       // an unfinished upload is deleted this long after it began
  size_t chunk_bytes = 16 << 20;         // the largest PATCH body the tus server reads
  double session_hours = 12;             // a session ends this long after sign-in (or with its token)
  std::vector<std::string> ladders = {"720p,480p", "720p", "480p"};  // offered in the upload form
  std::string assets;                    // the console's files; "" = found beside the binary
  std::string secure_cookie = "auto";    // auto (Secure when the request came over TLS), always, never
  double probe_timeout_seconds = 60;     // checking a finished upload (kiln probe in a child process)
};

struct Config {
  std::string database_url;
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;           // 0: any free port (printed at start)
  size_t max_body_bytes = 64 * 1024;
  int api_threads = 8;              // worker threads for ordinary requests (streams get their own)
  int max_streams = 16;             // concurrent SSE streams; past it 503 + Retry-After
  double stream_keepalive_seconds = 15;  // an SSE comment line this often on an idle stream
  double rate_per_second = 20;      // per-token token bucket: refill rate (0: no limit)
  double rate_burst = 40;           //   and bucket size
  bool metrics_need_token = true;   // /metrics asks for a read token unless false
  double reap_interval_seconds = 5;
  double node_timeout_seconds = 30;
  double delivery_interval_seconds = 1;
  double retry_base_seconds = 15;   // backoff after a lost lease: base * 2^(attempt-1), jittered
  int delivery_max_attempts = 8;    // failed tries of one event before it is dead-lettered
  double delivery_retry_seconds = 5;  // first retry of a failed delivery; doubles, capped at 1 h
  double event_retention_days = 30;   // events (and dead letters) older than this are deleted; 0 keeps all
  double job_retention_days = 30;     // finished jobs older than this are deleted; 0 keeps all
  int retention_batch_rows = 1000;    // at most this many rows per table per chore round
  std::vector<Receiver> receivers;
  ConsoleConfig console;
  storage::Locations locations;  // [[location]]: where job paths may lie (none: every submit is refused)
  std::vector<ingest::WatchRule> watches;  // [[watch]]: uploads that become jobs
};

Result<Config> load_config(const std::string& path);
Result<Config> parse_config(std::string_view text, std::string_view origin);

}  // namespace kiln::coordinator
