#pragma once
// What probing learned about an input: plain data, filled by media::probe_input().

#include <cstdint>
#include <optional>
#include <string>

namespace kiln {

struct Rational {
  int num = 0;
  int den = 1;
  double value() const { return den ? static_cast<double>(num) / den : 0.0; }
};

struct VideoStreamInfo {
  int index = -1;
  std::string codec;          // "h264", "hevc", "vp9", ...
  std::string profile;        // "High", "Main 10", ... ("" when unknown)
  int width = 0;              // coded picture size
  int height = 0;
  Rational sar{1, 1};         // sample aspect ratio
  Rational frame_rate;        // average frame rate
  bool variable_frame_rate = false;
  int rotation = 0;           // clockwise degrees to display upright: 0, 90, 180 or 270
  std::string pix_fmt;        // "yuv420p10le", ...
  int bit_depth = 8;
  std::string chroma;         // "4:2:0", "4:2:2", "4:4:4"
  std::string field_order;    // "progressive", "tt", "bb", "tb", "bt", "unknown"
  bool interlaced = false;
  double start_seconds = 0;

  /// Display size: SAR applied to the width, then rotation applied.
  int display_width() const;
  int display_height() const;
};

struct AudioStreamInfo {
  int index = -1;
  std::string codec;
  int channels = 0;
  std::string layout;         // "stereo", "5.1(side)", ...
  int sample_rate = 0;
  double start_seconds = 0;
};

/// What an image input's header says (filled by image::SourceImage::open before any pixel is
/// decoded). Sizes are as stored; the display size has the EXIF orientation applied.
struct ImageInfo {
  std::string format;          // "jpeg", "png", "webp", "gif", "tiff", "heif", "avif" (from the bytes)
  std::string loader;          // libvips loader: "jpegload", "heifload", ...
  int width = 0;               // as stored
  int height = 0;
  int orientation = 1;         // EXIF orientation 1..8 (1 = upright as stored)
  int bands = 0;               // channels, alpha included
  bool alpha = false;
  int bit_depth = 8;           // per channel
  std::string colour_space;    // libvips interpretation: "srgb", "b-w", "cmyk", "rgb16", "grey16", ...
  bool icc_profile = false;    // an embedded ICC profile (kept in outputs)
  int pages = 1;               // frames of an animated GIF/WebP, pages of a TIFF; the first is used
  std::string camera_make;     // EXIF Make / Model; "" when absent
  std::string camera_model;
  std::string capture_time;    // EXIF DateTimeOriginal as ISO 8601 ("2023-06-01T12:34:56+02:00"); ""
  bool gps = false;            // the input carried EXIF GPS tags (never copied to outputs)
  bool exif = false, xmp = false, iptc = false;  // which metadata blocks the input had

  /// The upright size: width and height swap for orientations 5-8.
  int display_width() const { return orientation >= 5 ? height : width; }
  int display_height() const { return orientation >= 5 ? width : height; }
};

struct MediaInfo {
  std::string path;
  std::string container;      // demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  int64_t size_bytes = 0;
  double duration_seconds = 0;
  int64_t bit_rate = 0;
  VideoStreamInfo video;
  std::optional<AudioStreamInfo> audio;
  /// Set for an image job's input (then `video` and `audio` are empty and the duration is 0).
  std::optional<ImageInfo> image;
};

}  // namespace kiln
