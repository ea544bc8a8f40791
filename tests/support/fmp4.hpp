#pragma once
// Reads a CMAF track (init.mp4 + seg_*.m4s) the way a player does: presentation times from
// tfdt + trun, sync flags per sample. Test-only; throws std::runtime_error on malformed input.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kiln::test {

struct Sample {
  int64_t dts = 0;
  int64_t pts = 0;
  int64_t duration = 0;
  bool sync = false;
};

struct CmafTrack {
  uint32_t timescale = 0;
  std::string handler;       // "vide" or "soun"
  int width = 0;             // from the visual sample entry
  int height = 0;
  std::vector<std::vector<Sample>> segments;

  double start_seconds() const;  // earliest presentation time
  double end_seconds() const;    // latest pts + duration
  double seconds(int64_t t) const { return static_cast<double>(t) / timescale; }
  size_t sample_count() const;
};

CmafTrack read_cmaf_track(const std::filesystem::path& dir);

}  // namespace kiln::test
