#pragma once
// What the node does when a DRM device comes, goes or changes (HotplugMonitor): discovery runs
// again, the node's device list and ledger take the new devices, and the list is registered
// with the database as soon as it can be. A discovery that fails is tried again on the next
// round (the event is not lost); a registration that fails, or that waits out a database
// outage, is tried again every round until it succeeds. Driven once per heartbeat round.
// Not thread-safe: the heartbeat thread only.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/backend.hpp"
#include "kiln/status.hpp"

namespace kiln::node {

class Rediscovery {
 public:
  struct Hooks {
    std::function<bool(std::string* what)> changed;                // HotplugMonitor::changed
    std::function<Result<std::vector<Device>>()> discover;         // hwloc + every backend's probe
    std::function<void(std::shared_ptr<const std::vector<Device>>)> apply;  // devices and ledger
  };
  explicit Rediscovery(Hooks hooks) : hooks_(std::move(hooks)) {}

  /// One round. `register_devices` registers the current list with the database; nullptr
  /// while the database is unreachable (the registration then waits for a later round).
  void round(const std::function<Status()>* register_devices);

  /// A discovery or a registration still owed from an earlier event.
  bool owed() const { return discovery_due_ || registration_due_; }

 private:
  Hooks hooks_;
  bool discovery_due_ = false;
  bool registration_due_ = false;
  std::string what_;
};

}  // namespace kiln::node
