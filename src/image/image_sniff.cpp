#include "image/image_sniff.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>

namespace kiln::image {
namespace {

struct Signature {
  std::string_view magic;
  size_t offset;
  ImageFormat format;
};

// Fixed signatures at fixed offsets. WebP is a RIFF file whose form type is "WEBP" (a WAV or
// AVI is RIFF too); TIFF covers both byte orders and BigTIFF.
constexpr std::array kSignatures = {
    Signature{"\xFF\xD8\xFF", 0, ImageFormat::kJpeg},
    Signature{"\x89PNG\r\n\x1A\n", 0, ImageFormat::kPng},
    Signature{"GIF87a", 0, ImageFormat::kGif},
    Signature{"GIF89a", 0, ImageFormat::kGif},
    Signature{"WEBP", 8, ImageFormat::kWebp},  // with "RIFF" at 0, checked below
    Signature{std::string_view("II*\0", 4), 0, ImageFormat::kTiff},
    Signature{std::string_view("MM\0*", 4), 0, ImageFormat::kTiff},
    Signature{std::string_view("II+\0", 4), 0, ImageFormat::kTiff},
    Signature{std::string_view("MM\0+", 4), 0, ImageFormat::kTiff},
};

struct Brand {
  std::string_view brand;
  ImageFormat format;
};
// HEIF still images and image sequences (ISO/IEC 23008-12) and AVIF. Video brands (isom,
// mp41, mp42, qt, M4V, 3gp4, dash...) are absent on purpose: those files go to the media probe.
constexpr std::array kImageBrands = {
    Brand{"avif", ImageFormat::kAvif}, Brand{"avis", ImageFormat::kAvif},
    Brand{"heic", ImageFormat::kHeif}, Brand{"heix", ImageFormat::kHeif},
    Brand{"heim", ImageFormat::kHeif}, Brand{"heis", ImageFormat::kHeif},
    Brand{"hevc", ImageFormat::kHeif}, Brand{"hevx", ImageFormat::kHeif},
    Brand{"mif1", ImageFormat::kHeif}, Brand{"mif2", ImageFormat::kHeif},
    Brand{"msf1", ImageFormat::kHeif},
};

}  // namespace

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "jpeg";
    case ImageFormat::kPng: return "png";
    case ImageFormat::kGif: return "gif";
    case ImageFormat::kWebp: return "webp";
    case ImageFormat::kTiff: return "tiff";
    case ImageFormat::kHeif: return "heif";
    case ImageFormat::kAvif: return "avif";
  }
  return "unknown";
}

std::optional<ImageFormat> sniff_image_bytes(std::string_view head) {
  for (const auto& s : kSignatures) {
    if (head.size() < s.offset + s.magic.size() || head.substr(s.offset, s.magic.size()) != s.magic) continue;
    if (s.format == ImageFormat::kWebp && head.substr(0, 4) != "RIFF") continue;
    return s.format;
  }
  // ISO-BMFF: a 32-bit box size, "ftyp", then the major brand. The major brand decides: a
  // HEIF-in-MP4 hybrid that declares a video brand first is played as the video it says it is.
  if (head.size() >= 12 && head.substr(4, 4) == "ftyp")
    for (const auto& b : kImageBrands)
      if (head.substr(8, 4) == b.brand) {
        // "mif1"/"msf1" are HEIF's structural brands: an AVIF may declare one as its major
        // brand and "avif" among the compatible ones that follow the minor version.
        if (b.brand == "mif1" || b.brand == "msf1" || b.brand == "mif2") {
          const uint32_t box = (static_cast<uint8_t>(head[0]) << 24) | (static_cast<uint8_t>(head[1]) << 16) |
                               (static_cast<uint8_t>(head[2]) << 8) | static_cast<uint8_t>(head[3]);
          const size_t end = std::min<size_t>(head.size(), box);
          for (size_t at = 16; at + 4 <= end; at += 4) {
            auto compatible = head.substr(at, 4);
            if (compatible == "avif" || compatible == "avis") return ImageFormat::kAvif;
          }
        }
        return b.format;
      }
  return std::nullopt;
}

std::optional<ImageFormat> sniff_image(const std::string& path) {
  // Only a regular file is opened: a FIFO would block here, and the probe refuses the rest.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::array<char, kSniffBytes> buf{};
  in.read(buf.data(), buf.size());
  return sniff_image_bytes(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
}

}  // namespace kiln::image
