// EXIF values as libvips formats them, turned into what result.json reports.

#include "image/exif_text.hpp"

#include <gtest/gtest.h>

namespace kiln::image {
namespace {

TEST(ExifAsciiValue, TakesTheValueOutOfLibvipsFormatting) {
  EXPECT_EQ(exif_ascii_value("KilnCam (KilnCam, ASCII, 8 components, 8 bytes)"), "KilnCam");
  EXPECT_EQ(exif_ascii_value("K-1 Mark II (K-1 Mark II, ASCII, 12 components, 12 bytes)"), "K-1 Mark II");
  // A value that itself holds " (" and ", ASCII, ": split in the middle, not at the first bracket.
  EXPECT_EQ(exif_ascii_value("EOS (R), ASCII, 1 (EOS (R), ASCII, 1, ASCII, 17 components, 17 bytes)"),
            "EOS (R), ASCII, 1");
  EXPECT_EQ(exif_ascii_value("  Canon   (  Canon  , ASCII, 10 components, 10 bytes)"), "Canon");
}

TEST(ExifAsciiValue, RefusesWhatIsNotAnAsciiTag) {
  EXPECT_EQ(exif_ascii_value("6 (Right-top, Short, 1 components, 2 bytes)"), "");
  EXPECT_EQ(exif_ascii_value("KilnCam"), "");
  EXPECT_EQ(exif_ascii_value(""), "");
  EXPECT_EQ(exif_ascii_value("A (B, ASCII, 2 components, 2 bytes)"), "");  // halves differ
}

TEST(ExifAsciiValue, CutsBytesThatAreNotPrintableAscii) {
  EXPECT_EQ(exif_ascii_value("Ca\xffn\x01 (Ca\xffn\x01, ASCII, 6 components, 6 bytes)"), "Ca?n?");
  std::string longer(300, 'x');
  EXPECT_EQ(exif_ascii_value(longer + " (" + longer + ", ASCII, 301 components, 301 bytes)").size(), 128u);
}

TEST(ExifTimeToIso, ConvertsCaptureTimes) {
  EXPECT_EQ(exif_time_to_iso("2023:06:01 12:34:56", ""), "2023-06-01T12:34:56");
  EXPECT_EQ(exif_time_to_iso("2023:06:01 12:34:56", "+02:00"), "2023-06-01T12:34:56+02:00");
  EXPECT_EQ(exif_time_to_iso("2023:06:01 12:34:56", "-07:00"), "2023-06-01T12:34:56-07:00");
  EXPECT_EQ(exif_time_to_iso("2023:06:01 12:34:56", "garbage"), "2023-06-01T12:34:56");
}

TEST(ExifTimeToIso, DropsBlankAndUnsetClocks) {
  EXPECT_EQ(exif_time_to_iso("    :  :     :  :  ", ""), "");
  EXPECT_EQ(exif_time_to_iso("0000:00:00 00:00:00", ""), "");
  EXPECT_EQ(exif_time_to_iso("yesterday", ""), "");
  EXPECT_EQ(exif_time_to_iso("", "+02:00"), "");
}

}  // namespace
}  // namespace kiln::image
