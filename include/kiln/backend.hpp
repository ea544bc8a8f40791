#pragma once
// The backend seam: a backend is data plus a few functions (how to find its devices and the
// recipe that turns a ladder into a libav graph on one of them). The ordered table lives in
// accel/registry.cpp; software is always built and always last.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/media_info.hpp"
#include "kiln/status.hpp"

namespace kiln {

struct Device {
  std::string backend;        // "software", "vaapi", ...
  std::string id;             // stable selector: "cpu", "0000:3b:00.0", "/dev/dri/renderD128"
  std::string description;    // human text for `kiln devices` and results
};

/// How one device runs a ladder. Filter strings are libavfilter syntax.
struct VideoRecipe {
  std::string backend;
  Device device;
  bool accelerated = false;
  /// Per-rendition filter to what the encoder takes: `encoder_pix_fmt` at width x height with
  /// square pixels. Its input is the pre-processed decoded frame, or, when `cascaded`, the
  /// already-scaled frame of a larger rendition.
  std::string (*scale_filter)(int width, int height, bool cascaded) = nullptr;
  std::string encoder;        // libavcodec encoder name
  std::string encoder_pix_fmt;
};

struct BackendOps {
  std::string_view name;
  /// Devices this backend can open on this machine; empty is an answer, not an error.
  std::vector<Device> (*probe)();
  /// The recipe for a source on a device; Code::kUnsupported means "not mine, try the next".
  Result<VideoRecipe> (*make_recipe)(const Device& device, const MediaInfo& input);
};

/// The ordered backend table (accel/registry.cpp).
std::span<const BackendOps> backend_table();

/// Picks the first backend that can run `input` ("auto") or the named one. Each backend that
/// was passed over adds a line to `passed_over` saying why (for the result's acceleration reason).
Result<VideoRecipe> choose_recipe(std::string_view requested, const MediaInfo& input,
                                  std::vector<std::string>* passed_over);

}  // namespace kiln
