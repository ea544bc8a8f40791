#pragma once
// The node's device ledger: every device the node found, with the jobs placed on it, the
// encoder sessions they hold and their load (output pixels per second) against its capacity.
// One per node. Placement reads it and reserves in one step, so two jobs placed at once can
// never both take a device's last session; a job gives its place back when it ends, however
// it ends. Caps (max_sessions, software_slots) are enforced here and nowhere else.
//
// Thread-safe. Every change is mirrored in kiln_device_jobs, kiln_device_sessions and
// kiln_device_load_ratio (label device = "backend:id").

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/status.hpp"
#include "scheduler/placement.hpp"

namespace kiln::scheduler {

class DeviceHealth;

/// Where a placed job goes: the devices to try in order (the first is the one reserved; the
/// rest are its fallbacks, not reserved), and where its threads and memory go.
struct Placement {
  std::vector<std::string> order;  // "backend:id"
  std::string bind_cpus;
  int bind_numa = -1;
  std::string why;                 // for the job's log
};

class Ledger {
 public:
  Ledger() = default;
  explicit Ledger(std::vector<Slot> slots);

  /// New devices (hotplug rediscovery). Reservations of devices that are still there stay.
  void set_slots(std::vector<Slot> slots);

  /// Places job `job` and reserves its sessions, a job slot and its load on the best device
  /// among `candidates` ("backend:id", in the fallback chain's order; empty: any). kBusy,
  /// saying why for each device, when none can take it now (caps, quarantine, pins). Placing
  /// a job that already holds a place moves it.
  Result<Placement> place(int64_t job, const Demand& demand, const std::vector<std::string>& candidates,
                          const DeviceHealth* health);

  /// The job runs on `key` now (a fallback moved it): its reservation follows, so the ledger
  /// says where the work really is. Unknown keys and jobs are ignored.
  void moved(int64_t job, const std::string& key);

  /// The job ended: everything it held is free again. A job holding nothing is a no-op.
  void release(int64_t job);

  /// How many more jobs could be placed now if each needed one session (INT32_MAX when some
  /// usable device has no cap): the claim loop claims only while this is positive. CPU-emulated
  /// devices (lavapipe) do not count: only a job that names one runs there.
  int room(const DeviceHealth* health) const;

  /// The slots with their live jobs, sessions and load.
  std::vector<Slot> snapshot() const;

 private:
  struct Held {
    std::string key;
    int sessions = 0;
    double load = 0;
  };
  Slot* find(const std::string& key);
  void add(const Held& h, int sign);
  void publish(const Slot& s) const;

  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  std::map<int64_t, Held> held_;
};

/// "backend:id", the key of a device everywhere in the node (ledger, health, metrics).
std::string device_key(const Device& d);

}  // namespace kiln::scheduler
