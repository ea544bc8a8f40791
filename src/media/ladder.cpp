#include "kiln/ladder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <functional>

#include "kiln/default_preset.hpp"
#include "toml_fields.hpp"

namespace kiln {

int VideoStreamInfo::display_width() const {
  int w = sar.num > 0 && sar.den > 0 ? static_cast<int>(std::lround(width * sar.value())) : width;
  return rotation % 180 ? height : w;
}

int VideoStreamInfo::display_height() const {
  int w = sar.num > 0 && sar.den > 0 ? static_cast<int>(std::lround(width * sar.value())) : width;
  return rotation % 180 ? w : height;
}

namespace {

struct StandardRung {
  int height;
  int64_t bitrate;
};
// Bitrates for an NNNp name that the preset does not define (maxrate 1.1x, bufsize 2x).
constexpr std::array kStandardRungs = {
    StandardRung{2160, 12'000'000}, StandardRung{1440, 8'000'000}, StandardRung{1080, 5'000'000},
    StandardRung{720, 3'000'000},   StandardRung{540, 2'000'000},  StandardRung{480, 1'200'000},
    StandardRung{360, 700'000},     StandardRung{240, 400'000},    StandardRung{144, 200'000},
};

/// The widest image variant a preset may ask for (WebP's own limit is 16383).
constexpr int64_t kMaxImageWidth = 16383;
/// The largest pixel limit a preset may set (10 gigapixels: far past any camera).
constexpr double kMaxImagePixelsSetting = 1e10;
constexpr std::array kImageFormats = {"webp", "avif", "jpg"};

int even(double x) { return std::max(2, static_cast<int>(std::lround(x / 2.0)) * 2); }

// HEVC and AV1 reach H.264's quality at about 70% and 60% of its bitrate on typical content
// (the rates streaming services publish for their HEVC and AV1 ladders).
// FFmpeg 5.1's libsvtav1 ignores a frame forced to a keyframe: its GOP is periodic.
constexpr VideoCodecInfo kVideoCodecs[] = {
    {"h264", "libx264", "h264_vaapi", "h264_qsv", "h264_nvenc", 1.0, true},
    {"hevc", "libx265", "hevc_vaapi", "hevc_qsv", "hevc_nvenc", 0.7, true},
    {"av1", "libsvtav1", nullptr, nullptr, nullptr, 0.6, false},
};

/// A rung named NNNp that the base ladder does not define: bitrates from the standard table,
/// profile and preset from the base's nearest rung by height. kUsage for another name.
Result<Rendition> standard_rendition(const Ladder& base, std::string_view name, std::string_view what) {
  int height = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), height);
  if (ec != std::errc() || p + 1 != name.data() + name.size() || *p != 'p' || height <= 0)
    return Status(Code::kUsage, fmt::format("{}: unknown rendition '{}' (use names from the preset or NNNp, e.g. "
                                            "1080p,720p,480p)", what, name));
  auto rung = std::min_element(kStandardRungs.begin(), kStandardRungs.end(),
                               [&](const StandardRung& a, const StandardRung& b) {
                                 return std::abs(a.height - height) < std::abs(b.height - height);
                               });
  // Profile and preset from the preset's nearest rung by height (a 360p rung gets the 480p
  // rung's Main profile, a 1080p rung the 720p rung's High).
  auto near = std::min_element(base.renditions.begin(), base.renditions.end(),
                               [&](const Rendition& a, const Rendition& b) {
                                 return std::abs(a.height - height) < std::abs(b.height - height);
                               });
  Rendition r = near == base.renditions.end() ? Rendition{} : *near;
  r.name = std::string(name);
  r.width = 0;
  r.height = height;
  r.level.clear();
  r.video_bitrate = rung->bitrate * height / rung->height;
  r.maxrate = r.video_bitrate * 11 / 10;
  r.bufsize = r.video_bitrate * 2;
  return r;
}

using toml_fields::read_number;
using toml_fields::read_string;

Status parse_image(const toml::table& t, std::string_view origin, ImageSettings* image) {
  const std::string where = fmt::format("{}: [image]", origin);
  if (auto node = t["widths"]) {
    auto* arr = node.as_array();
    if (!arr) return {Code::kUsage, fmt::format("{}: 'widths' must be a list of pixel widths", where)};
    image->widths.clear();
    for (const auto& item : *arr) {
      auto w = item.value<int64_t>();
      if (!w || !item.is_integer())
        return {Code::kUsage, fmt::format("{}: 'widths' must be a list of whole pixel widths", where)};
      if (*w < 1 || *w > kMaxImageWidth)
        return {Code::kUsage, fmt::format("{}: width {} is outside 1..{}", where, *w, kMaxImageWidth)};
      image->widths.push_back(static_cast<int>(*w));
    }
  }
  KILN_RETURN_IF_ERROR(toml_fields::read_strings(t, "formats", &image->formats, where));
  KILN_RETURN_IF_ERROR(read_number(t, "quality", &image->quality, where));
  double max_pixels = static_cast<double>(image->max_pixels);  // range-checked before the cast
  KILN_RETURN_IF_ERROR(read_number(t, "max_pixels", &max_pixels, where));
  if (!(max_pixels >= 1 && max_pixels <= kMaxImagePixelsSetting))
    return {Code::kUsage, fmt::format("{}: max_pixels must be 1..{:.0f} (got {})", where,
                                      kMaxImagePixelsSetting, max_pixels)};
  image->max_pixels = static_cast<int64_t>(max_pixels);
  KILN_RETURN_IF_ERROR(toml_fields::read_bool(t, "keep_metadata", &image->keep_metadata, where));
  return Status::ok();
}

Result<Rendition> parse_rendition(const toml::table& t, std::string_view origin, size_t i) {
  Rendition r;
  std::string where = fmt::format("{}: rendition #{}", origin, i + 1);
  KILN_RETURN_IF_ERROR(read_string(t, "name", &r.name, where));
  KILN_RETURN_IF_ERROR(read_number(t, "width", &r.width, where));
  KILN_RETURN_IF_ERROR(read_number(t, "height", &r.height, where));
  KILN_RETURN_IF_ERROR(read_number(t, "video_bitrate", &r.video_bitrate, where));
  KILN_RETURN_IF_ERROR(read_number(t, "maxrate", &r.maxrate, where));
  KILN_RETURN_IF_ERROR(read_number(t, "bufsize", &r.bufsize, where));
  KILN_RETURN_IF_ERROR(read_string(t, "profile", &r.profile, where));
  KILN_RETURN_IF_ERROR(read_string(t, "level", &r.level, where));
  KILN_RETURN_IF_ERROR(read_string(t, "x264_preset", &r.x264_preset, where));
  if (r.name.empty() && r.height > 0) r.name = fmt::format("{}p", r.height);
  if (r.maxrate == 0) r.maxrate = r.video_bitrate * 11 / 10;
  if (r.bufsize == 0) r.bufsize = r.video_bitrate * 2;
  return r;
}

}  // namespace

