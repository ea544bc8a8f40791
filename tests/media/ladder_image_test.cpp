// The preset's [image] table (src/media/ladder.cpp): parsing, validation with errors that name
// the key, the default preset's values, and the never-upscale plan of an image job's widths.

#include <gtest/gtest.h>

#include <string>

#include "kiln/ladder.hpp"

namespace kiln {
namespace {

const std::string kRung = "[[rendition]]\nheight = 480\nvideo_bitrate = 1200000\n";

Result<Ladder> preset(const std::string& image_table) { return parse_preset(kRung + image_table, "test.toml"); }

TEST(ImagePreset, TheDefaultPresetHasTheDocumentedImageTable) {
  const ImageSettings i = default_ladder().image;
  EXPECT_EQ(i.widths, (std::vector<int>{1920, 1280, 640, 320}));
  EXPECT_EQ(i.formats, (std::vector<std::string>{"webp", "avif", "jpg"}));
  EXPECT_EQ(i.quality, 80);
  EXPECT_EQ(i.max_pixels, 100'000'000);
  EXPECT_FALSE(i.keep_metadata);
}

TEST(ImagePreset, APresetWithoutTheTableGetsTheDefaults) {
  auto l = preset("");
  ASSERT_TRUE(l) << l.status().message();
  EXPECT_EQ(l->image.widths, default_ladder().image.widths);
  EXPECT_EQ(l->image.formats, default_ladder().image.formats);
  EXPECT_EQ(l->image.max_pixels, default_ladder().image.max_pixels);
}

TEST(ImagePreset, ReadsEveryKey) {
  auto l = preset("[image]\nwidths = [800, 400]\nformats = [\"jpg\"]\nquality = 70\nmax_pixels = 2000000\n"
                  "keep_metadata = true\n");
  ASSERT_TRUE(l) << l.status().message();
  EXPECT_EQ(l->image.widths, (std::vector<int>{800, 400}));
  EXPECT_EQ(l->image.formats, (std::vector<std::string>{"jpg"}));
  EXPECT_EQ(l->image.quality, 70);
  EXPECT_EQ(l->image.max_pixels, 2'000'000);
  EXPECT_TRUE(l->image.keep_metadata);
}

struct BadImageTable {
  const char* label;
  const char* toml;
  const char* message;
};
void PrintTo(const BadImageTable& c, std::ostream* os) { *os << c.label; }

class ImagePresetRefuses : public ::testing::TestWithParam<BadImageTable> {};

TEST_P(ImagePresetRefuses, WithTheKeyAndWhatToWrite) {
  auto l = preset(std::string("[image]\n") + GetParam().toml);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.status().code(), Code::kUsage);
  EXPECT_NE(l.status().message().find(GetParam().message), std::string::npos) << l.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Tables, ImagePresetRefuses,
    ::testing::Values(
        BadImageTable{"no_widths", "widths = []\n", "give at least one width"},
        BadImageTable{"zero_width", "widths = [0]\n", "width 0 is outside 1..16383"},
        BadImageTable{"huge_width", "widths = [20000]\n", "outside 1..16383"},
        BadImageTable{"fractional_width", "widths = [640.5]\n", "whole pixel widths"},
        BadImageTable{"widths_not_a_list", "widths = 640\n", "'widths' must be a list"},
        BadImageTable{"unknown_format", "formats = [\"bmp\"]\n", "'bmp' is not one of webp, avif, jpg"},
        BadImageTable{"format_twice", "formats = [\"jpg\", \"jpg\"]\n", "'jpg' is listed twice"},
        BadImageTable{"no_formats", "formats = []\n", "give at least one of webp, avif, jpg"},
        BadImageTable{"quality_zero", "quality = 0\n", "quality must be 1..100"},
        BadImageTable{"quality_high", "quality = 101\n", "quality must be 1..100"},
        BadImageTable{"max_pixels_zero", "max_pixels = 0\n", "max_pixels must be 1.."},
        BadImageTable{"max_pixels_absurd", "max_pixels = 1e30\n", "max_pixels must be 1.."},
        BadImageTable{"keep_metadata_text", "keep_metadata = \"yes\"\n", "'keep_metadata' must be true or false"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(PlanImageWidths, KeepsTheWidthsNotAboveTheSourceLargestFirst) {
  ImageSettings s;
  s.widths = {320, 1920, 640, 1280};
  EXPECT_EQ(plan_image_widths(s, 4000), (std::vector<int>{1920, 1280, 640, 320}));
  EXPECT_EQ(plan_image_widths(s, 1000), (std::vector<int>{640, 320}));
  EXPECT_EQ(plan_image_widths(s, 640), (std::vector<int>{640, 320})) << "a width equal to the source's is made";
}

TEST(PlanImageWidths, NeverUpscalesASourceNarrowerThanEveryWidth) {
  ImageSettings s;
  s.widths = {1920, 640};
  EXPECT_EQ(plan_image_widths(s, 200), (std::vector<int>{200}));
  EXPECT_EQ(plan_image_widths(s, 1), (std::vector<int>{1}));
}

TEST(PlanImageWidths, MakesEachWidthOnce) {
  ImageSettings s;
  s.widths = {640, 640, 320};
  EXPECT_EQ(plan_image_widths(s, 1000), (std::vector<int>{640, 320}));
}

}  // namespace
}  // namespace kiln
