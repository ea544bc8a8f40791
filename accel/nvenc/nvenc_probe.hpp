#pragma once
// The CUDA driver, loaded at run time (libcuda.so.1 ships with the NVIDIA driver, not with
// Kiln): which GPUs it sees, by PCI bus id, and whether each can open an NVENC session.

#include <string>
#include <vector>

namespace kiln::nvenc {

struct CudaGpu {
  int ordinal = 0;            // this process's CUDA index (FFmpeg's device string)
  std::string pci_address;    // lower-case, "0000:ca:00.0"
  std::string name;
  size_t memory_bytes = 0;
  bool nvenc = false;         // an h264_nvenc session opened on it
  std::string nvenc_error;    // why not, when !nvenc
};

struct CudaProbe {
  bool driver_loaded = false;
  std::string error;          // why no GPUs, when there are none
  std::vector<CudaGpu> gpus;
};

CudaProbe probe_cuda();

/// NVENC sessions a GPU allows at once: consumer GeForce cards are capped by the driver,
/// professional and data-center cards are not (0 = no cap).
int nvenc_session_limit(const std::string& model);

}  // namespace kiln::nvenc
