#pragma once
// RFC 6381 codec strings for manifests ("avc1.64001f", "mp4a.40.2").

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" {
#include <libavcodec/codec_par.h>
}

namespace kiln::package {

/// The CODECS value for a stream, from its extradata, or for HEVC and AV1 from the hvcC/av1C
/// box of `init_segment` (the muxer's own record: encoders give raw parameter sets). ""
/// if it cannot be derived.
std::string rfc6381_codec(const AVCodecParameters* par, std::string_view init_segment = {});

/// "hvc1.1.6.L93.B0" from an hvcC record's bytes (ISO/IEC 14496-15 E.3).
std::string hevc_codec_string(const uint8_t* hvcc, size_t size);
/// "av01.0.08M.08" from an av1C record's bytes (the AV1 ISOBMFF binding, codecs parameter).
std::string av1_codec_string(const uint8_t* av1c, size_t size);

}  // namespace kiln::package
