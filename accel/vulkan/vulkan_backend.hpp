#pragma once
// The Vulkan backend: a scaler-only recipe. FFmpeg 5.1 has no Vulkan encoder, so frames are
// decoded in software, uploaded, scaled with scale_vulkan, downloaded and encoded by libx264.
// Mesa's lavapipe runs it on a machine with no GPU, which is how CI exercises hardware frames.

#include "kiln/backend.hpp"

namespace kiln::vulkan {

extern const BackendOps kBackend;

}  // namespace kiln::vulkan
