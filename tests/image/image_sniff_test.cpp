// Images are told apart by their first bytes: every signature Kiln accepts, the lookalikes
// that must stay with the media probe (MP4/MOV ftyp, WAV/AVI RIFF, text), and real files.

#include "image/image_sniff.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace kiln::image {
namespace {

using namespace std::string_literals;

/// An ISO-BMFF ftyp box: major brand, minor version 0, compatible brands.
std::string ftyp(const std::string& major, const std::string& compatible) {
  const uint32_t size = static_cast<uint32_t>(16 + compatible.size());
  std::string box = {static_cast<char>(size >> 24), static_cast<char>(size >> 16), static_cast<char>(size >> 8),
                     static_cast<char>(size)};
  return box + "ftyp" + major + "\0\0\0\0"s + compatible + "\0\0\0\x08mdat"s;
}

TEST(SniffImage, KnowsEverySignatureKilnAccepts) {
  EXPECT_EQ(sniff_image_bytes("\xFF\xD8\xFF\xE0\0\x10JFIF\0"s), ImageFormat::kJpeg);
  EXPECT_EQ(sniff_image_bytes("\xFF\xD8\xFF\xE1\x12\x34" "Exif\0\0"s), ImageFormat::kJpeg);
  EXPECT_EQ(sniff_image_bytes("\x89PNG\r\n\x1A\n\0\0\0\rIHDR"s), ImageFormat::kPng);
  EXPECT_EQ(sniff_image_bytes("GIF89a\x01\0\x01\0"s), ImageFormat::kGif);
  EXPECT_EQ(sniff_image_bytes("GIF87a\x01\0\x01\0"s), ImageFormat::kGif);
  EXPECT_EQ(sniff_image_bytes("RIFF\x24\0\0\0WEBPVP8 "s), ImageFormat::kWebp);
  EXPECT_EQ(sniff_image_bytes("II*\0\x08\0\0\0"s), ImageFormat::kTiff);
  EXPECT_EQ(sniff_image_bytes("MM\0*\0\0\0\x08"s), ImageFormat::kTiff);
  EXPECT_EQ(sniff_image_bytes("II+\0\x08\0\0\0"s), ImageFormat::kTiff);  // BigTIFF
  EXPECT_EQ(sniff_image_bytes(ftyp("heic", "mif1heicmiaf")), ImageFormat::kHeif);
  EXPECT_EQ(sniff_image_bytes(ftyp("avif", "avifmif1miaf")), ImageFormat::kAvif);
  EXPECT_EQ(sniff_image_bytes(ftyp("mif1", "mif1avifmiaf")), ImageFormat::kAvif);  // AVIF under HEIF's brand
  EXPECT_EQ(sniff_image_bytes(ftyp("mif1", "mif1heic")), ImageFormat::kHeif);
}

TEST(SniffImage, LeavesVideosAndLookalikesToTheMediaProbe) {
  EXPECT_EQ(sniff_image_bytes(ftyp("isom", "isomiso2avc1mp41")), std::nullopt);  // an MP4
  EXPECT_EQ(sniff_image_bytes(ftyp("qt  ", "qt  ")), std::nullopt);              // a MOV
  EXPECT_EQ(sniff_image_bytes(ftyp("mp42", "mp42isomheic")), std::nullopt);     // video first, whatever follows
  EXPECT_EQ(sniff_image_bytes("RIFF\x24\0\0\0WAVEfmt "s), std::nullopt);
  EXPECT_EQ(sniff_image_bytes("RIFF\x24\0\0\0AVI LIST"s), std::nullopt);
  EXPECT_EQ(sniff_image_bytes("These are meeting notes, not a video.\n"), std::nullopt);
  EXPECT_EQ(sniff_image_bytes("\x1A\x45\xDF\xA3"s), std::nullopt);  // Matroska
  EXPECT_EQ(sniff_image_bytes(""), std::nullopt);
  EXPECT_EQ(sniff_image_bytes("\xFF\xD8"s), std::nullopt);  // too short to say
  EXPECT_EQ(sniff_image_bytes("\0\0\0\x18" "ftyp"s), std::nullopt);
}

TEST(SniffImage, ReadsFilesByContentNotName) {
  const auto dir = std::filesystem::temp_directory_path() / ("kiln-sniff-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "notes.jpg") << "These are meeting notes, not a photo.\n";
  std::ofstream(dir / "photo.mp4", std::ios::binary) << "\x89PNG\r\n\x1A\n\0\0\0\rIHDR"s;
  std::ofstream(dir / "empty.png");
  EXPECT_EQ(sniff_image((dir / "notes.jpg").string()), std::nullopt);
  EXPECT_EQ(sniff_image((dir / "photo.mp4").string()), ImageFormat::kPng);
  EXPECT_EQ(sniff_image((dir / "empty.png").string()), std::nullopt);
  EXPECT_EQ(sniff_image((dir / "missing.jpg").string()), std::nullopt);
  EXPECT_EQ(sniff_image(dir.string()), std::nullopt);  // a directory
  std::filesystem::remove_all(dir);
}

TEST(SniffImage, NamesEachFormatAsResultsReportIt) {
  EXPECT_STREQ(image_format_name(ImageFormat::kJpeg), "jpeg");
  EXPECT_STREQ(image_format_name(ImageFormat::kHeif), "heif");
  EXPECT_STREQ(image_format_name(ImageFormat::kAvif), "avif");
}

}  // namespace
}  // namespace kiln::image
