// Discovery of GPUs and where they sit: hwloc for PCI devices, NUMA nodes, local CPU sets and
// OS devices; libdrm for render nodes and kernel drivers on this machine.

#include "kiln/topology.hpp"

#include <fcntl.h>
#include <linux/mempolicy.h>
#include <sched.h>
#include <sys/syscall.h>
#include <hwloc.h>
#include <unistd.h>
#include <xf86drm.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <array>
#include <cstdlib>
#include <fmt/format.h>
#include <filesystem>
#include <memory>

#include "log.hpp"

namespace kiln {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
using TopologyPtr = std::unique_ptr<hwloc_topology, TopologyDeleter>;

struct BitmapStringDeleter {
  void operator()(char* s) const { std::free(s); }
};

std::string cpu_list(hwloc_const_bitmap_t set) {
  if (!set) return "";
  char* raw = nullptr;
  if (hwloc_bitmap_list_asprintf(&raw, set) < 0) return "";
  std::unique_ptr<char, BitmapStringDeleter> s(raw);
  return s.get();
}

struct VendorRow {
  unsigned id;
  const char* name;
};
constexpr std::array kVendors = {VendorRow{0x8086, "intel"}, VendorRow{0x10de, "nvidia"},
                                 VendorRow{0x1002, "amd"}};

// Models hwloc does not name itself (it names NVIDIA GPUs through its CUDA/NVML OS devices).
struct ModelRow {
  unsigned vendor, device;
  const char* model;
};
constexpr std::array kModels = {
    ModelRow{0x8086, 0x56c0, "Intel Data Center GPU Flex 170"},
    ModelRow{0x8086, 0x56c1, "Intel Data Center GPU Flex 140"},
    ModelRow{0x8086, 0xa780, "Intel UHD Graphics 770"},
    ModelRow{0x8086, 0x4680, "Intel UHD Graphics 770"},
    ModelRow{0x10de, 0x27b8, "NVIDIA L4"},
    ModelRow{0x10de, 0x27b0, "NVIDIA RTX 4000 SFF Ada Generation"},
    ModelRow{0x10de, 0x2330, "NVIDIA H100 80GB HBM3"},
    ModelRow{0x10de, 0x2335, "NVIDIA H200"},
};

bool is_gpu_class(unsigned class_id) {
  // 0x0300 VGA, 0x0302 3D controller, 0x0380 display controller (e.g. Intel Flex).
  return (class_id >> 8) == 0x03;
}

int numa_node_of(hwloc_topology_t t, hwloc_obj_t ancestor) {
  if (!ancestor || !ancestor->nodeset) return -1;
  hwloc_obj_t node = nullptr;
  while ((node = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, node)))
    if (hwloc_bitmap_isincluded(node->nodeset, ancestor->nodeset)) return node->os_index;
  return -1;
}

void read_os_devices(hwloc_obj_t pci, Gpu& gpu) {
  for (hwloc_obj_t child = pci->io_first_child; child; child = child->next_sibling) {
    if (child->type != HWLOC_OBJ_OS_DEVICE || !child->name) continue;
    std::string name = child->name;
    const char* subtype = child->subtype;
    if (name.rfind("renderD", 0) == 0) gpu.render_node = "/dev/dri/" + name;
    else if (name.rfind("card", 0) == 0) gpu.card_node = "/dev/dri/" + name;
    else if (subtype && std::string_view(subtype) == "CUDA" && name.rfind("cuda", 0) == 0)
      gpu.cuda_index = std::atoi(name.c_str() + 4);
    if (const char* model = hwloc_obj_get_info_by_name(child, "GPUModel"); model && gpu.model.empty())
      gpu.model = model;
  }
}

Gpu describe_pci(hwloc_topology_t t, hwloc_obj_t pci) {
  const auto& a = pci->attr->pcidev;
  Gpu gpu;
  gpu.pci_address = fmt::format("{:04x}:{:02x}:{:02x}.{:x}", a.domain, a.bus, a.dev, a.func);
  gpu.vendor_id = a.vendor_id;
  gpu.device_id = a.device_id;
  gpu.class_id = a.class_id;
  gpu.vendor = vendor_name(a.vendor_id);
  hwloc_obj_t ancestor = hwloc_get_non_io_ancestor_obj(t, pci);
  gpu.local_cpus = ancestor ? cpu_list(ancestor->cpuset) : "";
  gpu.numa_node = numa_node_of(t, ancestor);
  read_os_devices(pci, gpu);
  if (gpu.model.empty())
    if (const char* m = hwloc_obj_get_info_by_name(pci, "PCIDevice")) gpu.model = m;
  if (gpu.model.empty())
    for (const auto& row : kModels)
      if (row.vendor == a.vendor_id && row.device == a.device_id) gpu.model = row.model;
  return gpu;
}

