#pragma once
// Reading an image job's outputs back with tools outside Kiln: the vips CLI (size, bands,
// loader, a pixel) and exiftool (every metadata tag). Test support for the image tests.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::test {

/// stdout of a shell command (stderr dropped); "" when it cannot run.
std::string command_output(const std::string& command);

struct ImageFile {
  int width = 0;
  int height = 0;
  int bands = 0;
  std::string loader;  // "webpload", "heifload", "jpegload", ...; "" when vips cannot read it
};
/// `vipsheader -a`: what libvips' own CLI reads in the file.
ImageFile read_image(const std::filesystem::path& file);

/// `vips getpoint`: the band values of the pixel at (x, y); empty when it cannot be read.
std::vector<double> pixel(const std::filesystem::path& file, int x, int y);

/// `exiftool -j -G1 -n`: every tag exiftool finds, keyed "Group:Tag" ("IFD0:Make", "GPS:GPSLatitude",
/// "ICC-header:ProfileClass"...); an empty object when exiftool finds nothing.
nlohmann::json exif_tags(const std::filesystem::path& file);

/// Keys of `tags` that start with `prefix`: "GPS:" (the GPS block), "XMP" (any XMP group), "ICC".
std::vector<std::string> tags_with_prefix(const nlohmann::json& tags, const std::string& prefix);

}  // namespace kiln::test
