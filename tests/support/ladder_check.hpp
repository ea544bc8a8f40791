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
  /// False for an input whose real length is unknown (a mutated file): the video's duration
  /// and where audio ends are not checked; everything a player relies on still is.
  bool exact_timing = true;
  /// Where the tracks lie relative to the manifests: "" (a local output), or an object-store
  /// attempt's folder ("a2/"), which every manifest reference must go through.
  std::string media_prefix;
};

/// What `out/result.json` says was published (renditions, sizes, audio), for a check that
/// knows nothing of the input but its structure (exact_timing = false).
LadderExpectation expectation_from_result(const std::filesystem::path& out);

/// Checks result.json, every CMAF track (sizes, IDR at every segment start, aligned segment
/// starts across renditions, duration within one frame of the source, audio/video start and
/// end together) and both manifests (every reference exists, segment lists match the files).
/// Reports failures through GoogleTest.
void check_ladder(const std::filesystem::path& out, const LadderExpectation& expect);

}  // namespace kiln::test
