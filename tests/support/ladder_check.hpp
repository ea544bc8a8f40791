#pragma once
// What every published ladder must satisfy, checked from the files a player would fetch.

#include <filesystem>
#include <string>
#include <vector>

namespace kiln::test {

struct ExpectedRendition {
  std::string name;
  int width;
  int height;
};

struct LadderExpectation {
  std::vector<ExpectedRendition> renditions;  // highest first
  bool audio = true;
  double duration = 0;       // source video duration, seconds
  double frame_seconds = 0;  // one (longest) source frame interval
};

/// Checks result.json, every CMAF track (sizes, IDR at every segment start, aligned segment
/// starts across renditions, duration within one frame of the source, audio/video start and
/// end together) and both manifests (every reference exists, segment lists match the files).
/// Reports failures through GoogleTest.
void check_ladder(const std::filesystem::path& out, const LadderExpectation& expect);

}  // namespace kiln::test
