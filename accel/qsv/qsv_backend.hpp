#pragma once
// The Intel QSV backend (oneVPL): VAAPI hwaccel decode on the GPU's render node, frames mapped
// to QSV (hwmap derive_device=qsv), scale_qsv, h264_qsv. Devices are confirmed through the
// libvpl dispatcher (MFXLoad + MFXEnumImplementations), matched by PCI address or render node.

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/backend.hpp"

namespace kiln::qsv {

extern const BackendOps kBackend;

/// libavcodec's name for a oneVPL codec FourCC (MFX_CODEC_AVC -> "h264"); "" for one Kiln does
/// not name.
std::string codec_name(uint32_t fourcc);

/// The codecs an implementation describes (mfxImplDescription Dec/Enc CodecID lists), by name,
/// each once, in the order given. What a device decodes and encodes comes from here, not from
/// an assumption that every Intel GPU encodes H.264.
std::vector<std::string> codec_names(const std::vector<uint32_t>& fourccs);

}  // namespace kiln::qsv
