#include "qsv/qsv_backend.hpp"

// mfxExtendedDeviceId (PCI address and render node of an implementation) is behind this flag
// in libvpl 2.8's headers; the dispatcher implements it.
#define ONEVPL_EXPERIMENTAL
#include <vpl/mfx.h>
#include <vpl/mfxjpeg.h>
#include <vpl/mfxvp8.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
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
  std::vector<std::string> decode, encode;  // from its mfxDecoderDescription / mfxEncoderDescription
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
    const auto* d = static_cast<mfxImplDescription*>(desc);
    found.name = d->ImplName;
    std::vector<uint32_t> dec, enc;
    for (mfxU16 c = 0; d->Dec.Codecs && c < d->Dec.NumCodecs; ++c) dec.push_back(d->Dec.Codecs[c].CodecID);
    for (mfxU16 c = 0; d->Enc.Codecs && c < d->Enc.NumCodecs; ++c) enc.push_back(d->Enc.Codecs[c].CodecID);
    found.decode = codec_names(dec);
    found.encode = codec_names(enc);
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
    if (topology.from_file) d.encode_codecs = {"h264"};  // a plan: what a current Intel GPU has
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
      d.decode_codecs = impl->decode;
      d.encode_codecs = impl->encode;
      if (std::find(d.encode_codecs.begin(), d.encode_codecs.end(), "h264") == d.encode_codecs.end()) {
        d.usable = false;  // the only recipe here ends in h264_qsv
        d.health = fmt::format("{} describes no H.264 encoder (encodes: {})", impl->name,
                               d.encode_codecs.empty() ? "none" : fmt::format("{}", fmt::join(d.encode_codecs, ",")));
      }
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
  if (std::find(device.encode_codecs.begin(), device.encode_codecs.end(), "h264") == device.encode_codecs.end())
    return Status(Code::kUnsupported, fmt::format("QSV on {} has no H.264 encoder", device.id));
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

std::string codec_name(uint32_t fourcc) {
  switch (fourcc) {
    case MFX_CODEC_AVC: return "h264";
    case MFX_CODEC_HEVC: return "hevc";
    case MFX_CODEC_AV1: return "av1";
    case MFX_CODEC_VP9: return "vp9";
    case MFX_CODEC_VP8: return "vp8";
    case MFX_CODEC_MPEG2: return "mpeg2video";
    case MFX_CODEC_VC1: return "vc1";
    case MFX_CODEC_JPEG: return "mjpeg";
    default: return "";
  }
}

std::vector<std::string> codec_names(const std::vector<uint32_t>& fourccs) {
  std::vector<std::string> out;
  for (uint32_t f : fourccs) {
    std::string name = codec_name(f);
    if (!name.empty() && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  }
  return out;
}

const BackendOps kBackend{"qsv", &probe, &make_recipe};

}  // namespace kiln::qsv
