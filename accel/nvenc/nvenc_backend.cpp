#include "nvenc/nvenc_backend.hpp"

#include <fmt/format.h>

#include <algorithm>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
}

#include "nvenc/nvenc_probe.hpp"
#include "topology/gpu_device.hpp"

namespace kiln::nvenc {
namespace {

/// Codecs FFmpeg can decode through the CUDA hwaccel (NVDEC); the GPU generation decides the
/// rest at run time (the pipeline decodes in software when it refuses).
std::vector<std::string> cuda_decoders() {
  std::vector<std::string> out;
  void* it = nullptr;
  while (const AVCodec* c = av_codec_iterate(&it)) {
    if (!av_codec_is_decoder(c)) continue;
    for (int i = 0;; ++i) {
      const AVCodecHWConfig* hw = avcodec_get_hw_config(c, i);
      if (!hw) break;
      if (hw->device_type == AV_HWDEVICE_TYPE_CUDA &&
          std::find(out.begin(), out.end(), c->name) == out.end())
        out.emplace_back(c->name);
    }
  }
  return out;
}

std::vector<Device> planned(const Topology& topology) {
  std::vector<Device> out;
  for (const auto& g : topology.gpus) {
    if (g.vendor != "nvidia") continue;
    Device d = device_from_gpu(g, "nvenc", g.pci_address);
    d.description = d.model.empty() ? "NVIDIA GPU" : d.model;
    d.encode_codecs = {"h264"};
    d.session_limit = 0;  // not known from a file: max_sessions in node.toml, else the driver's "busy"
    d.health = planned_health(topology);
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<Device> probe(const Topology& topology) {
  if (topology.from_file) return planned(topology);
  std::vector<Device> out;
  CudaProbe cuda = probe_cuda();
  const auto decoders = cuda.gpus.empty() ? std::vector<std::string>{} : cuda_decoders();
  for (const auto& c : cuda.gpus) {
    auto g = std::find_if(topology.gpus.begin(), topology.gpus.end(),
                          [&](const Gpu& x) { return x.pci_address == c.pci_address; });
    Device d = g != topology.gpus.end() ? device_from_gpu(*g, "nvenc", c.pci_address) : Device{};
    d.backend = "nvenc";
    d.id = c.pci_address;
    d.pci_address = c.pci_address;
    d.vendor = "nvidia";
    d.model = c.name;
    d.cuda_index = c.ordinal;
    d.description = fmt::format("{} ({} GiB)", c.name, c.memory_bytes >> 30);
    d.decode_codecs = decoders;
    // Not guessed from the model's name: max_sessions in node.toml caps it; without one, a
    // session the driver refuses ("out of memory") is busy and the job goes elsewhere.
    d.session_limit = 0;
    if (c.nvenc) d.encode_codecs = {"h264"};
    if (c.nvenc && c.hevc) d.encode_codecs.push_back("hevc");
    if (c.nvenc_busy) d.health = "ok (every NVENC session was in use when probed)";
    else d.health = fmt::format("ok ({}: hybrid recipe, NVDEC + scale_cuda, libx264 encodes)", c.nvenc_error);
    out.push_back(std::move(d));
  }
  // hwloc saw NVIDIA GPUs the driver did not: list them with the reason.
  for (const auto& g : topology.gpus) {
    if (g.vendor != "nvidia") continue;
    if (std::any_of(out.begin(), out.end(), [&](const Device& d) { return d.pci_address == g.pci_address; }))
      continue;
    Device d = device_from_gpu(g, "nvenc", g.pci_address);
    d.usable = false;
    d.health = cuda.error.empty() ? "the CUDA driver does not list this GPU" : cuda.error;
    out.push_back(std::move(d));
  }
  return out;
}

std::string zero_copy_scale(const ScaleRequest& r) {
  return fmt::format("{}scale_cuda=w={}:h={}:format=nv12,setsar=1",
                     r.hw_frames_in ? "" : "format=nv12,hwupload,", r.width, r.height);
}

std::string hybrid_scale(const ScaleRequest& r) {
  return fmt::format("{}scale_cuda=w={}:h={}:format=nv12,hwdownload,format=nv12,setsar=1",
                     r.hw_frames_in ? "" : "format=nv12,hwupload,", r.width, r.height);
}

Result<VideoRecipe> make_recipe(const Device& device, const MediaInfo& input) {
  if (device.cuda_index < 0)
    return Status(Code::kUnsupported, fmt::format("{}: no CUDA device index", device.id));
  auto hw = open_hw_device("cuda", std::to_string(device.cuda_index),
                           fmt::format("CUDA device {} ({})", device.cuda_index, device.id));
  if (!hw) return hw.status();
  VideoRecipe r;
  r.backend = "nvenc";
  r.device = device;
  r.accelerated = true;
  const auto& dec = device.decode_codecs;
  const bool hw_decode = std::find(dec.begin(), dec.end(), input.video.codec) != dec.end();
  if (hw_decode) r.hw_decode = "cuda";
  r.hw_device = std::move(hw).value();
  if (!device.encode_codecs.empty()) {
    r.variant = hw_decode ? "zero-copy: NVDEC, scale_cuda, h264_nvenc"
                          : "software decode, upload, scale_cuda, h264_nvenc";
    r.scale_filter = &zero_copy_scale;
    r.encoder = "h264_nvenc";
  } else {
    r.variant = hw_decode ? "hybrid: NVDEC, scale_cuda, libx264"
                          : "hybrid: software decode, upload, scale_cuda, libx264";
    r.scale_filter = &hybrid_scale;
    r.encoder = "libx264";
  }
  return r;
}

Result<SessionLimit> count_sessions(const Device& device, int max) {
  if (device.cuda_index < 0)
    return Status(Code::kUnsupported, fmt::format("{} is not open through CUDA here: nothing to count", device.id));
  return count_nvenc_sessions(device.cuda_index, max);
}

}  // namespace

const BackendOps kBackend{"nvenc", &probe, &make_recipe, true, &count_sessions};

}  // namespace kiln::nvenc
