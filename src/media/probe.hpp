#pragma once
// Probe and validate an input before any work is done: every refusal carries a distinct Code
// and a message that says what is wrong with the file.

#include <string>
#include <vector>

#include "av/av_handles.hpp"
#include "kiln/ladder.hpp"
#include "kiln/media_info.hpp"
#include "kiln/status.hpp"

namespace kiln::media {

/// An input opened for demuxing, with what probing found. Move-only (owns the demuxer).
struct ProbedInput {
  av::InputFormatPtr format;
  MediaInfo info;
  std::vector<std::string> warnings;
  bool consumed = false;  // a ladder run read packets from `format`: open again to retry
};

/// Opens `path` (local files only; a whitelist of containers), reads stream information and
/// validates it against `limits`. Fails with kInputMissing, kInputEmpty, kInputNotMedia,
/// kInputNoVideo, kInputTruncated, kInputUnsupported or kInputLimits.
Result<ProbedInput> open_and_probe(const std::string& path, const Limits& limits);

/// The containers Kiln will open ("mov,mp4,...,matroska,webm,mpegts,...").
const char* container_whitelist();

}  // namespace kiln::media