Result<Ladder> parse_preset(std::string_view toml_text, std::string_view origin) {
  auto parsed = toml_fields::parse(toml_text, origin);
  if (!parsed) return parsed.status();
  const toml::table& root = *parsed;
  Ladder ladder;
  KILN_RETURN_IF_ERROR(read_number(root, "segment_seconds", &ladder.segment_seconds, origin));
  KILN_RETURN_IF_ERROR(read_number(root, "gop_seconds", &ladder.gop_seconds, origin));
  if (auto* audio = root["audio"].as_table()) {
    std::string codec = "aac";
    KILN_RETURN_IF_ERROR(read_string(*audio, "codec", &codec, origin));
    if (codec != "aac")
      return Status(Code::kUsage, fmt::format("{}: audio.codec '{}' is not supported (aac)",
                                              origin, codec));
    KILN_RETURN_IF_ERROR(read_number(*audio, "bitrate", &ladder.audio.bitrate, origin));
    KILN_RETURN_IF_ERROR(read_number(*audio, "channels", &ladder.audio.channels, origin));
    KILN_RETURN_IF_ERROR(read_number(*audio, "sample_rate", &ladder.audio.sample_rate, origin));
  }
  if (auto* limits = root["limits"].as_table()) {
    KILN_RETURN_IF_ERROR(read_number(*limits, "max_width", &ladder.limits.max_width, origin));
    KILN_RETURN_IF_ERROR(read_number(*limits, "max_height", &ladder.limits.max_height, origin));
    KILN_RETURN_IF_ERROR(read_number(*limits, "max_duration_seconds",
                                     &ladder.limits.max_duration_seconds, origin));
    KILN_RETURN_IF_ERROR(read_number(*limits, "max_fps", &ladder.limits.max_fps, origin));
  }
  KILN_RETURN_IF_ERROR(toml_fields::read_strings(root, "codecs", &ladder.codecs, origin));
  KILN_RETURN_IF_ERROR(toml_fields::read_strings(root, "mp4", &ladder.mp4, origin));
  if (auto* t = root["thumbnails"].as_table()) {
    const std::string where = fmt::format("{}: [thumbnails]", origin);
    KILN_RETURN_IF_ERROR(read_number(*t, "interval_seconds", &ladder.thumbnails.interval_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*t, "width", &ladder.thumbnails.width, where));
    KILN_RETURN_IF_ERROR(read_string(*t, "format", &ladder.thumbnails.format, where));
    KILN_RETURN_IF_ERROR(read_number(*t, "columns", &ladder.thumbnails.columns, where));
    KILN_RETURN_IF_ERROR(read_number(*t, "rows", &ladder.thumbnails.rows, where));
  }
  if (auto* t = root["poster"].as_table()) {
    const std::string where = fmt::format("{}: [poster]", origin);
    ladder.poster.enabled = true;
    KILN_RETURN_IF_ERROR(toml_fields::read_bool(*t, "enabled", &ladder.poster.enabled, where));
    KILN_RETURN_IF_ERROR(read_number(*t, "at_seconds", &ladder.poster.at_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*t, "width", &ladder.poster.width, where));
    KILN_RETURN_IF_ERROR(read_string(*t, "format", &ladder.poster.format, where));
  }
  if (auto* image = root["image"].as_table()) KILN_RETURN_IF_ERROR(parse_image(*image, origin, &ladder.image));
  auto* rungs = root["rendition"].as_array();
  if (!rungs || rungs->empty())
    return Status(Code::kUsage, fmt::format("{}: no [[rendition]] entries", origin));
  for (size_t i = 0; i < rungs->size(); ++i) {
    auto* t = (*rungs)[i].as_table();
    if (!t) return Status(Code::kUsage, fmt::format("{}: rendition #{} is not a table", origin, i + 1));
    auto r = parse_rendition(*t, origin, i);
    if (!r) return r.status();
    ladder.renditions.push_back(std::move(r).value());
  }
  KILN_RETURN_IF_ERROR(validate_ladder(ladder));
  return ladder;
}

