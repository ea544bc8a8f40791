#pragma once
// The Intel QSV backend (oneVPL): VAAPI hwaccel decode on the GPU's render node, frames mapped
// to QSV (hwmap derive_device=qsv), scale_qsv, h264_qsv. Devices are confirmed through the
// libvpl dispatcher (MFXLoad + MFXEnumImplementations), matched by PCI address or render node.

#include "kiln/backend.hpp"

namespace kiln::qsv {

extern const BackendOps kBackend;

}  // namespace kiln::qsv
