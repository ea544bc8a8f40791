// LD_PRELOAD shim for the VAAPI tests: libdrm reports Intel GPUs whose render nodes are plain
// files, so Kiln's discovery finds them and libva opens them with the CPU VA driver beside this
// file. Everything else goes to the real libdrm.
//
//   KILN_FAKE_VA_NODE=/tmp/x/renderD128                 one GPU at 0000:00:02.0
//   KILN_FAKE_VA_NODES=/tmp/a=0000:4d:00.0,/tmp/b=0000:ca:00.0
//                                                       one GPU per entry, at that PCI address
//                                                       (match an hwloc fixture's devices to
//                                                       put them on its NUMA nodes)

#include <dlfcn.h>
#include <unistd.h>
#include <xf86drm.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct FakeNode {
  std::string path;
  unsigned domain = 0, bus = 0, dev = 2, func = 0;
};

std::vector<FakeNode> fake_nodes() {
  std::vector<FakeNode> out;
  if (const char* many = std::getenv("KILN_FAKE_VA_NODES")) {
    std::stringstream in(many);
    std::string entry;
    while (std::getline(in, entry, ',')) {
      FakeNode n;
      auto eq = entry.rfind('=');
      n.path = entry.substr(0, eq);
      if (eq != std::string::npos)
        std::sscanf(entry.c_str() + eq + 1, "%x:%x:%x.%x", &n.domain, &n.bus, &n.dev, &n.func);
      if (!n.path.empty()) out.push_back(n);
    }
  } else if (const char* one = std::getenv("KILN_FAKE_VA_NODE")) {
    out.push_back({one});
  }
  return out;
}

/// The fake node `fd` is open on, or nullptr.
const char* fake_path_of(int fd, std::string& keep) {
  char link[PATH_MAX] = {};
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(proc.c_str(), link, sizeof link - 1);
  if (n <= 0) return nullptr;
  for (const auto& node : fake_nodes()) {
    char real[PATH_MAX] = {};
    if (realpath(node.path.c_str(), real) && std::strcmp(link, real) == 0) {
      keep = node.path;
      return keep.c_str();
    }
  }
  return nullptr;
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int drmGetDevices2(uint32_t flags, drmDevicePtr devices[], int max) {
  const auto nodes = fake_nodes();
  if (nodes.empty()) return next<int (*)(uint32_t, drmDevicePtr*, int)>("drmGetDevices2")(flags, devices, max);
  if (!devices || max < 1) return static_cast<int>(nodes.size());
  int n = 0;
  for (const auto& node : nodes) {
    if (n == max) break;
    auto* d = static_cast<drmDevicePtr>(std::calloc(1, sizeof(drmDevice)));
    d->nodes = static_cast<char**>(std::calloc(DRM_NODE_MAX, sizeof(char*)));
    d->nodes[DRM_NODE_RENDER] = strdup(node.path.c_str());
    d->available_nodes = 1 << DRM_NODE_RENDER;
    d->bustype = DRM_BUS_PCI;
    d->businfo.pci = static_cast<drmPciBusInfoPtr>(std::calloc(1, sizeof(drmPciBusInfo)));
    d->businfo.pci->domain = static_cast<uint16_t>(node.domain);
    d->businfo.pci->bus = static_cast<uint8_t>(node.bus);
    d->businfo.pci->dev = static_cast<uint8_t>(node.dev);
    d->businfo.pci->func = static_cast<uint8_t>(node.func);
    d->deviceinfo.pci = static_cast<drmPciDeviceInfoPtr>(std::calloc(1, sizeof(drmPciDeviceInfo)));
    d->deviceinfo.pci->vendor_id = 0x8086;
    d->deviceinfo.pci->device_id = node.bus == 0 ? 0xa780 : 0x56c0;  // UHD 770 at 00:02.0, else Flex 170
    devices[n++] = d;
  }
  return n;
}

void drmFreeDevices(drmDevicePtr devices[], int count) {
  if (fake_nodes().empty()) return next<void (*)(drmDevicePtr*, int)>("drmFreeDevices")(devices, count);
  for (int i = 0; i < count; ++i) {
    if (!devices[i]) continue;
    std::free(devices[i]->nodes[DRM_NODE_RENDER]);
    std::free(devices[i]->nodes);
    std::free(devices[i]->businfo.pci);
    std::free(devices[i]->deviceinfo.pci);
    std::free(devices[i]);
  }
}

int drmGetNodeTypeFromFd(int fd) {
  std::string keep;
  if (fake_path_of(fd, keep)) return DRM_NODE_RENDER;
  return next<int (*)(int)>("drmGetNodeTypeFromFd")(fd);
}

char* drmGetDeviceNameFromFd2(int fd) {
  std::string keep;
  if (const char* p = fake_path_of(fd, keep)) return strdup(p);
  return next<char* (*)(int)>("drmGetDeviceNameFromFd2")(fd);
}

drmVersionPtr drmGetVersion(int fd) {
  std::string keep;
  if (!fake_path_of(fd, keep)) return next<drmVersionPtr (*)(int)>("drmGetVersion")(fd);
  auto* v = static_cast<drmVersionPtr>(std::calloc(1, sizeof(drmVersion)));
  v->name = strdup("kiln_cpu");
  v->name_len = 8;
  v->date = strdup("");
  v->desc = strdup("Kiln test render node");
  v->desc_len = static_cast<int>(std::strlen(v->desc));
  return v;
}

void drmFreeVersion(drmVersionPtr v) {
  if (!v) return;
  std::free(v->name);
  std::free(v->date);
  std::free(v->desc);
  std::free(v);
}

}  // extern "C"