/// libdrm's view of this machine: render nodes and kernel drivers by PCI address. hwloc may
/// not list OS devices (an old kernel, or a container without sysfs), libdrm still does.
void add_drm_nodes(Topology& topo) {
  std::array<drmDevicePtr, 64> devices{};
  int n = drmGetDevices2(0, devices.data(), static_cast<int>(devices.size()));
  if (n <= 0) return;
  for (int i = 0; i < n; ++i) {
    drmDevicePtr d = devices[i];
    if (d->bustype != DRM_BUS_PCI || !(d->available_nodes & (1 << DRM_NODE_RENDER))) continue;
    const auto* b = d->businfo.pci;
    std::string addr = fmt::format("{:04x}:{:02x}:{:02x}.{:x}", b->domain, b->bus, b->dev, b->func);
    auto gpu = std::find_if(topo.gpus.begin(), topo.gpus.end(),
                            [&](const Gpu& g) { return g.pci_address == addr; });
    if (gpu == topo.gpus.end()) {
      Gpu g;
      g.pci_address = addr;
      g.vendor_id = d->deviceinfo.pci->vendor_id;
      g.device_id = d->deviceinfo.pci->device_id;
      g.vendor = vendor_name(g.vendor_id);
      topo.gpus.push_back(g);
      gpu = topo.gpus.end() - 1;
    }
    gpu->render_node = d->nodes[DRM_NODE_RENDER];
    // The fd is ours and closed right here; drmGetVersion needs only read access.
    int fd = open(d->nodes[DRM_NODE_RENDER], O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (drmVersionPtr v = drmGetVersion(fd)) {
        gpu->driver = v->name;
        drmFreeVersion(v);
      }
      close(fd);
    }
  }
  drmFreeDevices(devices.data(), n);
}

}  // namespace

std::string vendor_name(unsigned vendor_id) {
  for (const auto& v : kVendors)
    if (v.id == vendor_id) return v.name;
  return fmt::format("{:#06x}", vendor_id);
}

Result<Topology> load_topology(const std::string& xml_path) {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return Status(Code::kInternal, "hwloc_topology_init failed");
  TopologyPtr t(raw);
  hwloc_topology_set_io_types_filter(raw, HWLOC_TYPE_FILTER_KEEP_ALL);
  if (!xml_path.empty()) {
    if (access(xml_path.c_str(), R_OK) != 0)
      return Status(Code::kUsage, fmt::format("cannot read topology file '{}'", xml_path));
    if (hwloc_topology_set_xml(raw, xml_path.c_str()) != 0)
      return Status(Code::kUsage, fmt::format("'{}' is not an hwloc XML topology", xml_path));
    hwloc_topology_set_flags(raw, HWLOC_TOPOLOGY_FLAG_IMPORT_SUPPORT);
  }
  if (hwloc_topology_load(raw) != 0)
    return Status(Code::kUsage, xml_path.empty()
                                    ? std::string("hwloc could not read this machine's topology")
                                    : fmt::format("hwloc could not load '{}' (is it an hwloc 2.x "
                                                  "XML from `lstopo --of xml`?)", xml_path));
  Topology topo;
  topo.from_file = !xml_path.empty();
  topo.source = topo.from_file ? xml_path : "this machine";
  topo.packages = std::max(0, hwloc_get_nbobjs_by_type(raw, HWLOC_OBJ_PACKAGE));
  topo.cores = std::max(0, hwloc_get_nbobjs_by_type(raw, HWLOC_OBJ_CORE));
  topo.pus = std::max(0, hwloc_get_nbobjs_by_type(raw, HWLOC_OBJ_PU));
  topo.all_cpus = cpu_list(hwloc_topology_get_topology_cpuset(raw));
  hwloc_obj_t node = nullptr;
  while ((node = hwloc_get_next_obj_by_type(raw, HWLOC_OBJ_NUMANODE, node)))
    topo.numa_nodes.push_back({static_cast<int>(node->os_index), cpu_list(node->cpuset)});
  hwloc_obj_t pci = nullptr;
  while ((pci = hwloc_get_next_pcidev(raw, pci)))
    if (is_gpu_class(pci->attr->pcidev.class_id)) topo.gpus.push_back(describe_pci(raw, pci));
  if (!topo.from_file) add_drm_nodes(topo);
  std::sort(topo.gpus.begin(), topo.gpus.end(),
            [](const Gpu& a, const Gpu& b) { return a.pci_address < b.pci_address; });
  logger("device")->debug("topology of {}: {} package(s), {} core(s), {} NUMA node(s), {} GPU(s)",
                          topo.source, topo.packages, topo.cores, topo.numa_nodes.size(),
                          topo.gpus.size());
  return topo;
}

