// The preset's limits hold for the whole stream, not only for what the probe saw: a stream
// that switches to a larger picture mid-stream is refused when it does.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "support/run.hpp"

namespace kiln::test {
namespace {
namespace fs = std::filesystem;

int ffmpeg(const std::string& args) {
  return std::system(("ffmpeg -hide_banner -loglevel error -nostdin -y " + args).c_str());
}

TEST(Limits, ASizeChangeMidStreamPastTheLimitIsRefused) {
  TempDir tmp;
  // Two H.264 MPEG-TS pieces, 320x240 then 640x480, joined byte for byte: one stream whose
  // first frames (all the probe reads) are small and whose later frames are not.
  const std::string small = (tmp / "small.ts").string(), large = (tmp / "large.ts").string();
  ASSERT_EQ(ffmpeg("-f lavfi -i testsrc=size=320x240:rate=30:duration=2 -c:v libx264 -preset ultrafast "
                   "-pix_fmt yuv420p -f mpegts '" + small + "'"), 0);
  ASSERT_EQ(ffmpeg("-f lavfi -i testsrc=size=640x480:rate=30:duration=2 -c:v libx264 -preset ultrafast "
                   "-pix_fmt yuv420p -output_ts_offset 2 -f mpegts '" + large + "'"), 0);
  const std::string joined = (tmp / "joined.ts").string();
  ASSERT_EQ(std::system(("cat '" + small + "' '" + large + "' > '" + joined + "'").c_str()), 0);

  RunResult r = run_kiln({"transcode", joined, "-o", (tmp / "out").string(), "--max-resolution", "400x300"});
  EXPECT_EQ(r.exit_code, 16) << r.err;  // input_limits
  EXPECT_NE(r.err.find("changes size mid-stream to 640x480"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "out"));

  // The same stream within the limit transcodes: the size change itself is fine.
  RunResult ok = run_kiln({"transcode", joined, "-o", (tmp / "ok").string(), "--ladder", "240p"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

}  // namespace
}  // namespace kiln::test