Result<Ladder> load_preset_file(const std::string& path) {
  auto text = toml_fields::read_file(path, "preset");
  if (!text) return text.status();
  return parse_preset(*text, path);
}

Ladder default_ladder() {
  auto ladder = parse_preset(kDefaultPresetToml, "config/presets/default.toml");
  // The embedded preset is checked by the tests; failing here is a build defect.
  if (!ladder) throw std::logic_error(ladder.status().to_string());
  return std::move(ladder).value();
}

Result<Ladder> select_renditions(const Ladder& base, std::string_view spec) {
  Ladder out = base;
  out.renditions.clear();
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t end = std::min(spec.find(',', pos), spec.size());
    std::string_view name = spec.substr(pos, end - pos);
    pos = end + 1;
    if (name.empty()) continue;
    auto it = std::find_if(base.renditions.begin(), base.renditions.end(),
                           [&](const Rendition& r) { return r.name == name; });
    if (it != base.renditions.end()) {
      out.renditions.push_back(*it);
      continue;
    }
    auto r = standard_rendition(base, name, "--ladder");
    if (!r) return r.status();
    out.renditions.push_back(std::move(r).value());
  }
  if (out.renditions.empty()) return Status(Code::kUsage, "--ladder: no renditions given");
  KILN_RETURN_IF_ERROR(validate_ladder(out));
  return out;
}

namespace {

Status validate_image(const ImageSettings& image) {
  if (image.widths.empty()) return {Code::kUsage, "[image] widths: give at least one width"};
  for (int w : image.widths)
    if (w < 1 || w > kMaxImageWidth)
      return {Code::kUsage, fmt::format("[image] widths: {} is outside 1..{}", w, kMaxImageWidth)};
  if (image.formats.empty()) return {Code::kUsage, "[image] formats: give at least one of webp, avif, jpg"};
  for (const auto& f : image.formats) {
    if (std::find(kImageFormats.begin(), kImageFormats.end(), f) == kImageFormats.end())
      return {Code::kUsage, fmt::format("[image] formats: '{}' is not one of webp, avif, jpg", f)};
    if (std::count(image.formats.begin(), image.formats.end(), f) > 1)
      return {Code::kUsage, fmt::format("[image] formats: '{}' is listed twice", f)};
  }
  if (image.quality < 1 || image.quality > 100)
    return {Code::kUsage, fmt::format("[image] quality must be 1..100 (got {})", image.quality)};
  if (image.max_pixels < 1)
    return {Code::kUsage, fmt::format("[image] max_pixels must be at least 1 (got {})", image.max_pixels)};
  return Status::ok();
}

}  // namespace

