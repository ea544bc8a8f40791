#include "vaapi/vaapi_backend.hpp"

#include <fmt/format.h>

#include <algorithm>

extern "C" {
#include <libavutil/hwcontext.h>
}

#include "topology/gpu_device.hpp"
#include "vaapi/vaapi_probe.hpp"

namespace kiln::vaapi {
namespace {

bool has(const std::vector<std::string>& v, const char* s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<Device> probe(const Topology& topology) {
  std::vector<Device> out;
  for (const auto& g : topology.gpus) {
    // NVIDIA's VA driver (nvidia-vaapi-driver) decodes only; NVIDIA GPUs belong to nvenc.
    if (g.render_node.empty() || (g.vendor != "intel" && g.vendor != "amd")) continue;
    Device d = device_from_gpu(g, "vaapi", g.render_node);
    if (topology.from_file) {
      d.health = planned_health(topology);
      d.encode_codecs = {"h264"};
      d.description = fmt::format("{} via VAAPI", d.model.empty() ? g.vendor : d.model);
      out.push_back(std::move(d));
      continue;
    }
    RenderNodeCaps caps = probe_render_node(g.render_node);
    d.description = caps.vendor.empty() ? g.render_node : caps.vendor;
    d.decode_codecs = caps.decode;
    d.encode_codecs = caps.encode;
    if (!caps.opened) {
      d.usable = false;
      d.health = caps.error;
    } else if (!caps.video_proc) {
      d.usable = false;
      d.health = "no VideoProc entrypoint: scale_vaapi cannot run here";
    } else if (!has(caps.encode, "h264")) {
      d.health = "ok (no H.264 encode: hybrid recipe, libx264 encodes)";
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::string zero_copy_scale(const ScaleRequest& r) {
  return fmt::format("{}scale_vaapi=w={}:h={}:format=nv12,setsar=1",
                     r.hw_frames_in ? "" : "format=nv12,hwupload,", r.width, r.height);
}

std::string hybrid_scale(const ScaleRequest& r) {
  return fmt::format("{}scale_vaapi=w={}:h={}:format=nv12,hwdownload,format=nv12,setsar=1",
                     r.hw_frames_in ? "" : "format=nv12,hwupload,", r.width, r.height);
}

Result<VideoRecipe> make_recipe(const Device& device, const MediaInfo& input) {
  auto hw = open_hw_device("vaapi", device.render_node, "VAAPI on " + device.render_node);
  if (!hw) return hw.status();
  VideoRecipe r;
  r.backend = "vaapi";
  r.device = device;
  r.accelerated = true;
  // Decode on the device only where it has a VLD entrypoint for the codec; else software
  // decode, and the scaler uploads.
  const bool hw_decode = has(device.decode_codecs, input.video.codec.c_str());
  if (hw_decode) r.hw_decode = "vaapi";
  r.hw_device = std::move(hw).value();
  if (has(device.encode_codecs, "h264")) {
    r.variant = hw_decode ? "zero-copy: vaapi decode, scale_vaapi, h264_vaapi"
                          : "software decode, upload, scale_vaapi, h264_vaapi";
    r.scale_filter = &zero_copy_scale;
    r.encoder = "h264_vaapi";
  } else {
    r.variant = hw_decode ? "hybrid: vaapi decode, scale_vaapi, libx264"
                          : "hybrid: software decode, upload, scale_vaapi, libx264";
    r.scale_filter = &hybrid_scale;
    r.encoder = "libx264";
  }
  return r;
}

}  // namespace

const BackendOps kBackend{"vaapi", &probe, &make_recipe};

}  // namespace kiln::vaapi
