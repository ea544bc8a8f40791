#include "package/codec_string.hpp"

#include <fmt/format.h>

extern "C" {
#include <libavcodec/avcodec.h>
}

namespace kiln::package {
namespace {

// profile_idc, constraint flags and level_idc of an H.264 stream, from avcC or Annex B.
bool h264_profile_level(const uint8_t* d, int size, uint8_t out[3]) {
  if (size >= 4 && d[0] == 1) {  // avcC: version, profile, compat, level
    out[0] = d[1], out[1] = d[2], out[2] = d[3];
    return true;
  }
  for (int i = 0; i + 4 < size; ++i) {  // Annex B: find the SPS (NAL type 7)
    bool start = d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1;
    if (start && (d[i + 3] & 0x1f) == 7 && i + 6 < size) {
      out[0] = d[i + 4], out[1] = d[i + 5], out[2] = d[i + 6];
      return true;
    }
  }
  return false;
}

}  // namespace

std::string rfc6381_codec(const AVCodecParameters* par) {
  switch (par->codec_id) {
    case AV_CODEC_ID_H264: {
      uint8_t pl[3];
      if (!h264_profile_level(par->extradata, par->extradata_size, pl)) return "";
      return fmt::format("avc1.{:02x}{:02x}{:02x}", pl[0], pl[1], pl[2]);
    }
    case AV_CODEC_ID_AAC:
      // Audio object type = profile + 1 (AAC-LC: 2).
      return fmt::format("mp4a.40.{}", par->profile >= 0 ? par->profile + 1 : 2);
    default:
      return "";
  }
}

}  // namespace kiln::package
