#pragma once
// Telling an image from everything else by its first bytes, never by its name: a text file
// called photo.jpg is not an image, and a JPEG called clip.mp4 is one. No libvips here.

#include <optional>
#include <string>
#include <string_view>

namespace kiln::image {

enum class ImageFormat { kJpeg, kPng, kGif, kWebp, kTiff, kHeif, kAvif };

/// Lower-case name as results report it: "jpeg", "png", "gif", "webp", "tiff", "heif", "avif".
const char* image_format_name(ImageFormat format);

/// How many leading bytes sniff_image_bytes() looks at, at most.
inline constexpr size_t kSniffBytes = 64;

/// The image format whose signature `head` (a file's first bytes) starts with; nullopt for
/// anything else. ISO-BMFF files (`ftyp`) are images only when their major brand is a HEIF
/// or AVIF one: an MP4 or MOV starts with `ftyp` too and stays a video.
std::optional<ImageFormat> sniff_image_bytes(std::string_view head);

/// sniff_image_bytes() on the start of the file at `path`; nullopt when it is not an image or
/// cannot be read (the media probe then reports why: missing, empty, not media...).
std::optional<ImageFormat> sniff_image(const std::string& path);

}  // namespace kiln::image
