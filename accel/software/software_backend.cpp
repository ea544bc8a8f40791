#include "software/software_backend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace kiln::software {
namespace {

std::vector<Device> probe(const Topology& topology) {
  int threads = topology.pus > 0 ? topology.pus : static_cast<int>(std::thread::hardware_concurrency());
  Device d;
  d.backend = "software";
  d.id = "cpu";
  d.description = fmt::format("libx264 on {} CPU thread(s)", std::max(threads, 1));
  d.local_cpus = topology.all_cpus;
  d.decode_codecs = {"all FFmpeg decoders"};
  d.encode_codecs = {"h264"};
  d.capacity = std::max(threads, 1);
  return {d};
}

// zimg (zscale) rather than swscale: on this class of machine it scales 1080p -> 720p in about
// 40% of swscale's CPU time (bench/ measures it), and scaling is the one stage of a software
// ladder that is not fixed by the source and the encoder settings. The same pass converts
// 10-bit/4:2:2/4:4:4 to 8-bit 4:2:0 (ordered dither where the depth drops). A cascaded rendition
// (scaled from a larger one) uses lanczos: two soft passes in a row would blur.
std::string scale_filter(const ScaleRequest& r) {
  return fmt::format("zscale=w={}:h={}:filter={}:dither=ordered,format=yuv420p,setsar=1", r.width,
                     r.height, r.cascaded ? "lanczos" : "bicubic");
}

Result<VideoRecipe> make_recipe(const Device& device, const MediaInfo&) {
  VideoRecipe r;
  r.backend = "software";
  r.device = device;
  r.accelerated = false;
  r.variant = "software";
  r.scale_filter = &scale_filter;
  r.encoder = "libx264";
  return r;
}

}  // namespace

const BackendOps kBackend{"software", &probe, &make_recipe};

}  // namespace kiln::software
