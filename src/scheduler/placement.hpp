#pragma once
// Placement: which device a job runs on. Pinned devices (named by a [[device]] rule or by the
// job) first, then devices that can encode what the job asks, then least load relative to
// capacity, where cost is output pixels per second. A job's threads and memory stay on its
// device's NUMA node unless the config says otherwise.

#include <optional>
#include <string>
#include <vector>

#include "kiln/backend.hpp"
#include "kiln/ladder.hpp"
#include "kiln/node_config.hpp"
#include "kiln/topology.hpp"
#include "scheduler/capacity_file.hpp"

namespace kiln::scheduler {

class DeviceHealth;

/// A device as the scheduler sees it: what it is, what the config makes of it, what it runs.
struct Slot {
  Device device;
  std::optional<DeviceRule> rule;    // the config block that matched, if any
  bool enabled = true;
  int max_sessions = 0;              // encoder sessions at once; 0 = no cap
  int max_jobs = 0;                  // jobs at once; 0 = no cap (software: its slots)
  std::vector<std::string> codecs;   // encode codecs it may run
  double capacity = 0;               // output pixels/s it sustains
  std::string capacity_source;       // "configured" (node.toml), "measured" (kiln bench), "estimate"
  std::string bind_cpus;             // where a job's threads go ("" = anywhere)
  int bind_numa = -1;                // and its memory (-1 = anywhere)
  int jobs = 0;                      // running now
  int sessions = 0;
  double load = 0;                   // output pixels/s of the jobs running now
};

struct Demand {
  std::string selector;              // the job's own pin (--device); "" = any device
  std::string codec = "h264";
  int sessions = 1;                  // encoder sessions: one per rendition
  double pixels_per_second = 0;      // output pixels/s at real time
};

struct Choice {
  size_t slot = 0;
  std::string why;                   // "pinned by node.toml: device #1, load 0.12", for logs
};

/// Capacity a device is assumed to have when the config gives none (output pixels/s).
double default_capacity(const Device& device);

/// One slot per discovered device, shaped by the config (rules, software slots, NUMA policy)
/// and, where the config gives no figure, by what kiln bench measured (`measured`, may be null).
std::vector<Slot> make_slots(const std::vector<Device>& devices, const NodeConfig& config,
                             const Measurements* measured = nullptr);

/// Every slot that can take the job now, best first. Each slot left out adds a line to
/// `left_out` saying why (disabled, codec, session or job cap, quarantined, not selected).
std::vector<Choice> rank(const Demand& demand, const std::vector<Slot>& slots,
                         const DeviceHealth* health, std::vector<std::string>* left_out);

}  // namespace kiln::scheduler
