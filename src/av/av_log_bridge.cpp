#include "av/av_log_bridge.hpp"

#include "log.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

extern "C" {
#include <libavutil/log.h>
}

namespace kiln::av {
namespace {

std::shared_ptr<spdlog::logger> ffmpeg_logger() {
  static std::shared_ptr<spdlog::logger> l = kiln::logger("ffmpeg");
  return l;
}

spdlog::level::level_enum map_level(int level) {
  if (level <= AV_LOG_FATAL) return spdlog::level::err;
  if (level <= AV_LOG_ERROR) return spdlog::level::warn;
  if (level <= AV_LOG_WARNING) return spdlog::level::info;
  if (level <= AV_LOG_INFO) return spdlog::level::debug;
  return spdlog::level::trace;
}

/// A presigned URL's signature and session token are secrets: a line that carries one (libav
/// names the URL it opens at some levels) keeps the URL but not them.
void redact_signatures(std::string& line) {
  for (std::string_view field : {"X-Amz-Signature=", "X-Amz-Security-Token=", "X-Amz-Credential="}) {
    for (size_t at = line.find(field); at != std::string::npos; at = line.find(field, at)) {
      at += field.size();
      size_t end = line.find_first_of("&' \"\t", at);
      line.replace(at, (end == std::string::npos ? line.size() : end) - at, "REDACTED");
    }
  }
}

void callback(void* avcl, int level, const char* fmt, va_list vl) {
  auto lvl = map_level(level);
  auto logger = ffmpeg_logger();
  if (!logger->should_log(lvl)) return;
  // av_log_format_line keeps FFmpeg's "[h264 @ 0x..]" prefix; lines arrive in pieces, so
  // buffer per thread until a newline.
  thread_local std::string pending;
  thread_local int print_prefix = 1;
  char line[1024];
  av_log_format_line(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
  pending += line;
  if (pending.empty() || pending.back() != '\n') return;
  pending.pop_back();
  redact_signatures(pending);
  logger->log(lvl, "{}", pending);
  pending.clear();
}

}  // namespace

void install_log_bridge() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_VERBOSE);
    av_log_set_callback(callback);
  });
}

}  // namespace kiln::av
