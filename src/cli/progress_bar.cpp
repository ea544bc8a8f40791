#include "cli/progress_bar.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "log.hpp"

namespace kiln::cli {
namespace {
std::string clock_text(double seconds) {
  if (seconds < 0) return "--:--";
  auto s = static_cast<long>(std::lround(seconds));
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}
}  // namespace

std::string ProgressDisplay::render(const Progress& p, int width) {
  int filled = static_cast<int>(std::clamp(p.percent, 0.0, 100.0) / 100.0 * width);
  return fmt::format("{:>4.0f}% [{}{}] {:6.1f} fps {:5.2f}x ETA {}", p.percent,
                     std::string(filled, '#'), std::string(width - filled, '-'), p.fps, p.speed,
                     clock_text(p.eta_seconds));
}

void ProgressDisplay::update(const Progress& p) {
  std::lock_guard lock(mu_);
  if (p.phase != "transcoding") return;
  if (tty_) {
    std::fprintf(stderr, "\r%s", render(p, 30).c_str());
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  auto now = std::chrono::steady_clock::now();
  int decile = static_cast<int>(p.percent / 10);
  if (decile > last_decile_ || now - last_line_ > std::chrono::seconds(10)) {
    last_decile_ = decile;
    last_line_ = now;
    logger("progress")->info("{:.0f}% {} frames {:.1f} fps {:.2f}x realtime ETA {}", p.percent,
                             p.frames, p.fps, p.speed, clock_text(p.eta_seconds));
  }
}

void ProgressDisplay::finish() {
  std::lock_guard lock(mu_);
  if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

}  // namespace kiln::cli
