#pragma once
// Progress display for long jobs: a redrawn bar on a terminal, plain log lines otherwise.

#include <chrono>
#include <mutex>
#include <string>

#include "kiln/pipeline.hpp"

namespace kiln::cli {

class ProgressDisplay {
 public:
  /// `tty`: redraw one line on stderr; otherwise log a line every 10% or 10 s.
  explicit ProgressDisplay(bool tty) : tty_(tty) {}
  void update(const Progress& p);
  /// Clears the bar line (terminal) so the summary starts on a clean line.
  void finish();

  /// "  42% [########------------]  87.3 fps  2.91x  ETA 0:04" (exposed for tests).
  static std::string render(const Progress& p, int width);

 private:
  bool tty_;
  std::mutex mu_;
  bool drawn_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point last_line_{};
};

}  // namespace kiln::cli
