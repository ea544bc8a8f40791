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

/// Seek-bar thumbnails and storyboard sprites, taken from the decoded frames of the job.
struct ThumbnailSettings {
  double interval_seconds = 0;  // one thumbnail every this many seconds; 0 = none
  int width = 160;              // height follows the display aspect ratio (even)
  std::string format = "jpg";   // jpg or webp
  int columns = 5, rows = 5;    // storyboard sprite sheets: tiles of columns x rows thumbnails
};

/// The poster image: the most representative frame (FFmpeg's thumbnail heuristic over frames
/// sampled once a second, from the first minute), or the frame at `at_seconds`.
struct PosterSettings {
  bool enabled = false;
  double at_seconds = -1;       // < 0: representative
  int width = 0;                // 0: the source's display width (never upscaled)
  std::string format = "jpg";   // jpg or webp
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
  /// Video codecs of the ladder: every size in each (h264, hevc, av1). The first codec's
  /// renditions keep the rungs' names; another codec's are named `<rung>-<codec>`.
  std::vector<std::string> codecs = {"h264"};
  /// Rungs also written as a single-file, fast-start MP4 (`mp4/<rung>.mp4`, H.264 + AAC): a
  /// remux of the rung's packets when the ladder has that rung, else an encode of its own.
  std::vector<std::string> mp4;
  ThumbnailSettings thumbnails;
  PosterSettings poster;
  ImageSettings image;
};

/// A rendition resolved against a source: the exact output size, and what is made of it.
struct PlannedRendition {
  Rendition spec;
  int width = 0;
  int height = 0;
  std::string codec = "h264";  // h264, hevc or av1
  std::string folder;          // its output folder (and HLS/DASH id): spec.name, or <name>-<codec>
  bool packaged = true;        // in the HLS and DASH ladder; false: encoded only for its MP4
  bool mp4 = false;            // also written as mp4/<spec.name>.mp4
};

/// What Kiln knows of each ladder codec: the software encoder, the encoder names of the
/// hardware backends that have one, and how the codec is tagged and rated.
struct VideoCodecInfo {
  const char* name;               // as in presets and --codecs
  const char* software_encoder;   // libx264, libx265, libsvtav1
  const char* vaapi_encoder;      // nullptr: none in FFmpeg 5.1
  const char* qsv_encoder;
  const char* nvenc_encoder;
  double bitrate_factor;          // of the rung's H.264 bitrate, for the same quality
  bool forced_keyframes;          // the software encoder honours a frame forced to IDR
};
/// The codec's row, or nullptr for an unknown name.
const VideoCodecInfo* video_codec(std::string_view name);

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
