#pragma once
// RFC 6381 codec strings for manifests ("avc1.64001f", "mp4a.40.2").

#include <string>

extern "C" {
#include <libavcodec/codec_par.h>
}

namespace kiln::package {

/// The CODECS value for a stream, from its extradata. "" if it cannot be derived.
std::string rfc6381_codec(const AVCodecParameters* par);

}  // namespace kiln::package