Status validate_ladder(const Ladder& ladder) {
  if (!(ladder.segment_seconds >= 1 && ladder.segment_seconds <= 60))
    return {Code::kUsage, fmt::format("segment_seconds must be between 1 and 60 (got {})",
                                      ladder.segment_seconds)};
  if (!(ladder.gop_seconds > 0 && ladder.gop_seconds <= ladder.segment_seconds))
    return {Code::kUsage, fmt::format("gop_seconds must be > 0 and <= segment_seconds (got {})",
                                      ladder.gop_seconds)};
  if (ladder.audio.bitrate < 16000 || ladder.audio.bitrate > 512000 ||
      ladder.audio.channels < 1 || ladder.audio.channels > 8 ||
      ladder.audio.sample_rate < 8000 || ladder.audio.sample_rate > 96000)
    return {Code::kUsage, "audio: bitrate 16k-512k, channels 1-8, sample_rate 8000-96000"};
  KILN_RETURN_IF_ERROR(validate_image(ladder.image));
  for (const auto& r : ladder.renditions) {
    if (std::count_if(ladder.renditions.begin(), ladder.renditions.end(),
                      [&](const Rendition& o) { return o.name == r.name; }) > 1)
      return {Code::kUsage, fmt::format("rendition name '{}' is used twice", r.name)};
    if (r.name.empty() || r.name.find_first_of("/\\ ") != std::string::npos || r.name == "audio")
      return {Code::kUsage, fmt::format("rendition name '{}' must be a simple folder name", r.name)};
    if (r.height < 16 || r.height > 8192 || r.width < 0 || r.width > 8192)
      return {Code::kUsage, fmt::format("rendition {}: height must be 16..8192", r.name)};
    if (r.video_bitrate <= 0 || r.maxrate < r.video_bitrate || r.bufsize <= 0)
      return {Code::kUsage, fmt::format("rendition {}: need video_bitrate > 0, maxrate >= "
                                        "video_bitrate, bufsize > 0", r.name)};
    static constexpr std::array kProfiles = {"baseline", "main", "high"};
    if (std::find(kProfiles.begin(), kProfiles.end(), r.profile) == kProfiles.end())
      return {Code::kUsage, fmt::format("rendition {}: profile must be baseline, main or high",
                                        r.name)};
  }
  if (ladder.codecs.empty()) return {Code::kUsage, "codecs: name at least one (h264, hevc, av1)"};
  for (size_t i = 0; i < ladder.codecs.size(); ++i) {
    if (!video_codec(ladder.codecs[i]))
      return {Code::kUsage, fmt::format("codecs: '{}' is not one of h264, hevc, av1", ladder.codecs[i])};
    if (std::count(ladder.codecs.begin(), ladder.codecs.end(), ladder.codecs[i]) > 1)
      return {Code::kUsage, fmt::format("codecs: '{}' is listed twice", ladder.codecs[i])};
  }
  for (const auto& name : ladder.mp4) {
    const bool rung = std::any_of(ladder.renditions.begin(), ladder.renditions.end(),
                                  [&](const Rendition& r) { return r.name == name; });
    if (!rung) KILN_RETURN_IF_ERROR(standard_rendition(ladder, name, "mp4").status());
  }
  const auto& t = ladder.thumbnails;
  if (!(t.interval_seconds >= 0 && t.interval_seconds <= 600) || t.width < 16 || t.width > 1920 ||
      t.columns < 1 || t.columns > 20 || t.rows < 1 || t.rows > 20 || (t.format != "jpg" && t.format != "webp"))
    return {Code::kUsage, "thumbnails: interval_seconds 0-600, width 16-1920, columns and rows 1-20, format jpg or webp"};
  const auto& p = ladder.poster;
  if ((p.width != 0 && (p.width < 16 || p.width > 7680)) || (p.format != "jpg" && p.format != "webp"))
    return {Code::kUsage, "poster: width 16-7680 (or 0 for the source's), format jpg or webp"};
  return Status::ok();
}

const VideoCodecInfo* video_codec(std::string_view name) {
  for (const auto& c : kVideoCodecs)
    if (name == c.name) return &c;
  return nullptr;
}

