#pragma once
// What the machine is made of, as discovery (accel/topology: hwloc + libdrm) saw it: the GPUs
// on the PCI bus, where they sit (NUMA node, the CPUs local to them) and the OS devices that
// lead to them (DRM render nodes, CUDA indices). Plain data; read from this machine or from a
// saved hwloc XML (`lstopo --of xml`), so a server can be planned from anywhere.

#include <string>
#include <vector>

#include "kiln/status.hpp"

namespace kiln {

struct NumaNode {
  int os_index = 0;
  std::string cpus;            // hwloc list syntax: "0-7,16-23"
};

struct Gpu {
  std::string pci_address;     // "0000:3b:00.0": the stable identity of a GPU
  unsigned vendor_id = 0;      // 0x8086 Intel, 0x10de NVIDIA, 0x1002 AMD
  unsigned device_id = 0;
  unsigned class_id = 0;       // 0x0300 VGA, 0x0302 3D, 0x0380 display
  std::string vendor;          // "intel", "nvidia", "amd", or the hex id
  std::string model;           // from hwloc (GPUModel) or the PCI id table; may be empty
  int numa_node = -1;          // OS index of the nearest NUMA node; -1 when unknown
  std::string local_cpus;      // hwloc list syntax of the CPUs local to the device
  std::string render_node;     // "/dev/dri/renderD128", or empty
  std::string card_node;       // "/dev/dri/card0", or empty
  int cuda_index = -1;         // as hwloc's CUDA OS device names it; -1 when none
  std::string driver;          // kernel driver from libdrm ("i915", "amdgpu", "nvidia"), if known
};

struct Topology {
  std::string source;          // "this machine" or the XML path
  bool from_file = false;      // devices cannot be opened: what is listed is a plan
  int packages = 0;
  int cores = 0;
  int pus = 0;                 // hardware threads
  std::string all_cpus;        // hwloc list syntax
  std::vector<NumaNode> numa_nodes;
  std::vector<Gpu> gpus;       // in PCI order
};

/// Loads this machine's topology (xml_path empty) or a saved hwloc XML. On this machine,
/// libdrm adds render nodes and kernel drivers that hwloc did not see. Never fails for lack of
/// GPUs; fails (kUsage) for an XML file that cannot be read or parsed.
Result<Topology> load_topology(const std::string& xml_path);

/// "intel", "nvidia", "amd" for the vendors Kiln knows, else the id as "0x1234".
std::string vendor_name(unsigned vendor_id);

}  // namespace kiln

namespace kiln {

/// What binding a job's process did: the CPUs and NUMA node asked for, what was applied, and a
/// line for the job's log and result ("CPUs 0-1 (of 0-7 asked; ...), memory preferred on NUMA
/// node 0").
struct Binding {
  std::string cpus_wanted;
  int numa_wanted = -1;
  std::string cpus;       // applied ("" = not bound)
  int numa = -1;          // memory preferred there (-1 = not bound)
  std::string note;
};

/// Binds the whole process (every thread it has, and those it starts later) to `cpus` (hwloc
/// list syntax), as far as this process may run there, and prefers NUMA node `numa_node` for
/// its memory when >= 0. Needs no topology: the node computed the sets from the one it loaded.
/// Never fails a job: what could not be applied is said in the note.
Binding bind_process(const std::string& cpus, int numa_node);

}  // namespace kiln
