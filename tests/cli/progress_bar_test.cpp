#include "cli/progress_bar.hpp"

#include <gtest/gtest.h>

namespace kiln::cli {
namespace {

TEST(ProgressBar, ShowsPercentFpsSpeedAndEta) {
  Progress p;
  p.percent = 50;
  p.fps = 87.25;
  p.speed = 2.9;
  p.eta_seconds = 65;
  std::string s = ProgressDisplay::render(p, 10);
  EXPECT_EQ(s, "  50% [#####-----]   87.2 fps  2.90x ETA 1:05");
}

TEST(ProgressBar, UnknownEtaIsDashes) {
  Progress p;
  EXPECT_NE(ProgressDisplay::render(p, 4).find("ETA --:--"), std::string::npos);
}

}  // namespace
}  // namespace kiln::cli
