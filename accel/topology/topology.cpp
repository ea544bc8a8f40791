// Discovery of GPUs and where they sit: hwloc for PCI devices, NUMA nodes, local CPU sets and
// OS devices; libdrm for render nodes and kernel drivers on this machine.

#include "kiln/topology.hpp"

#include <fcntl.h>
#include <hwloc.h>
#include <unistd.h>
#include <xf86drm.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <array>
#include <cstdlib>
#include <fmt/format.h>
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

Status bind_this_thread(const std::string& cpus, int numa_node) {
  if (cpus.empty()) return Status::ok();
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return {Code::kInternal, "hwloc_topology_init failed"};
  TopologyPtr t(raw);
  if (hwloc_topology_load(raw) != 0) return {Code::kInternal, "hwloc could not load this machine"};
  struct BitmapDeleter {
    void operator()(hwloc_bitmap_s* b) const { hwloc_bitmap_free(b); }
  };
  std::unique_ptr<hwloc_bitmap_s, BitmapDeleter> set(hwloc_bitmap_alloc());
  if (!set || hwloc_bitmap_list_sscanf(set.get(), cpus.c_str()) != 0)
    return {Code::kUsage, fmt::format("'{}' is not a CPU list (e.g. 0-7,16-23)", cpus)};
  if (hwloc_set_cpubind(raw, set.get(), HWLOC_CPUBIND_THREAD) != 0)
    return {Code::kInternal, fmt::format("binding to CPUs {} failed: {}", cpus, std::strerror(errno))};
  if (numa_node >= 0) {
    hwloc_obj_t node = hwloc_get_numanode_obj_by_os_index(raw, static_cast<unsigned>(numa_node));
    if (node && hwloc_set_membind(raw, node->nodeset, HWLOC_MEMBIND_BIND,
                                  HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) != 0)
      logger("device")->debug("memory binding to NUMA node {} not supported: {}", numa_node,
                              std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace kiln
