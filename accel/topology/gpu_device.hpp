#pragma once
// A backend's Device for a GPU that discovery found: where it sits, copied from the topology.

#include <string>
#include <string_view>

#include "kiln/backend.hpp"
#include "kiln/topology.hpp"

namespace kiln {

inline Device device_from_gpu(const Gpu& g, std::string_view backend, std::string id) {
  Device d;
  d.backend = std::string(backend);
  d.id = std::move(id);
  d.pci_address = g.pci_address;
  d.vendor = g.vendor;
  d.model = g.model;
  d.driver = g.driver;
  d.render_node = g.render_node;
  d.cuda_index = g.cuda_index;
  d.numa_node = g.numa_node;
  d.local_cpus = g.local_cpus;
  return d;
}

/// The health line of a device listed from a topology file: a plan, not a probe.
inline std::string planned_health(const Topology& t) {
  return "planned (from " + t.source + "; not probed)";
}

}  // namespace kiln
