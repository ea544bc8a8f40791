#pragma once
// The NVIDIA backend: cuda hwaccel decode (NVDEC) -> scale_cuda -> h264_nvenc, frames on the
// GPU throughout. GPUs without NVENC (data-center H100/H200/A100) run the hybrid recipe:
// NVDEC + scale_cuda -> hwdownload -> libx264. GPUs are identified by PCI bus id, never by
// CUDA index (which follows CUDA_DEVICE_ORDER, not the bus).

#include "kiln/backend.hpp"

namespace kiln::nvenc {

extern const BackendOps kBackend;

}  // namespace kiln::nvenc
