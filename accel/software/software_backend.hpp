#pragma once
// The software backend: libavcodec decode, swscale, libx264. Always present.

#include "kiln/backend.hpp"

namespace kiln::software {

extern const BackendOps kBackend;

}  // namespace kiln::software
