#pragma once
// The CUDA driver, loaded at run time (libcuda.so.1 ships with the NVIDIA driver, not with
// Kiln): which GPUs it sees, by PCI bus id, and whether each can open an NVENC session.

#include <functional>
#include <string>
#include <vector>

#include "kiln/backend.hpp"

namespace kiln::nvenc {

struct CudaGpu {
  int ordinal = 0;            // this process's CUDA index (FFmpeg's device string)
  std::string pci_address;    // lower-case, "0000:ca:00.0"
  std::string name;
  size_t memory_bytes = 0;
  bool nvenc = false;         // an h264_nvenc session opened on it, or the driver said busy
  bool nvenc_busy = false;    // the test session was refused for the session cap: it has NVENC
  bool hevc = false;          // an hevc_nvenc session opened too (or was refused as busy)
  std::string nvenc_error;    // why not, when !nvenc
};

struct CudaProbe {
  bool driver_loaded = false;
  std::string error;          // why no GPUs, when there are none
  std::vector<CudaGpu> gpus;
};

CudaProbe probe_cuda();

/// What the driver's answer to opening a test h264_nvenc session (avcodec_open2's return)
/// says about the GPU. NVENC answers a session over its cap with "out of memory" (ENOMEM):
/// the GPU has NVENC and is busy, which must never read as "no NVENC".
enum class NvencAnswer { kPresent, kBusy, kAbsent };
NvencAnswer classify_nvenc_open(int averror);

/// Opens sessions one after another with `open` (session index -> avcodec_open2's answer; the
/// caller keeps each open) until the driver refuses or `max` are open. kUnsupported when not
/// even the first opens for a reason other than busy.
Result<SessionLimit> count_until_refused(const std::function<int(int)>& open, int max);

/// The NVENC session limit of CUDA GPU `ordinal`, found by opening small h264_nvenc sessions.
Result<SessionLimit> count_nvenc_sessions(int ordinal, int max);

}  // namespace kiln::nvenc