Binding bind_process(const std::string& cpus, int numa_node) {
  Binding b;
  b.cpus_wanted = cpus;
  b.numa_wanted = numa_node;
  if (cpus.empty() && numa_node < 0) {
    b.note = "not bound (the placement asked for none)";
    return b;
  }
  if (!cpus.empty()) {
    struct BitmapDeleter {
      void operator()(hwloc_bitmap_s* m) const { hwloc_bitmap_free(m); }
    };
    std::unique_ptr<hwloc_bitmap_s, BitmapDeleter> want(hwloc_bitmap_alloc());
    if (!want || hwloc_bitmap_list_sscanf(want.get(), cpus.c_str()) != 0) {
      b.note = fmt::format("not bound: '{}' is not a CPU list (e.g. 0-7,16-23)", cpus);
      return b;
    }
    // Only CPUs this process may use now: a cgroup or taskset may already have narrowed it, and
    // a topology planned elsewhere may name CPUs this machine does not have.
    cpu_set_t allowed, set;
    CPU_ZERO(&allowed);
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) CPU_ZERO(&allowed);
    std::unique_ptr<hwloc_bitmap_s, BitmapDeleter> got(hwloc_bitmap_alloc());
    int cpu = -1;
    while ((cpu = hwloc_bitmap_next(want.get(), cpu)) >= 0 && cpu < CPU_SETSIZE)
      if (CPU_ISSET(cpu, &allowed)) {
        CPU_SET(cpu, &set);
        hwloc_bitmap_set(got.get(), static_cast<unsigned>(cpu));
      }
    if (CPU_COUNT(&set) == 0) {
      b.note = fmt::format("CPUs not bound: none of {} is available to this process", cpus);
    } else {
      // Every thread the process has now; threads started later inherit the caller's set.
      int failed = 0;
      std::error_code ec;
      for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
        pid_t tid = static_cast<pid_t>(std::atoi(task.path().filename().c_str()));
        if (tid > 0 && sched_setaffinity(tid, sizeof set, &set) != 0) ++failed;
      }
      if (ec || sched_setaffinity(0, sizeof set, &set) != 0) ++failed;
      b.cpus = cpu_list(got.get());
      b.note = failed ? fmt::format("CPUs {} bound on some threads only: {}", b.cpus, std::strerror(errno))
                      : fmt::format("CPUs {}", b.cpus);
      if (b.cpus != cpus) b.note += fmt::format(" (of {} asked; the rest are not available here)", cpus);
    }
  }
  if (numa_node >= 0) {
    // Preferred, not strict: a full node spills over instead of ending the job in the OOM killer.
    const std::string sys = fmt::format("/sys/devices/system/node/node{}", numa_node);
    unsigned long mask[16] = {};
    if (numa_node >= static_cast<int>(sizeof mask * 8) || access(sys.c_str(), F_OK) != 0) {
      b.note += fmt::format(", memory not bound: NUMA node {} is not on this machine", numa_node);
    } else {
      mask[numa_node / (8 * sizeof(unsigned long))] |= 1ul << (numa_node % (8 * sizeof(unsigned long)));
      if (syscall(SYS_set_mempolicy, MPOL_PREFERRED, mask, sizeof mask * 8) == 0) {
        b.numa = numa_node;
        b.note += fmt::format(", memory preferred on NUMA node {}", numa_node);
      } else {
        b.note += fmt::format(", memory not bound to NUMA node {}: {}", numa_node, std::strerror(errno));
      }
    }
  }
  return b;
}

}  // namespace kiln
