#include "image/exif_text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

namespace kiln::image {
namespace {

/// Longest camera string kept: EXIF allows any length; a result needs a name, not a payload.
constexpr size_t kMaxTextLength = 128;

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxTextLength)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.substr(std::min(out.size(), out.find_first_not_of(' ')));
}

}  // namespace

std::string exif_ascii_value(std::string_view formatted) {
  // libvips writes "RAW (TEXT, ASCII, N components, M bytes)"; for ASCII tags RAW and TEXT are
  // the same string, so the body before the suffix is "X (X": split it in the middle, which
  // stays right when the value itself contains " (".
  static const std::regex suffix(R"(, ASCII, [0-9]+ components, [0-9]+ bytes\)$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(formatted.begin(), formatted.end(), m, suffix)) return {};
  std::string_view body = formatted.substr(0, static_cast<size_t>(m.position(0)));
  if (body.size() < 2 || (body.size() - 2) % 2) return {};
  const size_t n = (body.size() - 2) / 2;
  if (body.substr(n, 2) != " (" || body.substr(0, n) != body.substr(n + 2)) return {};
  return printable(body.substr(0, n));
}

std::string exif_time_to_iso(std::string_view exif_time, std::string_view offset) {
  static const std::regex when(R"(^([0-9]{4}):([0-9]{2}):([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2}))");
  static const std::regex zone(R"(^[+-][0-9]{2}:[0-9]{2}$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(exif_time.begin(), exif_time.end(), m, when)) return {};
  if (m[1].str() == "0000") return {};  // "0000:00:00 00:00:00": a camera whose clock was never set
  std::string iso = fmt::format("{}-{}-{}T{}:{}:{}", m[1].str(), m[2].str(), m[3].str(), m[4].str(), m[5].str(),
                                m[6].str());
  if (std::regex_match(offset.begin(), offset.end(), zone)) iso += offset;
  return iso;
}

}  // namespace kiln::image
