// LD_PRELOAD shim for the VAAPI tests: libdrm reports one Intel GPU whose render node is
// KILN_FAKE_VA_NODE (a plain file), so Kiln's discovery finds it and libva opens it with the
// CPU VA driver beside this file. Everything else goes to the real libdrm.

#include <dlfcn.h>
#include <unistd.h>
#include <xf86drm.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

const char* fake_node() { return std::getenv("KILN_FAKE_VA_NODE"); }

bool is_fake_fd(int fd) {
  const char* node = fake_node();
  if (!node) return false;
  char link[PATH_MAX] = {};
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(proc.c_str(), link, sizeof link - 1);
  char real[PATH_MAX] = {};
  return n > 0 && realpath(node, real) && std::strcmp(link, real) == 0;
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int drmGetDevices2(uint32_t flags, drmDevicePtr devices[], int max) {
  const char* node = fake_node();
  if (!node) return next<int (*)(uint32_t, drmDevicePtr*, int)>("drmGetDevices2")(flags, devices, max);
  if (!devices || max < 1) return 1;
  auto* d = static_cast<drmDevicePtr>(std::calloc(1, sizeof(drmDevice)));
  d->nodes = static_cast<char**>(std::calloc(DRM_NODE_MAX, sizeof(char*)));
  d->nodes[DRM_NODE_RENDER] = strdup(node);
  d->available_nodes = 1 << DRM_NODE_RENDER;
  d->bustype = DRM_BUS_PCI;
  d->businfo.pci = static_cast<drmPciBusInfoPtr>(std::calloc(1, sizeof(drmPciBusInfo)));
  d->businfo.pci->bus = 0;
  d->businfo.pci->dev = 2;
  d->deviceinfo.pci = static_cast<drmPciDeviceInfoPtr>(std::calloc(1, sizeof(drmPciDeviceInfo)));
  d->deviceinfo.pci->vendor_id = 0x8086;
  d->deviceinfo.pci->device_id = 0xa780;
  devices[0] = d;
  return 1;
}

void drmFreeDevices(drmDevicePtr devices[], int count) {
  if (!fake_node()) return next<void (*)(drmDevicePtr*, int)>("drmFreeDevices")(devices, count);
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
  if (is_fake_fd(fd)) return DRM_NODE_RENDER;
  return next<int (*)(int)>("drmGetNodeTypeFromFd")(fd);
}

char* drmGetDeviceNameFromFd2(int fd) {
  if (is_fake_fd(fd)) return strdup(fake_node());
  return next<char* (*)(int)>("drmGetDeviceNameFromFd2")(fd);
}

drmVersionPtr drmGetVersion(int fd) {
  if (!is_fake_fd(fd)) return next<drmVersionPtr (*)(int)>("drmGetVersion")(fd);
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
