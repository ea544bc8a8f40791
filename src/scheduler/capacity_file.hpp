#pragma once
// Measured device capacity: what `kiln bench --mode sweep --recommend` found each device
// sustains (output pixels per second at its best concurrency, and the encoder sessions at the
// most jobs it ran in real time), kept in a state file on the node
// ([node] capacity_file, default /var/lib/kiln/capacity.json). Placement prefers a configured
// figure (node.toml capacity / max_sessions), then this file, then the built-in estimate, and
// says which one it used.

#include <map>
#include <string>

#include "kiln/status.hpp"

namespace kiln::scheduler {

struct MeasuredDevice {
  std::string backend, id, pci_address, model;
  double capacity = 0;   // output pixels/s
  int sessions = 0;      // encoder sessions at the measured density (0 = not measured)
  int jobs = 0;          // the density: concurrent jobs at real time or faster
  std::string ladder;    // what was measured: "720p,480p of a 1920x1080 30 fps source"
};

struct Measurements {
  std::string measured_at;  // ISO 8601, UTC
  std::string command;      // the bench command line
  std::map<std::string, MeasuredDevice> devices;  // by "backend:id"
};

/// Reads a capacity file. A missing file is no measurements (an empty set, not an error); a
/// file that is not what bench writes is kUsage with the path and what is wrong.
Result<Measurements> load_measurements(const std::string& path);

/// Writes it atomically (temporary file, then rename).
Status save_measurements(const std::string& path, const Measurements& m);

}  // namespace kiln::scheduler
