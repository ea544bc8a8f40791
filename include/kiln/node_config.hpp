#pragma once
// The node's device-pinning config (config/node.toml): which devices a node uses, how many
// sessions each takes, which codecs, and where a job's threads and memory go.

#include <string>
#include <vector>

#include "kiln/backend.hpp"
#include "kiln/status.hpp"

namespace kiln {

enum class NumaPolicy {
  kLocal,   // bind a job's threads and memory to the device's NUMA node (the default)
  kCpus,    // bind to an explicit CPU list
  kNone,    // no binding
};

/// One [[device]] block. A device matches when every match key given matches.
struct DeviceRule {
  std::string match_pci;          // "0000:4d:00.0"
  std::string match_render_node;  // "/dev/dri/renderD128" or "renderD128"
  std::string match_vendor;       // "intel", "nvidia", "amd"
  std::string match_backend;      // "vaapi", "qsv", "nvenc", "vulkan", "software"
  bool enabled = true;
  int max_sessions = 0;           // 0 = the device's own limit (or none)
  std::vector<std::string> codecs;  // encode codecs allowed here; empty = any it has
  NumaPolicy numa = NumaPolicy::kLocal;
  std::string cpus;               // with numa = "cpus": hwloc list syntax, "0-7,16-23"
  double capacity = 0;            // output pixels/s the device sustains; 0 = backend default
  std::string origin;             // "node.toml: device #2", for messages
};

struct NodeConfig {
  std::string name;               // node name (default: the host name)
  std::string database_url;       // [database] url (kiln node)
  std::vector<std::string> queues{"default"};
  int max_jobs = 0;               // concurrent jobs; 0 = usable hardware devices + software slots
  double lease_seconds = 30;      // a claim's lease, renewed by every heartbeat
  double heartbeat_seconds = 2;   // progress and lease renewal
  double drain_seconds = 30;      // on SIGTERM: finish running jobs this long, then hand back
  double retry_base_seconds = 15; // backoff after a failed attempt: base * 2^(attempt-1), jittered
  std::string metrics_listen;     // "127.0.0.1:9464" serves /metrics; "" = off
  int software_slots = -1;        // concurrent software jobs; -1 = measured (capacity_file), else
                                  // one per 4 CPU threads, min 1
  // What kiln bench measured on this node (kiln bench --mode sweep --recommend writes it).
  std::string capacity_file = "/var/lib/kiln/capacity.json";
  int strikes = 3;                // failures within strike_window_seconds that quarantine
  int strike_window_seconds = 600;
  // Each job runs in a worker process (`kiln worker`); the node kills it past these limits.
  double worker_memory_mb = 4096;       // resident + data memory of one worker; 0 = no limit
  double worker_wall_factor = 10;       // wall-clock limit: this many times the input's duration,
  double worker_wall_min_seconds = 600; // but never less than this; 0 and 0 = no limit
  double worker_kill_grace_seconds = 10;  // cancel: SIGTERM, then SIGKILL after this long
  // Where a worker stages an s3:// input and builds the ladder for an s3:// output.
  std::string scratch_dir = "/var/lib/kiln/scratch";
  std::vector<DeviceRule> devices;
};

/// Parses node.toml text; errors (kUsage) name the file, block and key.
Result<NodeConfig> parse_node_config(std::string_view toml_text, std::string_view origin);
Result<NodeConfig> load_node_config(const std::string& path);

/// The first rule that matches `device`, or nullptr (the device is used with defaults).
const DeviceRule* rule_for(const NodeConfig& config, const Device& device);

}  // namespace kiln
