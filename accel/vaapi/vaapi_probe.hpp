#pragma once
// What one DRM render node can do through libva. Opening and closing it is all here.

#include <string>
#include <vector>

namespace kiln::vaapi {

struct RenderNodeCaps {
  bool opened = false;
  std::string error;                 // why not, with the fix, when !opened
  std::string vendor;                // vaQueryVendorString: "Intel iHD driver ..."
  std::vector<std::string> decode;   // codecs with a VLD entrypoint
  std::vector<std::string> encode;   // codecs with EncSlice or EncSliceLP
  bool video_proc = false;           // VAEntrypointVideoProc: scale_vaapi works
};

/// Opens `path` (/dev/dri/renderD128), initialises libva on it and lists what it can do.
RenderNodeCaps probe_render_node(const std::string& path);

}  // namespace kiln::vaapi
