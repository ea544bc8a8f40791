#pragma once
// The VAAPI backend (Intel iHD/i965, AMD radeonsi): vaapi hwaccel decode -> scale_vaapi ->
// h264_vaapi, frames on the device throughout. Devices without an H.264 encode entrypoint but
// with VideoProc run the hybrid recipe (scale_vaapi -> hwdownload -> libx264).

#include "kiln/backend.hpp"

namespace kiln::vaapi {

extern const BackendOps kBackend;

}  // namespace kiln::vaapi
