#pragma once
// Probe and validate an input before any work is done: every refusal carries a distinct Code
// and a message that says what is wrong with the file.

#include <cstdint>
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

/// An input read over HTTP(S) instead of from a file: an object in a bucket, through a presigned
/// URL. The URL carries a signature, so it never appears in a message: `name` does (the
/// object's s3:// URL). `size` is the object's, from its HEAD, for the truncation check.
struct RemoteInput {
  std::string name;
  int64_t size = 0;
};

/// Opens `path` (a local file; or, with `remote`, the http:// or https:// URL `path`, reading
/// with ranged GETs that reconnect after a dropped connection), reads stream information and
/// validates it against `limits`. Only a whitelist of containers is opened, and only the file
/// (or the URL's own) protocol. Fails with kInputMissing, kInputEmpty, kInputNotMedia,
/// kInputNoVideo, kInputTruncated, kInputUnsupported or kInputLimits.
Result<ProbedInput> open_and_probe(const std::string& path, const Limits& limits,
                                   const RemoteInput* remote = nullptr);

/// The containers Kiln will open ("mov,mp4,...,matroska,webm,mpegts,...").
const char* container_whitelist();

}  // namespace kiln::media
