#pragma once
// An image input through libvips: its header read and checked before any pixel is decoded,
// then decoded once, upright, and written as resized variants. The vips types stay inside
// src/image/; callers see plain structs and Status.

#include <cstdint>
#include <memory>
#include <string>

#include "image/image_sniff.hpp"
#include "kiln/media_info.hpp"
#include "kiln/status.hpp"

namespace kiln::image {

/// One output: the upright image resized to `width` (height from the aspect ratio) in
/// `format` ("webp", "avif", "jpg") at `path`.
struct VariantRequest {
  int width = 0;
  std::string format;
  int quality = 80;
  bool keep_metadata = false;  // see ImageSettings::keep_metadata
  std::string path;
  std::string label;           // what messages call it: "image/1920.webp"; "" = the path
};

struct VariantWritten {
  int width = 0;
  int height = 0;
  int64_t size_bytes = 0;
};

/// Move-only; owns the libvips images. Not thread-safe: one job's thread uses it.
class SourceImage {
 public:
  /// Opens `path` with the loader for `format` (never by the file's name, never another
  /// loader) and reads its header and metadata only. Refuses, before decoding: an image past
  /// `max_pixels` (kInputLimits, with both numbers), a header that cannot be read
  /// (kInputTruncated), a variant of the format libvips cannot read (kInputUnsupported).
  static Result<SourceImage> open(const std::string& path, ImageFormat format, int64_t max_pixels);

  SourceImage(SourceImage&&) noexcept;
  SourceImage& operator=(SourceImage&&) noexcept;
  ~SourceImage();

  const ImageInfo& info() const;

  /// Decodes every pixel of the first page into memory, once, and applies the EXIF
  /// orientation. kInputTruncated for a damaged or cut-short file, kInputLimits when the
  /// memory ceiling is reached.
  Status decode();

  /// Writes one variant from the decoded image (decode() first). Colour: CMYK is converted to
  /// sRGB through its ICC profile, 16-bit to 8-bit; JPEG has no alpha, so transparent pixels
  /// are flattened onto white. kIo when the file cannot be written; kUnsupported when the size
  /// is past the format's own limit (WebP: 16383 pixels a side; AVIF: 16384, libheif's).
  Result<VariantWritten> write(const VariantRequest& request) const;

 private:
  struct Impl;
  explicit SourceImage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::image
