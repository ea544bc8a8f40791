#pragma once
// The backend seam: a backend is data plus a few functions (how to find its devices and the
// recipe that turns a ladder into a libav graph on one of them). The ordered table lives in
// accel/registry.cpp; software is always built and always last.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/media_info.hpp"
#include "kiln/status.hpp"
#include "kiln/topology.hpp"

struct AVBufferRef;

namespace kiln {

/// One device a backend found (or, on a topology read from a file, would use).
struct Device {
  std::string backend;        // "software", "vaapi", "qsv", "nvenc", "vulkan"
  std::string id;             // stable selector: "cpu", "/dev/dri/renderD128", "0000:3b:00.0"
  std::string description;    // human text for `kiln devices` and results
  std::string pci_address;    // "" for the CPU and for devices not on PCI (lavapipe)
  std::string vendor;
  std::string model;
  std::string driver;
  std::string render_node;
  int cuda_index = -1;
  int numa_node = -1;
  std::string local_cpus;     // hwloc list syntax
  std::vector<std::string> decode_codecs;  // "h264", "hevc", ...
  std::vector<std::string> encode_codecs;
  int session_limit = 0;      // concurrent encoder sessions; 0 = no known limit
  int capacity = 1;           // relative throughput for placement (software: CPU threads)
  bool usable = true;         // false: listed so an operator sees it, but it cannot be opened
  bool cpu_emulated = false;  // a software implementation of a hardware API (Mesa lavapipe)
  std::string health = "ok";  // "ok", or what is wrong and how to fix it
};

/// Releases a libav hardware device context reference (accel/registry.cpp).
struct HwDeviceRelease {
  void operator()(AVBufferRef* ref) const;
};
/// A hardware device context, shared by every rendition of one job.
using HwDevice = std::shared_ptr<AVBufferRef>;
HwDevice make_hw_device(AVBufferRef* owned);
/// Opens a libav hardware device (`type` as av_hwdevice_find_type_by_name knows it: "vaapi",
/// "cuda", "vulkan"; `device` its device string). kDeviceLost with libav's message, naming
/// `what`, when it cannot: the fallback chain moves on.
Result<HwDevice> open_hw_device(const char* type, const std::string& device, const std::string& what);

/// What one rendition's scaler is asked for.
struct ScaleRequest {
  int width = 0;
  int height = 0;
  bool cascaded = false;      // input is a larger rendition's output, not the decoded source
  bool hw_frames_in = false;  // input frames are on the device (hw decode, or a hw parent)
};

/// How one device runs a ladder. Filter strings are libavfilter syntax.
struct VideoRecipe {
  std::string backend;
  Device device;
  bool accelerated = false;
  std::string variant;        // "zero-copy", "hybrid: ...", "software", for results and logs
  /// hwaccel decode on `hw_device` ("vaapi", "cuda"); "" decodes in software. The pipeline
  /// still decodes in software when the source needs shared pre-processing (deinterlace,
  /// rotation) or the codec has no hwaccel, and the scaler is then asked to upload.
  std::string hw_decode;
  /// Per-rendition filter to what the encoder takes, at width x height with square pixels.
  std::string (*scale_filter)(const ScaleRequest& request) = nullptr;
  /// The device for hw decode and for every filter in the chain (hwupload, scale_vaapi, ...).
  HwDevice hw_device;
  std::string encoder;        // libavcodec encoder name
};

/// What opening encoder sessions on a device until its driver refused found.
struct SessionLimit {
  int opened = 0;             // sessions open at once when it stopped
  bool refused = false;       // the driver said "busy" (its cap); false: stopped at the maximum asked
  std::string note;           // "the driver refused session 4 (busy): 3 at once"
};

struct BackendOps {
  std::string_view name;
  /// Devices this backend can open on this machine, or, for a topology read from a file, the
  /// devices it would use there. Empty is an answer, not an error.
  std::vector<Device> (*probe)(const Topology& topology);
  /// The recipe for a source on a device; Code::kUnsupported means "not mine, try the next".
  Result<VideoRecipe> (*make_recipe)(const Device& device, const MediaInfo& input);
  /// Whether `--backend auto` considers it without being asked (a device selector, or the
  /// backend's name, always does). Vulkan's scaler-only recipe is not a choice auto makes.
  bool automatic = true;
  /// Counts the encoder sessions the device holds at once by opening them, up to `max`, until
  /// the driver refuses; null where the backend has no per-device cap to find (kiln bench).
  Result<SessionLimit> (*count_sessions)(const Device& device, int max) = nullptr;
};

/// The ordered backend table (accel/registry.cpp).
std::span<const BackendOps> backend_table();

/// Every device of every built backend, in table order; with `automatic_only`, only of the
/// backends auto uses (so a plain software job does not load, say, a Vulkan driver).
std::vector<Device> discover_devices(const Topology& topology, bool automatic_only = false);

/// One step of a job's fallback chain.
struct Candidate {
  const BackendOps* backend = nullptr;
  Device device;
  std::string bind_cpus;      // where the job's threads run ("" = anywhere)
  int bind_numa = -1;         // and its memory
  std::string why;            // why placement chose it, when a node config ranked the chain
};

/// The devices a job may run on, best first, for `--backend` (auto or a name) and `--device`
/// (empty, or a selector matched against id, PCI address, render node, vendor or backend).
/// "auto" ends with software; a named backend does not (the user asked for that one). "auto"
/// skips CPU-emulated devices (lavapipe) unless a selector names them. Each device passed
/// over adds a line to `passed_over` saying why. kUsage for an unknown backend or a selector
/// that matches nothing.
Result<std::vector<Candidate>> candidate_chain(std::string_view backend, std::string_view selector,
                                               const std::vector<Device>& devices,
                                               std::vector<std::string>* passed_over);

/// True when `selector` names this device (id, PCI address, render node, vendor or backend).
bool device_matches(const Device& device, std::string_view selector);

}  // namespace kiln
