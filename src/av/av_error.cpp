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
  if (averror == AVERROR(ENOMEM)) code = Code::kInternal;
  if (averror == AVERROR(EIO) && code == Code::kInternal) code = Code::kIo;
  std::string msg = what + ": " + error_string(averror);
  spdlog::debug("libav call failed: {}", msg);
  return Status(code, std::move(msg));
}

}  // namespace kiln::av
