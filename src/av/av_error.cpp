#include "av/av_error.hpp"

#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/error.h>
}

namespace kiln::av {

std::string error_string(int averror) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(averror, buf, sizeof buf);
  return buf;
}

Status to_status(int averror, Code code, const std::string& what) {
  std::string msg = what + ": " + error_string(averror);
  if (averror == AVERROR(ENOMEM)) {
    // Every job runs under a memory ceiling, and libav also refuses single allocations past
    // 2 GiB (a damaged size field asks for those): either way the input needs more memory
    // than the job may have, which no retry changes.
    code = Code::kInputLimits;
    msg += " (the input needs more memory than the job's ceiling allows: --max-memory, or worker_memory_mb "
           "on a node)";
  }
  if (averror == AVERROR(EIO) && code == Code::kInternal) code = Code::kIo;
  spdlog::debug("libav call failed: {}", msg);
  return Status(code, std::move(msg));
}

}  // namespace kiln::av
