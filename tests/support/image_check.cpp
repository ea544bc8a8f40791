#include "support/image_check.hpp"

#include <cstdio>
#include <sstream>

namespace kiln::test {
namespace fs = std::filesystem;

namespace {
std::string quoted(const fs::path& p) {
  std::string out = "'";
  for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

std::string command_output(const std::string& command) {
  FILE* p = popen((command + " 2>/dev/null").c_str(), "r");
  if (!p) return "";
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
  pclose(p);
  return text;
}

ImageFile read_image(const fs::path& file) {
  ImageFile out;
  std::istringstream lines(command_output("vipsheader -a " + quoted(file)));
  for (std::string line; std::getline(lines, line);) {
    auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), value = line.substr(colon + 2);
    if (key == "width") out.width = std::stoi(value);
    else if (key == "height") out.height = std::stoi(value);
    else if (key == "bands") out.bands = std::stoi(value);
    else if (key == "vips-loader") out.loader = value;
  }
  return out;
}

std::vector<double> pixel(const fs::path& file, int x, int y) {
  std::istringstream in(command_output("vips getpoint " + quoted(file) + " " + std::to_string(x) + " " +
                                       std::to_string(y)));
  std::vector<double> v;
  for (double d; in >> d;) v.push_back(d);
  return v;
}

nlohmann::json exif_tags(const fs::path& file) {
  auto j = nlohmann::json::parse(command_output("exiftool -j -G1 -n " + quoted(file)), nullptr, false);
  if (!j.is_array() || j.empty() || !j[0].is_object()) return nlohmann::json::object();
  return j[0];
}

std::vector<std::string> tags_with_prefix(const nlohmann::json& tags, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& [key, value] : tags.items())
    if (key.rfind(prefix, 0) == 0) out.push_back(key);
  return out;
}

}  // namespace kiln::test