std::vector<int> plan_image_widths(const ImageSettings& image, int source_width) {
  std::vector<int> out;
  for (int w : image.widths)
    if (w <= source_width && std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  if (out.empty() && source_width > 0) out.push_back(source_width);
  std::sort(out.begin(), out.end(), std::greater<>());
  return out;
}

double output_pixel_rate(const std::vector<PlannedRendition>& plan, double fps) {
  double px = 0;
  for (const auto& r : plan) px += static_cast<double>(r.width) * r.height;
  return px * (fps > 0 ? fps : 30.0);
}

std::vector<PlannedRendition> plan_ladder(const Ladder& ladder, const VideoStreamInfo& video) {
  const int dw = video.display_width(), dh = video.display_height();
  const bool portrait = dh > dw;
  const double src_short = std::min(dw, dh), src_long = std::max(dw, dh);
  std::vector<PlannedRendition> out;
  auto size_of = [&](const Rendition& r, int* w, int* h) {
    int out_short = even(r.height);
    int out_long = even(r.height * src_long / src_short);
    if (r.width > 0 && out_long > r.width) {
      out_long = even(r.width);
      out_short = even(r.width * src_short / src_long);
    }
    *w = portrait ? out_short : out_long;
    *h = portrait ? out_long : out_short;
  };
  auto add = [&](const Rendition& spec, int out_short, int out_long) {
    PlannedRendition p{spec, portrait ? out_short : out_long, portrait ? out_long : out_short};
    for (const auto& q : out)
      if (q.width == p.width && q.height == p.height) return;
    out.push_back(std::move(p));
  };
  for (const auto& r : ladder.renditions) {
    if (r.height > src_short) continue;  // never upscale
    int w = 0, h = 0;
    size_of(r, &w, &h);
    add(r, portrait ? w : h, portrait ? h : w);
  }
  if (out.empty() && !ladder.renditions.empty()) {
    // Smaller than every rung: one rendition at the source's own size, with the smallest
    // rung's rate settings.
    auto smallest = *std::min_element(ladder.renditions.begin(), ladder.renditions.end(),
                                      [](const Rendition& a, const Rendition& b) {
                                        return a.height < b.height;
                                      });
    int out_short = std::max(2, static_cast<int>(src_short) / 2 * 2);
    int out_long = std::max(2, static_cast<int>(src_long) / 2 * 2);
    smallest.name = fmt::format("{}p", out_short);
    add(smallest, out_short, out_long);
  }
  // A rung in a codec other than H.264: the codec's share of the rung's rates (the rungs are
  // H.264 figures), and that codec's Main profile (the rung's H.264 profile and level mean
  // nothing to another encoder).
  auto in_codec = [](PlannedRendition& p, const VideoCodecInfo& info) {
    p.codec = info.name;
    if (p.codec == "h264") return;
    p.spec.video_bitrate = static_cast<int64_t>(std::llround(p.spec.video_bitrate * info.bitrate_factor));
    p.spec.maxrate = static_cast<int64_t>(std::llround(p.spec.maxrate * info.bitrate_factor));
    p.spec.bufsize = static_cast<int64_t>(std::llround(p.spec.bufsize * info.bitrate_factor));
    p.spec.profile = "main";
    p.spec.level.clear();
  };
  const VideoCodecInfo* first_codec = video_codec(ladder.codecs.empty() ? "h264" : ladder.codecs.front());
  const std::vector<PlannedRendition> sizes = out;  // the H.264 figures every codec starts from
  for (auto& p : out) {
    p.codec = "h264";
    if (first_codec) in_codec(p, *first_codec);
    p.folder = p.spec.name;
  }
  // MP4s: a rung of the ladder is remuxed; another rung gets an encode of its own (H.264),
  // never larger than the source.
  for (const auto& name : ladder.mp4) {
    auto rung = std::find_if(out.begin(), out.end(), [&](const PlannedRendition& p) { return p.spec.name == name; });
    if (rung != out.end() && rung->codec == "h264") {
      rung->mp4 = true;
      continue;
    }
    auto spec = standard_rendition(ladder, name, "mp4");
    if (!spec || spec->height > src_short) continue;  // validated already; too tall: not written
    PlannedRendition p{*spec, 0, 0, "h264", spec->name + "-mp4", false, true};
    size_of(*spec, &p.width, &p.height);
    out.push_back(std::move(p));
  }
  // Every further codec encodes each packaged size again, from the same scaled frames.
  for (size_t c = 1; c < ladder.codecs.size(); ++c) {
    const VideoCodecInfo* info = video_codec(ladder.codecs[c]);
    if (!info) continue;
    for (const auto& size : sizes) {
      PlannedRendition p = size;
      in_codec(p, *info);
      p.folder = fmt::format("{}-{}", p.spec.name, info->name);
      out.push_back(std::move(p));
    }
  }
  return out;
}

}  // namespace kiln
