#include "vulkan/vulkan_backend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/hwcontext_vulkan.h>
}

#include "log.hpp"

namespace kiln::vulkan {
namespace {

constexpr int kMaxDevices = 8;

/// Opens Vulkan device `index` through FFmpeg (instance, queues, the extensions it needs).
Result<HwDevice> open_device(int index) {
  return open_hw_device("vulkan", std::to_string(index), fmt::format("Vulkan device {}", index));
}

VkPhysicalDeviceProperties properties(const HwDevice& device) {
  auto* hw = reinterpret_cast<AVHWDeviceContext*>(device->data);
  auto* vk = static_cast<AVVulkanDeviceContext*>(hw->hwctx);
  auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceProperties>(
      vk->get_proc_addr(vk->inst, "vkGetPhysicalDeviceProperties"));
  VkPhysicalDeviceProperties props{};
  if (get) get(vk->phys_dev, &props);
  return props;
}

int physical_device_count(const HwDevice& device) {
  auto* hw = reinterpret_cast<AVHWDeviceContext*>(device->data);
  auto* vk = static_cast<AVVulkanDeviceContext*>(hw->hwctx);
  auto enumerate = reinterpret_cast<PFN_vkEnumeratePhysicalDevices>(
      vk->get_proc_addr(vk->inst, "vkEnumeratePhysicalDevices"));
  uint32_t n = 0;
  if (!enumerate || enumerate(vk->inst, &n, nullptr) != VK_SUCCESS) return 1;
  return static_cast<int>(n);
}

/// The GPU in the topology with the same PCI ids, when exactly one matches.
const Gpu* match_gpu(const Topology& topology, const VkPhysicalDeviceProperties& props) {
  const Gpu* found = nullptr;
  for (const auto& g : topology.gpus)
    if (g.vendor_id == props.vendorID && g.device_id == props.deviceID) {
      if (found) return nullptr;
      found = &g;
    }
  return found;
}

std::vector<Device> probe(const Topology& topology) {
  std::vector<Device> out;
  if (topology.from_file) return out;  // Vulkan devices are only known by opening them
  // Device 0 opens the instance; its physical-device count says how many more to open (asking
  // FFmpeg for a missing index logs an error).
  int count = 1;
  for (int i = 0; i < count; ++i) {
    auto dev = open_device(i);
    if (!dev) break;
    if (i == 0) count = std::min(kMaxDevices, physical_device_count(*dev));
    VkPhysicalDeviceProperties props = properties(*dev);
    Device d;
    d.backend = "vulkan";
    d.id = std::to_string(i);
    d.model = props.deviceName;
    d.vendor = vendor_name(props.vendorID);
    d.cpu_emulated = props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    d.description = fmt::format("{} (scale_vulkan; decode and encode in software){}", d.model,
                                d.cpu_emulated ? ", emulated on the CPU" : "");
    d.encode_codecs = {"h264 (libx264)"};
    if (const Gpu* g = match_gpu(topology, props)) {
      d.pci_address = g->pci_address;
      d.numa_node = g->numa_node;
      d.local_cpus = g->local_cpus;
      d.render_node = g->render_node;
      d.driver = g->driver;
    } else {
      d.local_cpus = topology.all_cpus;
    }
    out.push_back(std::move(d));
  }
  logger("vulkan")->debug("{} Vulkan device(s)", out.size());
  return out;
}

// 10-bit and 4:2:2/4:4:4 sources are converted in system memory first: the upload and the
// encoder both want 8-bit 4:2:0.
std::string scale_filter(const ScaleRequest& r) {
  return fmt::format("format=yuv420p,hwupload,scale_vulkan=w={}:h={},hwdownload,format=yuv420p,"
                     "setsar=1", r.width, r.height);
}

Result<VideoRecipe> make_recipe(const Device& device, const MediaInfo&) {
  auto dev = open_device(std::stoi(device.id));
  if (!dev) return Status(Code::kDeviceLost, fmt::format("opening Vulkan device {} ({}) failed: {}",
                                                         device.id, device.model,
                                                         dev.status().message()));
  VideoRecipe r;
  r.backend = "vulkan";
  r.device = device;
  r.accelerated = !device.cpu_emulated;
  r.variant = "hybrid: software decode, scale_vulkan, libx264";
  r.scale_filter = &scale_filter;
  r.hw_device = std::move(dev).value();
  r.encoder = "libx264";
  return r;
}

}  // namespace

const BackendOps kBackend{"vulkan", &probe, &make_recipe, /*automatic=*/false};

}  // namespace kiln::vulkan
