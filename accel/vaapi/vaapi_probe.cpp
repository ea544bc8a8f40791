// Probing one render node with libva: vendor string, profiles x entrypoints.

#include "vaapi/vaapi_probe.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <va/va.h>
#include <va/va_drm.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <vector>

#include "log.hpp"

namespace kiln::vaapi {
namespace {

struct ProfileRow {
  VAProfile profile;
  const char* codec;
};
// What Kiln can name; profiles not listed here are ignored.
constexpr std::array kProfiles = {
    ProfileRow{VAProfileH264ConstrainedBaseline, "h264"}, ProfileRow{VAProfileH264Main, "h264"},
    ProfileRow{VAProfileH264High, "h264"},                ProfileRow{VAProfileHEVCMain, "hevc"},
    ProfileRow{VAProfileHEVCMain10, "hevc10"},            ProfileRow{VAProfileVP9Profile0, "vp9"},
    ProfileRow{VAProfileVP9Profile2, "vp9-10"},           ProfileRow{VAProfileAV1Profile0, "av1"},
    ProfileRow{VAProfileMPEG2Main, "mpeg2"},              ProfileRow{VAProfileVC1Advanced, "vc1"},
    ProfileRow{VAProfileVP8Version0_3, "vp8"},            ProfileRow{VAProfileJPEGBaseline, "mjpeg"},
};

const char* codec_of(VAProfile p) {
  for (const auto& row : kProfiles)
    if (row.profile == p) return row.codec;
  return nullptr;
}

void add_unique(std::vector<std::string>& v, const char* s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.emplace_back(s);
}

/// Closes the display then the fd it was made from (both owned here).
struct DisplayGuard {
  int fd = -1;
  VADisplay dpy = nullptr;
  bool initialized = false;
  ~DisplayGuard() {
    if (initialized) vaTerminate(dpy);
    if (fd >= 0) close(fd);
  }
};

}  // namespace

RenderNodeCaps probe_render_node(const std::string& path) {
  RenderNodeCaps caps;
  DisplayGuard g;
  g.fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (g.fd < 0) {
    int err = errno;
    caps.error = err == EACCES || err == EPERM
                     ? fmt::format("permission denied on {}: add the service user to group render "
                                   "(udev/README.md)", path)
                     : fmt::format("cannot open {}: {}", path, std::strerror(err));
    return caps;
  }
  g.dpy = vaGetDisplayDRM(g.fd);
  if (!g.dpy) {
    caps.error = fmt::format("vaGetDisplayDRM failed on {}", path);
    return caps;
  }
  vaSetErrorCallback(g.dpy, [](void*, const char* m) { logger("vaapi")->warn("libva: {}", m); }, nullptr);
  vaSetInfoCallback(g.dpy, [](void*, const char* m) { logger("vaapi")->debug("libva: {}", m); }, nullptr);
  int major = 0, minor = 0;
  VAStatus st = vaInitialize(g.dpy, &major, &minor);
  if (st != VA_STATUS_SUCCESS) {
    caps.error = fmt::format("vaInitialize failed on {}: {}; install the VA driver for this GPU "
                             "(intel-media-va-driver-non-free, mesa-va-drivers)", path, vaErrorStr(st));
    return caps;
  }
  g.initialized = true;
  if (const char* vendor = vaQueryVendorString(g.dpy)) caps.vendor = vendor;
  std::vector<VAProfile> profiles(std::max(1, vaMaxNumProfiles(g.dpy)));
  int n_profiles = 0;
  if (vaQueryConfigProfiles(g.dpy, profiles.data(), &n_profiles) != VA_STATUS_SUCCESS) n_profiles = 0;
  std::vector<VAEntrypoint> entrypoints(std::max(1, vaMaxNumEntrypoints(g.dpy)));
  for (int i = 0; i < n_profiles; ++i) {
    int n_ep = 0;
    if (vaQueryConfigEntrypoints(g.dpy, profiles[i], entrypoints.data(), &n_ep) != VA_STATUS_SUCCESS)
      continue;
    const char* codec = codec_of(profiles[i]);
    for (int e = 0; e < n_ep; ++e) {
      VAEntrypoint ep = entrypoints[e];
      if (profiles[i] == VAProfileNone && ep == VAEntrypointVideoProc) caps.video_proc = true;
      if (!codec) continue;
      if (ep == VAEntrypointVLD) add_unique(caps.decode, codec);
      if (ep == VAEntrypointEncSlice || ep == VAEntrypointEncSliceLP) add_unique(caps.encode, codec);
    }
  }
  caps.opened = true;
  return caps;
}

}  // namespace kiln::vaapi
