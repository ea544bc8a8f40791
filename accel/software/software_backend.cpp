#include "software/software_backend.hpp"

#include <fmt/format.h>

#include <thread>

namespace kiln::software {
namespace {

std::vector<Device> probe() {
  unsigned n = std::thread::hardware_concurrency();
  return {Device{"software", "cpu", fmt::format("{} CPU thread(s)", n ? n : 1)}};
}

// Bicubic, as the ffmpeg CLI's scale filter uses by default, so quality compares like for
// like; format= makes the same swscale pass convert 10-bit/4:2:2/4:4:4 to 8-bit 4:2:0.
std::string scale_filter(int width, int height) {
  return fmt::format("scale={}:{}:flags=bicubic,format=yuv420p,setsar=1", width, height);
}

Result<VideoRecipe> make_recipe(const Device& device, const MediaInfo&) {
  VideoRecipe r;
  r.backend = "software";
  r.device = device;
  r.accelerated = false;
  r.scale_filter = &scale_filter;
  r.encoder = "libx264";
  r.encoder_pix_fmt = "yuv420p";
  return r;
}

}  // namespace

const BackendOps kBackend{"software", &probe, &make_recipe};

}  // namespace kiln::software
