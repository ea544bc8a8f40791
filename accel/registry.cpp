// The ordered backend table. Hardware backends come first, each behind its build option;
// software is always built and always last, so "auto" always finds something.

#include <fmt/format.h>

#include <array>

extern "C" {
#include <libavutil/buffer.h>
#include <libavutil/error.h>
#include <libavutil/hwcontext.h>
}

#include "kiln/backend.hpp"
#include "software/software_backend.hpp"
#if KILN_WITH_VAAPI
#include "vaapi/vaapi_backend.hpp"
#endif
#if KILN_WITH_QSV
#include "qsv/qsv_backend.hpp"
#endif
#if KILN_WITH_NVENC
#include "nvenc/nvenc_backend.hpp"
#endif
#if KILN_WITH_VULKAN
#include "vulkan/vulkan_backend.hpp"
#endif

namespace kiln {
namespace {

const auto kBackends = std::to_array<BackendOps>({
#if KILN_WITH_NVENC
    nvenc::kBackend,
#endif
#if KILN_WITH_QSV
    qsv::kBackend,
#endif
#if KILN_WITH_VAAPI
    vaapi::kBackend,
#endif
#if KILN_WITH_VULKAN
    vulkan::kBackend,
#endif
    software::kBackend,
});

const BackendOps* find_backend(std::string_view name) {
  for (const auto& b : kBackends)
    if (b.name == name) return &b;
  return nullptr;
}

std::string backend_names() {
  std::string names;
  for (const auto& b : kBackends) names += fmt::format(", {}", b.name);
  return names;
}

}  // namespace

void HwDeviceRelease::operator()(AVBufferRef* ref) const { av_buffer_unref(&ref); }
HwDevice make_hw_device(AVBufferRef* owned) { return HwDevice(owned, HwDeviceRelease{}); }

Result<HwDevice> open_hw_device(const char* type, const std::string& device, const std::string& what) {
  AVBufferRef* ref = nullptr;
  int ret = av_hwdevice_ctx_create(&ref, av_hwdevice_find_type_by_name(type), device.c_str(), nullptr, 0);
  if (ret < 0) {
    char err[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(ret, err, sizeof err);
    return Status(Code::kDeviceLost, fmt::format("opening {} failed: {}", what, err));
  }
  return make_hw_device(ref);
}

std::span<const BackendOps> backend_table() { return kBackends; }

std::vector<Device> discover_devices(const Topology& topology, bool automatic_only) {
  std::vector<Device> all;
  for (const auto& b : kBackends) {
    if (automatic_only && !b.automatic) continue;
    auto found = b.probe(topology);
    all.insert(all.end(), found.begin(), found.end());
  }
  return all;
}

bool device_matches(const Device& d, std::string_view s) {
  if (s.empty()) return true;
  return d.id == s || d.pci_address == s || d.render_node == s || d.vendor == s ||
         d.backend == s || (!d.render_node.empty() && d.render_node.ends_with(fmt::format("/{}", s)));
}

Result<std::vector<Candidate>> candidate_chain(std::string_view backend, std::string_view selector,
                                               const std::vector<Device>& devices,
                                               std::vector<std::string>* passed_over) {
  const bool automatic = backend == "auto";
  if (!automatic && !find_backend(backend))
    return Status(Code::kUsage, fmt::format("unknown or not built backend '{}' (this build has: "
                                            "auto{})", backend, backend_names()));
  auto note = [&](std::string line) {
    if (passed_over) passed_over->push_back(std::move(line));
  };
  std::vector<Candidate> chain;
  bool selector_matched = selector.empty();
  for (const auto& b : kBackends) {
    if (!automatic && b.name != backend) continue;
    bool any = false;
    for (const auto& d : devices) {
      if (d.backend != b.name) continue;
      any = true;
      if (!device_matches(d, selector)) continue;
      selector_matched = true;
      if (!d.usable) {
        note(fmt::format("{} ({}): {}", b.name, d.id, d.health));
      } else if (automatic && selector.empty() && d.cpu_emulated) {
        // A CPU implementation of a GPU API is slower than the software backend, never a win.
        note(fmt::format("{} ({}): emulated on the CPU; name it with --backend {} to use it",
                         b.name, d.id, b.name));
      } else {
        chain.push_back({&b, d});
      }
    }
    if (!any && b.name != "software")
      note(automatic && !b.automatic ? fmt::format("{}: not used by auto; name it with --backend {} or --device", b.name, b.name)
                                     : fmt::format("{}: no device found", b.name));
  }
  if (!selector_matched)
    return Status(Code::kUsage, fmt::format("--device '{}' matches no {} device (see kiln devices)",
                                            selector, automatic ? "" : std::string(backend)));
  // "auto" with a selector that pins a hardware device still ends with software: a job is
  // never lost because its device failed.
  if (automatic && (chain.empty() || chain.back().backend->name != "software"))
    for (const auto& d : devices)
      if (d.backend == "software" && d.usable) {
        chain.push_back({find_backend("software"), d});
        break;
      }
  if (chain.empty())
    return Status(Code::kUnsupported, fmt::format("no usable {} device", backend));
  return chain;
}

}  // namespace kiln
