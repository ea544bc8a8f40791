#include "av/av_log_bridge.hpp"

#include "log.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>
#include <string>

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
