#include "qsv/qsv_backend.hpp"

// mfxExtendedDeviceId (PCI address and render node of an implementation) is behind this flag
// in libvpl 2.8's headers; the dispatcher implements it.
#define ONEVPL_EXPERIMENTAL
#include <vpl/mfx.h>

#include <fmt/format.h>

#include <memory>

extern "C" {
#include <libavutil/hwcontext.h>
}

#include "log.hpp"
#include "topology/gpu_device.hpp"

namespace kiln::qsv {
namespace {

struct LoaderDeleter {
  void operator()(std::remove_pointer_t<mfxLoader>* l) const { MFXUnload(l); }
};
using LoaderPtr = std::unique_ptr<std::remove_pointer_t<mfxLoader>, LoaderDeleter>;

struct Implementation {
  std::string name;
  std::string pci_address;
  int render_node = 0;  // N of /dev/dri/renderD<N>; 0 = unknown
};

/// Hardware implementations the dispatcher finds. Legacy MFXInit can report success with no
/// device at all, so only enumerated implementations count.
std::vector<Implementation> enumerate() {
  std::vector<Implementation> out;
  LoaderPtr loader(MFXLoad());
  if (!loader) return out;
  mfxConfig cfg = MFXCreateConfig(loader.get());  // owned by the loader
  mfxVariant impl{};
  impl.Type = MFX_VARIANT_TYPE_U32;
  impl.Data.U32 = MFX_IMPL_TYPE_HARDWARE;
  if (cfg) MFXSetConfigFilterProperty(cfg, reinterpret_cast<const mfxU8*>("mfxImplDescription.Impl"), impl);
  for (mfxU32 i = 0;; ++i) {
    mfxHDL desc = nullptr;
    if (MFXEnumImplementations(loader.get(), i, MFX_IMPLCAPS_IMPLDESCSTRUCTURE, &desc) != MFX_ERR_NONE)
      break;
    Implementation found;
    found.name = static_cast<mfxImplDescription*>(desc)->ImplName;
    MFXDispReleaseImplDescription(loader.get(), desc);
    mfxHDL ext = nullptr;
    if (MFXEnumImplementations(loader.get(), i, MFX_IMPLCAPS_DEVICE_ID_EXTENDED, &ext) == MFX_ERR_NONE) {
      const auto* id = static_cast<mfxExtendedDeviceId*>(ext);
      found.pci_address = fmt::format("{:04x}:{:02x}:{:02x}.{:x}", id->PCIDomain, id->PCIBus,
                                      id->PCIDevice, id->PCIFunction);
      found.render_node = static_cast<int>(id->DRMRenderNodeNum);
      MFXDispReleaseImplDescription(loader.get(), ext);
    }
    out.push_back(std::move(found));
  }
  return out;
}

bool matches(const Implementation& impl, const Gpu& g) {
  if (!impl.pci_address.empty() && impl.pci_address == g.pci_address) return true;
  return impl.render_node > 0 && g.render_node == fmt::format("/dev/dri/renderD{}", impl.render_node);
}

std::vector<Device> probe(const Topology& topology) {
  std::vector<Device> out;
  std::vector<Implementation> impls;
  if (!topology.from_file) impls = enumerate();
  for (const auto& g : topology.gpus) {
    if (g.vendor != "intel" || g.render_node.empty()) continue;
    Device d = device_from_gpu(g, "qsv", g.render_node);
    d.encode_codecs = {"h264"};
    d.description = fmt::format("{} via oneVPL", d.model.empty() ? "Intel GPU" : d.model);
    if (topology.from_file) {
      d.health = planned_health(topology);
      out.push_back(std::move(d));
      continue;
    }
    auto impl = std::find_if(impls.begin(), impls.end(), [&](const auto& i) { return matches(i, g); });
    if (impl == impls.end()) {
      // An Intel GPU with no oneVPL runtime: listed, so the operator sees what to install.
      d.usable = false;
      d.health = "no oneVPL runtime for this GPU (install libmfx-gen1.2 / intel-media-va-driver-non-free)";
    } else {
      d.description = fmt::format("{} ({})", d.description, impl->name);
    }
    out.push_back(std::move(d));
  }
  logger("qsv")->debug("{} oneVPL hardware implementation(s)", impls.size());
  return out;
}

std::string scale_filter(const ScaleRequest& r) {
  if (r.cascaded && r.hw_frames_in)  // a larger rendition's QSV frames
    return fmt::format("scale_qsv=w={}:h={},setsar=1", r.width, r.height);
  return fmt::format("{}hwmap=derive_device=qsv,format=qsv,scale_qsv=w={}:h={},setsar=1",
                     r.hw_frames_in ? "" : "format=nv12,hwupload,", r.width, r.height);
}

Result<VideoRecipe> make_recipe(const Device& device, const MediaInfo&) {
  auto hw = open_hw_device("vaapi", device.render_node, "VAAPI (for QSV) on " + device.render_node);
  if (!hw) return hw.status();
  VideoRecipe r;
  r.backend = "qsv";
  r.device = device;
  r.accelerated = true;
  r.variant = "zero-copy: vaapi decode, hwmap to qsv, scale_qsv, h264_qsv";
  r.hw_decode = "vaapi";
  r.hw_device = std::move(hw).value();
  r.scale_filter = &scale_filter;
  r.encoder = "h264_qsv";
  return r;
}

}  // namespace

const BackendOps kBackend{"qsv", &probe, &make_recipe};

}  // namespace kiln::qsv
