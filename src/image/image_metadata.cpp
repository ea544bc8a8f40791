#include "image/image_metadata.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <vector>

#include "image/exif_text.hpp"
#include "image/vips_handles.hpp"

namespace kiln::image {
namespace {

std::string meta_string(VipsImage* image, const char* name) {
  const char* value = nullptr;
  if (vips_image_get_typeof(image, name) == 0 || vips_image_get_string(image, name, &value) != 0 || !value) {
    vips_error_clear();  // a missing or odd tag is not an error worth keeping
    return {};
  }
  return value;
}

bool has(VipsImage* image, const char* name) { return vips_image_get_typeof(image, name) != 0; }

std::vector<std::string> field_names(VipsImage* image) {
  std::vector<std::string> out;
  GStrvPtr fields(vips_image_get_fields(image));
  for (gchar** f = fields.get(); f && *f; ++f) out.emplace_back(*f);
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

int bit_depth_of(VipsImage* image) {
  int bits = 0;
  if (has(image, "bits-per-sample") && vips_image_get_int(image, "bits-per-sample", &bits) == 0 && bits > 0)
    return bits;
  vips_error_clear();
  switch (vips_image_get_format(image)) {
    case VIPS_FORMAT_UCHAR: case VIPS_FORMAT_CHAR: return 8;
    case VIPS_FORMAT_USHORT: case VIPS_FORMAT_SHORT: return 16;
    case VIPS_FORMAT_UINT: case VIPS_FORMAT_INT: case VIPS_FORMAT_FLOAT: return 32;
    default: return 64;
  }
}

}  // namespace

ImageInfo describe_image(VipsImage* header, ImageFormat format) {
  ImageInfo info;
  info.format = image_format_name(format);
  info.loader = meta_string(header, "vips-loader");
  info.width = vips_image_get_width(header);
  info.height = vips_image_get_height(header);
  info.orientation = std::clamp(vips_image_get_orientation(header), 1, 8);
  info.bands = vips_image_get_bands(header);
  info.alpha = vips_image_hasalpha(header);
  info.bit_depth = bit_depth_of(header);
  if (const char* nick = vips_enum_nick(VIPS_TYPE_INTERPRETATION, vips_image_get_interpretation(header)))
    info.colour_space = nick;
  info.icc_profile = has(header, VIPS_META_ICC_NAME);
  info.pages = std::max(1, vips_image_get_n_pages(header));
  info.exif = has(header, VIPS_META_EXIF_NAME);
  info.xmp = has(header, VIPS_META_XMP_NAME);
  info.iptc = has(header, VIPS_META_IPTC_NAME);
  info.camera_make = exif_ascii_value(meta_string(header, "exif-ifd0-Make"));
  info.camera_model = exif_ascii_value(meta_string(header, "exif-ifd0-Model"));
  // The moment the picture was taken; older cameras have only the file's DateTime.
  for (const auto& [time, offset] : std::array<std::pair<const char*, const char*>, 3>{
           {{"exif-ifd2-DateTimeOriginal", "exif-ifd2-OffsetTimeOriginal"},
            {"exif-ifd2-DateTimeDigitized", "exif-ifd2-OffsetTimeDigitized"},
            {"exif-ifd0-DateTime", "exif-ifd2-OffsetTime"}}}) {
    info.capture_time = exif_time_to_iso(exif_ascii_value(meta_string(header, time)),
                                         exif_ascii_value(meta_string(header, offset)));
    if (!info.capture_time.empty()) break;
  }
  for (const auto& name : field_names(header))
    if (starts_with(name, "exif-ifd3-")) info.gps = true;  // IFD3 is EXIF's GPS block
  return info;
}

void strip_for_output(VipsImage* image, bool keep_metadata) {
  for (const auto& name : field_names(image)) {
    if (name == VIPS_META_ICC_NAME) continue;  // the colours stay right
    const bool exif = name == VIPS_META_EXIF_NAME || (starts_with(name, "exif-") && !starts_with(name, "exif-ifd3-"));
    if (keep_metadata && (exif || name == VIPS_META_IPTC_NAME)) continue;
    // Everything else: GPS, XMP, IPTC, comments, text chunks, and the loader's own notes.
    // Built-in header fields (width, bands...) are not metadata and are never removed.
    vips_image_remove(image, name.c_str());
  }
}

}  // namespace kiln::image
