#pragma once
// The adaptive-bitrate ladder: what a preset file or --ladder asks for, and how it is planned
// against a real source (capped at the source size, even dimensions, display aspect kept).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/media_info.hpp"
#include "kiln/status.hpp"

namespace kiln {

struct Rendition {
  std::string name;           // "720p"; also the rendition's output folder
  int width = 0;              // optional box width; 0 = follow the aspect ratio
  int height = 0;             // the short side of the output
  int64_t video_bitrate = 0;  // bits/s
  int64_t maxrate = 0;
  int64_t bufsize = 0;
  std::string profile = "high";
  std::string level;          // "" = chosen by the encoder
  std::string x264_preset = "veryfast";
};

struct AudioSettings {
  int64_t bitrate = 128000;
  int channels = 2;
  int sample_rate = 48000;
};

struct Limits {
  int max_width = 7680;
  int max_height = 4320;
  double max_duration_seconds = 6 * 3600;
  double max_fps = 240;
};

/// The preset's [image] table: what an image input (JPEG, PNG, WebP, GIF, TIFF, HEIF, AVIF)
/// becomes. A preset without the table gets these values, which are also the default preset's.
struct ImageSettings {
  std::vector<int> widths = {1920, 1280, 640, 320};        // output widths, upright; never upscaled
  std::vector<std::string> formats = {"webp", "avif", "jpg"};  // each width in each format
  int quality = 80;                                          // 1..100, every format
  int64_t max_pixels = 100'000'000;  // width x height from the header; past it, refused undecoded
  /// false: outputs carry no EXIF, XMP or IPTC (the ICC profile stays). true: EXIF and IPTC
  /// stay, except EXIF's GPS block; XMP (which can repeat the position) is still dropped.
  bool keep_metadata = false;
};

struct Ladder {
  std::vector<Rendition> renditions;
  double segment_seconds = 4.0;
  double gop_seconds = 2.0;
  AudioSettings audio;
  Limits limits;
  ImageSettings image;
};

/// A rendition resolved against a source: the exact output size.
struct PlannedRendition {
  Rendition spec;
  int width = 0;
  int height = 0;
};

/// Parses a preset (TOML text). Errors name the offending key.
Result<Ladder> parse_preset(std::string_view toml_text, std::string_view origin);
/// Reads and parses a preset file.
Result<Ladder> load_preset_file(const std::string& path);
/// The built-in default (config/presets/default.toml, embedded at build time).
Ladder default_ladder();

/// Keeps only the named renditions of `base`, in the given order ("720p,480p"). A name not in
/// the preset but of the form NNNp gets bitrates from the standard table.
Result<Ladder> select_renditions(const Ladder& base, std::string_view spec);

/// Checks a ladder for values no encoder could honour.
Status validate_ladder(const Ladder& ladder);

/// Plans output sizes: never upscales; a source smaller than every rendition gets one
/// rendition at its own (even) size; duplicates collapse.
std::vector<PlannedRendition> plan_ladder(const Ladder& ladder, const VideoStreamInfo& video);

/// Widths of an image job's variants for an upright source `source_width` pixels wide: the
/// preset's widths not above it, largest first, duplicates once; the source's own width when
/// every preset width is larger (never upscaled).
std::vector<int> plan_image_widths(const ImageSettings& image, int source_width);

/// Output pixels per second of a planned ladder at `fps` (30 when unknown): what a job costs a
/// device, in the unit device capacities are given in.
double output_pixel_rate(const std::vector<PlannedRendition>& plan, double fps);

}  // namespace kiln
