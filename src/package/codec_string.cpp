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

/// The payload of the first box of type `fourcc` in `data` (a search: the sample entry's
/// children are nested inside stsd, and an init segment is small).
std::string_view find_box(std::string_view data, const char* fourcc) {
  for (size_t at = data.find(fourcc); at != std::string_view::npos; at = data.find(fourcc, at + 1)) {
    if (at < 4) continue;
    const auto* b = reinterpret_cast<const uint8_t*>(data.data() + at - 4);
    const uint32_t size = (uint32_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    if (size >= 8 && at - 4 + size <= data.size()) return data.substr(at + 4, size - 8);
  }
  return {};
}

}  // namespace

std::string hevc_codec_string(const uint8_t* d, size_t size) {
  if (size < 13) return "";
  const int space = d[1] >> 6, tier = (d[1] >> 5) & 1, profile = d[1] & 0x1f;
  uint32_t compat = (uint32_t{d[2]} << 24) | (d[3] << 16) | (d[4] << 8) | d[5];
  uint32_t reversed = 0;  // the 32 compatibility flags, in reverse bit order
  for (int i = 0; i < 32; ++i) reversed |= ((compat >> i) & 1u) << (31 - i);
  std::string out = fmt::format("hvc1.{}{}.{:X}.{}{}", space ? std::string(1, static_cast<char>('A' + space - 1)) : "",
                                profile, reversed, tier ? 'H' : 'L', d[12]);
  int last = 5;  // the six constraint bytes, trailing zero bytes left out
  while (last >= 0 && d[6 + last] == 0) --last;
  for (int i = 0; i <= last; ++i) out += fmt::format(".{:X}", d[6 + i]);
  return out;
}

std::string av1_codec_string(const uint8_t* d, size_t size) {
  if (size < 4 || (d[0] & 0x80) == 0) return "";  // marker bit, version 1
  const int profile = d[1] >> 5, level = d[1] & 0x1f;
  const bool tier = d[2] & 0x80, high = d[2] & 0x40, twelve = d[2] & 0x20;
  return fmt::format("av01.{}.{:02d}{}.{:02d}", profile, level, tier ? 'H' : 'M', twelve ? 12 : high ? 10 : 8);
}

std::string rfc6381_codec(const AVCodecParameters* par, std::string_view init) {
  switch (par->codec_id) {
    case AV_CODEC_ID_H264: {
      uint8_t pl[3];
      if (!h264_profile_level(par->extradata, par->extradata_size, pl)) return "";
      return fmt::format("avc1.{:02x}{:02x}{:02x}", pl[0], pl[1], pl[2]);
    }
    case AV_CODEC_ID_HEVC: {
      std::string_view box = find_box(init, "hvcC");
      return hevc_codec_string(reinterpret_cast<const uint8_t*>(box.data()), box.size());
    }
    case AV_CODEC_ID_AV1: {
      std::string_view box = find_box(init, "av1C");
      return av1_codec_string(reinterpret_cast<const uint8_t*>(box.data()), box.size());
    }
    case AV_CODEC_ID_AAC:
      // Audio object type = profile + 1 (AAC-LC: 2).
      return fmt::format("mp4a.40.{}", par->profile >= 0 ? par->profile + 1 : 2);
    default:
      return "";
  }
}

}  // namespace kiln::package
