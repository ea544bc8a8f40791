#pragma once
// EXIF values as libvips hands them over, turned into what a result reports. Pure text
// functions (no libvips), so they are tested on their own.

#include <string>
#include <string_view>

namespace kiln::image {

/// The text of an EXIF ASCII tag as libvips formats it ("Canon (Canon, ASCII, 6 components,
/// 6 bytes)" -> "Canon"), cut to printable ASCII (it goes into JSON and logs), trimmed and at
/// most 128 characters; "" when it is not that shape.
std::string exif_ascii_value(std::string_view formatted);

/// EXIF "2023:06:01 12:34:56" (+ OffsetTime "+02:00") as ISO 8601 "2023-06-01T12:34:56+02:00";
/// "" when the date is blank, zero or malformed.
std::string exif_time_to_iso(std::string_view exif_time, std::string_view offset);

}  // namespace kiln::image
