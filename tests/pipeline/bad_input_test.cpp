// Bad inputs: each refused with a message that says what is wrong and its documented exit
// code; nothing is published and nothing is left behind.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/run.hpp"

namespace kiln::test {
namespace {
namespace fs = std::filesystem;

struct BadCase {
  std::string label;
  std::string input;          // under the media dir, or absolute
  std::vector<std::string> extra;
  int exit_code;
  std::string message;
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.label; }

class BadInputTest : public ::testing::TestWithParam<BadCase> {};

void expect_nothing_left(const TempDir& tmp) {
  EXPECT_FALSE(fs::exists(tmp / "out"));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    ADD_FAILURE() << "left behind: " << e.path();
}

TEST_P(BadInputTest, IsRefusedClearly) {
  const BadCase& c = GetParam();
  TempDir tmp;
  std::string input = c.input.empty() || c.input[0] == '/' ? c.input : media(c.input).string();
  std::vector<std::string> args = {"transcode", input, "-o", (tmp / "out").string()};
  args.insert(args.end(), c.extra.begin(), c.extra.end());
  RunResult r = run_kiln(args);
  EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
  EXPECT_NE(r.err.find(c.message), std::string::npos) << "stderr was: " << r.err;
  expect_nothing_left(tmp);
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, BadInputTest,
    ::testing::Values(
        BadCase{"missing", "/nonexistent/clip.mp4", {}, 10, "does not exist"},
        BadCase{"directory", "/tmp", {}, 10, "is a directory"},
        BadCase{"empty", "empty.mp4", {}, 11, "is empty (0 bytes)"},
        BadCase{"text", "notes.txt", {}, 12, "is not a media file"},
        BadCase{"random_bytes", "random.mp4", {}, 12, "is not a media file"},
        BadCase{"audio_only", "audio_only.m4a", {}, 13, "has no video stream"},
        BadCase{"truncated", "truncated.mp4", {}, 14, "damaged or truncated"},
        BadCase{"truncated_faststart", "truncated_faststart.mp4", {}, 14, "is truncated"},
        BadCase{"unsupported_codec", "unsupported_codec.mov", {}, 15, "video codec 'qtrle' is not supported"},
        BadCase{"too_long", "1080p.mp4", {"--max-duration", "2"}, 16, "exceeds the limit of 2 s"},
        BadCase{"too_large", "1080p.mp4", {"--max-resolution", "1280x720"}, 16, "larger than the limit"},
        BadCase{"undecodable", "undecodable.mkv", {}, 17, "could not be decoded"}),
    [](const auto& info) { return info.param.label; });

TEST(BadInput, JsonModeReportsAnErrorEvent) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", media("notes.txt").string(), "-o", (tmp / "out").string(), "--json"});
  EXPECT_EQ(r.exit_code, 12);
  auto d = nlohmann::json::parse(r.out)["detail"];
  EXPECT_EQ(d["status"], "ERROR");
  EXPECT_EQ(d["errorCode"], "input_not_media");
  EXPECT_EQ(d["exitCode"], 12);
}

TEST(BadInput, ExistingOutputIsNotTouchedWithoutOverwrite) {
  TempDir tmp;
  fs::create_directory(tmp / "out");
  std::ofstream(tmp / "out" / "keep.txt") << "precious";
  RunResult r = run_kiln({"transcode", media("480p.mp4").string(), "-o", (tmp / "out").string()});
  EXPECT_EQ(r.exit_code, 20);
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos);
  EXPECT_EQ(read_file(tmp / "out" / "keep.txt"), "precious");
}

}  // namespace
}  // namespace kiln::test
