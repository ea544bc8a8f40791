#pragma once
// Watches DRM devices come and go (libudev monitor on the drm subsystem) so the node can run
// discovery again when a GPU is added, removed or reset.

#include <memory>
#include <string>

#include "kiln/status.hpp"

namespace kiln::node {

class HotplugMonitor {
 public:
  HotplugMonitor();
  ~HotplugMonitor();
  /// Starts listening. Fails (kUnsupported) where udev events cannot be received (a container
  /// without the netlink socket): the node then only sees devices present at start.
  Status start();
  /// Drains pending events without blocking; true if any DRM device was added, removed or
  /// changed since the last call. `what` gets a line for the log.
  bool changed(std::string* what);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::node
