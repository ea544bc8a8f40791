// Image jobs through the real binary: every input format Kiln reads, a photo whose EXIF says
// "rotate 90", metadata reported but stripped from the outputs (or kept without GPS), never an
// upscale, colours and transparency, and bad images refused with their codes and nothing left
// behind. Outputs are read back with tools outside Kiln (vips CLI, exiftool).
// Fixtures: tests/data/make_media.sh (images/).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "support/image_check.hpp"
#include "support/run.hpp"

namespace kiln::test {
namespace {
namespace fs = std::filesystem;

fs::path image(const std::string& name) { return media("images/" + name); }

/// A preset of one small rendition (the video half is unused here) and the given [image] table.
fs::path write_preset(const TempDir& tmp, const std::string& image_table) {
  fs::path p = tmp / "preset.toml";
  std::ofstream(p) << "[[rendition]]\nheight = 480\nvideo_bitrate = 1200000\n\n[image]\n" << image_table;
  return p;
}

struct Job {
  RunResult run;
  nlohmann::json result;  // OUTDIR/result.json
  nlohmann::json detail;  // result["detail"]
};

Job run_image_job(const TempDir& tmp, const fs::path& input, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"transcode", input.string(), "-o", (tmp / "out").string(), "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  Job j;
  j.run = run_kiln(args);
  j.result = nlohmann::json::parse(read_file(tmp / "out" / "result.json"), nullptr, false);
  if (j.result.is_object()) j.detail = j.result["detail"];
  return j;
}

/// The output files listed in the result, relative to OUTDIR/image.
std::set<std::string> listed(const Job& j) {
  std::set<std::string> names;
  for (const auto& o : j.detail["outputGroupDetails"][0]["outputDetails"]) names.insert(o["name"].get<std::string>());
  return names;
}

std::set<std::string> on_disk(const fs::path& dir) {
  std::set<std::string> names;
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

const char* loader_of(const std::string& ext) {
  return ext == "webp" ? "webpload" : ext == "avif" ? "heifload" : "jpegload";
}

struct FormatCase {
  std::string file;
  std::string format;  // inputDetails image.format
  std::string loader;  // inputDetails image.loader
};
void PrintTo(const FormatCase& c, std::ostream* os) { *os << c.file; }

class EveryFormat : public ::testing::TestWithParam<FormatCase> {};

// Each input format becomes the same six variants (two widths, three formats), read back by
// the vips CLI at the planned sizes, listed in result.json beside the input's description.
TEST_P(EveryFormat, BecomesVariantsAtThePlannedSizes) {
  const FormatCase& c = GetParam();
  TempDir tmp;
  auto preset = write_preset(tmp, "widths = [640, 320]\nformats = [\"webp\", \"avif\", \"jpg\"]\n");
  Job j = run_image_job(tmp, image(c.file), {"--preset", preset.string()});
  ASSERT_EQ(j.run.exit_code, 0) << j.run.err;
  ASSERT_TRUE(j.result.is_object()) << "no result.json";
  auto printed = nlohmann::json::parse(j.run.out), published = j.result;
  printed["detail"].erase("timestamp");  // each is stamped when it is written
  published["detail"].erase("timestamp");
  EXPECT_EQ(printed, published) << "--json prints what result.json holds";
  EXPECT_EQ(j.detail["status"], "COMPLETE");
  const auto& in = j.detail["inputDetails"][0];
  EXPECT_EQ(in["container"], c.format);
  EXPECT_EQ(in["image"]["format"], c.format);
  EXPECT_EQ(in["image"]["loader"], c.loader);
  EXPECT_EQ(in["image"]["widthInPx"], 1000);
  EXPECT_EQ(in["image"]["heightInPx"], 750);
  EXPECT_EQ(in["video"].size(), 0u);
  const auto& group = j.detail["outputGroupDetails"][0];
  EXPECT_EQ(group["type"], "IMAGE_GROUP");
  const std::set<std::string> expected = {"640.webp", "640.avif", "640.jpg", "320.webp", "320.avif", "320.jpg"};
  EXPECT_EQ(listed(j), expected);
  EXPECT_EQ(on_disk(tmp / "out" / "image"), expected);
  for (const auto& o : group["outputDetails"]) {
    const fs::path file = o["outputFilePaths"][0].get<std::string>();
    const std::string ext = file.extension().string().substr(1);
    ImageFile f = read_image(file);
    const int w = o["name"].get<std::string>().rfind("640", 0) == 0 ? 640 : 320;
    EXPECT_EQ(f.width, w) << file;
    EXPECT_EQ(f.height, w * 3 / 4) << file;
    EXPECT_EQ(f.loader, loader_of(ext)) << file << " is really " << ext;
    EXPECT_EQ(o["imageDetails"]["widthInPx"], f.width);
    EXPECT_EQ(o["imageDetails"]["heightInPx"], f.height);
    EXPECT_EQ(o["imageDetails"]["sizeInBytes"], static_cast<int64_t>(fs::file_size(file)));
  }
  EXPECT_FALSE(fs::exists(tmp / "out" / "master.m3u8")) << "an image job makes no ladder";
  EXPECT_EQ(on_disk(tmp.path()), (std::set<std::string>{"out", "preset.toml"})) << "nothing else is left";
}

INSTANTIATE_TEST_SUITE_P(
    Images, EveryFormat,
    ::testing::Values(FormatCase{"image.jpg", "jpeg", "jpegload"}, FormatCase{"image.png", "png", "pngload"},
                      FormatCase{"image.webp", "webp", "webpload"}, FormatCase{"image.gif", "gif", "gifload"},
                      FormatCase{"image.tiff", "tiff", "tiffload"}, FormatCase{"image.avif", "avif", "heifload"},
                      // Debian 12's libheif reads HEVC-coded HEIF through libde265.
                      FormatCase{"image.heic", "heif", "heifload"}),
    [](const auto& info) { return fs::path(info.param.file).extension().string().substr(1); });

// `kiln transcode photo.jpg -o out` with nothing else: the default preset's four widths in
// three formats, and the camera's metadata in the result.
TEST(ImageJob, TheDefaultPresetMakesEveryWidthInEveryFormat) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", image("photo.jpg").string(), "-o", (tmp / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Published"), std::string::npos) << r.out;
  std::set<std::string> expected;
  for (const char* w : {"1920", "1280", "640", "320"})
    for (const char* ext : {"webp", "avif", "jpg"}) expected.insert(std::string(w) + "." + ext);
  EXPECT_EQ(on_disk(tmp / "out" / "image"), expected);
  // 2400x1600: the height follows the aspect ratio, rounded.
  for (auto [w, h] : std::vector<std::pair<int, int>>{{1920, 1280}, {1280, 853}, {640, 427}, {320, 213}}) {
    ImageFile f = read_image(tmp / "out" / "image" / (std::to_string(w) + ".webp"));
    EXPECT_EQ(f.width, w);
    EXPECT_EQ(f.height, h);
  }
}

// The camera, capture time and GPS are read into the result; the outputs carry none of them
// (nor the artist, nor XMP), but keep the ICC profile so the colours stay right.
TEST(ImageJob, MetadataGoesToTheResultNotTheOutputs) {
  TempDir tmp;
  auto preset = write_preset(tmp, "widths = [320]\n");
  auto source_tags = exif_tags(image("photo.jpg"));
  ASSERT_FALSE(tags_with_prefix(source_tags, "GPS:").empty()) << "the fixture must carry GPS: " << source_tags.dump();
  Job j = run_image_job(tmp, image("photo.jpg"), {"--preset", preset.string()});
  ASSERT_EQ(j.run.exit_code, 0) << j.run.err;
  const auto& i = j.detail["inputDetails"][0]["image"];
  EXPECT_EQ(i["camera"]["make"], "KilnCam");
  EXPECT_EQ(i["camera"]["model"], "K-1 Mark II");
  EXPECT_EQ(i["captureTime"], "2023-06-01T12:34:56+02:00");
  EXPECT_EQ(i["gpsPresent"], true);
  EXPECT_EQ(i["iccProfile"], true);
  EXPECT_EQ(i["colorSpace"], "srgb");
  EXPECT_EQ(i["metadata"]["exif"], true);
  EXPECT_EQ(i["metadata"]["xmp"], true);
  for (const char* ext : {"webp", "avif", "jpg"}) {
    const fs::path out = tmp / "out" / "image" / (std::string("320.") + ext);
    auto tags = exif_tags(out);
    ASSERT_FALSE(tags.empty()) << out;
    for (const char* personal : {"IFD0:Make", "IFD0:Model", "IFD0:Artist", "ExifIFD:DateTimeOriginal"})
      EXPECT_FALSE(tags.contains(personal)) << out << " still has " << personal << ": " << tags.dump();
    EXPECT_TRUE(tags_with_prefix(tags, "GPS:").empty()) << out << " still has GPS: " << tags.dump();
    EXPECT_TRUE(tags_with_prefix(tags, "XMP").empty()) << out << " still has XMP: " << tags.dump();
    EXPECT_FALSE(tags_with_prefix(tags, "ICC").empty()) << out << " lost its ICC profile: " << tags.dump();
  }
}

// keep_metadata = true: the camera and capture time stay in the outputs, GPS and XMP do not,
// and the orientation already applied is not left for a viewer to apply again.
TEST(ImageJob, KeepMetadataKeepsTheCameraButNeverGps) {
  TempDir tmp;
  auto preset = write_preset(tmp, "widths = [320]\nformats = [\"jpg\", \"webp\"]\nkeep_metadata = true\n");
  Job j = run_image_job(tmp, image("rotated.jpg"), {"--preset", preset.string()});
  ASSERT_EQ(j.run.exit_code, 0) << j.run.err;
  for (const char* ext : {"jpg", "webp"}) {
    const fs::path out = tmp / "out" / "image" / (std::string("320.") + ext);
    auto tags = exif_tags(out);
    EXPECT_EQ(tags.value("IFD0:Make", ""), "KilnCam") << out << ": " << tags.dump();
    EXPECT_EQ(tags.value("ExifIFD:DateTimeOriginal", ""), "2023:06:01 12:34:56") << out;
    EXPECT_TRUE(tags_with_prefix(tags, "GPS:").empty()) << out << " kept GPS: " << tags.dump();
    EXPECT_TRUE(tags_with_prefix(tags, "XMP").empty()) << out << " kept XMP: " << tags.dump();
    EXPECT_EQ(tags.value("IFD0:Orientation", 1), 1) << out << " would be rotated twice";
    ImageFile f = read_image(out);
    EXPECT_EQ(f.width, 320);
    EXPECT_EQ(f.height, 480);
  }
}

// Stored 1200x800 with EXIF orientation 6 (rotate 90 clockwise) and a red square in the stored
// top-left corner: every output is 640x960 and the square is at the top right.
TEST(ImageJob, ARotatedExifPhotoComesOutUpright) {
  TempDir tmp;
  auto preset = write_preset(tmp, "widths = [640]\n");
  Job j = run_image_job(tmp, image("rotated.jpg"), {"--preset", preset.string()});
  ASSERT_EQ(j.run.exit_code, 0) << j.run.err;
  const auto& i = j.detail["inputDetails"][0]["image"];
  EXPECT_EQ(i["orientation"], 6);
  EXPECT_EQ(i["widthInPx"], 1200);
  EXPECT_EQ(i["heightInPx"], 800);
  EXPECT_EQ(i["displayWidthInPx"], 800);
  EXPECT_EQ(i["displayHeightInPx"], 1200);
  for (const char* ext : {"webp", "avif", "jpg"}) {
    const fs::path out = tmp / "out" / "image" / (std::string("640.") + ext);
    ImageFile f = read_image(out);
    EXPECT_EQ(f.width, 640) << out;
    EXPECT_EQ(f.height, 960) << out;
    auto top_right = pixel(out, 600, 30), top_left = pixel(out, 30, 30);
    ASSERT_GE(top_right.size(), 3u) << out;
    ASSERT_GE(top_left.size(), 3u) << out;
    EXPECT_GT(top_right[0], 200) << out << ": the red square is not at the top right";
    EXPECT_LT(top_right[2], 60) << out;
    EXPECT_LT(top_left[0], 60) << out << ": the top left should be blue";
    EXPECT_GT(top_left[2], 200) << out;
  }
}

// Never upscaled: a 200x150 source gets one set at its own width; a 1000-wide one loses the
// widths above 1000.
TEST(ImageJob, NeverUpscales) {
  TempDir tmp;
  RunResult r = run_kiln({"transcode", image("small.png").string(), "-o", (tmp / "small").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(on_disk(tmp / "small" / "image"), (std::set<std::string>{"200.webp", "200.avif", "200.jpg"}));
  ImageFile f = read_image(tmp / "small" / "image" / "200.jpg");
  EXPECT_EQ(f.width, 200);
  EXPECT_EQ(f.height, 150);
  r = run_kiln({"transcode", image("image.png").string(), "-o", (tmp / "mid").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(on_disk(tmp / "mid" / "image"),
            (std::set<std::string>{"640.webp", "640.avif", "640.jpg", "320.webp", "320.avif", "320.jpg"}));
}

// A 16-bit PNG, half-transparent red: WebP and AVIF keep the alpha, JPEG (which has none) is
// flattened onto white, not black; all are 8-bit.
TEST(ImageJob, TransparencyIsKeptOrFlattenedOntoWhite) {
  TempDir tmp;
  auto preset = write_preset(tmp, "widths = [200]\n");
  Job j = run_image_job(tmp, image("alpha16.png"), {"--preset", preset.string()});
  ASSERT_EQ(j.run.exit_code, 0) << j.run.err;
  const auto& i = j.detail["inputDetails"][0]["image"];
  EXPECT_EQ(i["alpha"], true);
  EXPECT_EQ(i["bitDepth"], 16);
  EXPECT_EQ(read_image(tmp / "out" / "image" / "200.webp").bands, 4);
  auto jpg = tmp / "out" / "image" / "200.jpg";
  EXPECT_EQ(read_image(jpg).bands, 3);
  auto px = pixel(jpg, 100, 75);
  ASSERT_EQ(px.size(), 3u);
  EXPECT_GT(px[0], 240);  // red over white at 50%: (255, 128, 128)
  EXPECT_NEAR(px[1], 128, 20);
  EXPECT_NEAR(px[2], 128, 20);
}

// A CMYK JPEG (print work) becomes sRGB in every output.
TEST(ImageJob, CmykBecomesSrgb) {
  TempDir tmp;
  auto preset = write_preset(tmp, "widths = [320]\n");
  Job j = run_image_job(tmp, image("cmyk.jpg"), {"--preset", preset.string()});
  ASSERT_EQ(j.run.exit_code, 0) << j.run.err;
  EXPECT_EQ(j.detail["inputDetails"][0]["image"]["colorSpace"], "cmyk");
  for (const char* ext : {"webp", "avif", "jpg"})
    EXPECT_EQ(read_image(tmp / "out" / "image" / (std::string("320.") + ext)).bands, 3) << ext;
}

// What the bytes say decides, not the name: a JPEG called clip.mp4 is an image job.
TEST(ImageJob, IsToldByItsBytesNotItsName) {
  TempDir tmp;
  fs::copy_file(image("image.jpg"), tmp / "clip.mp4");
  auto preset = write_preset(tmp, "widths = [320]\nformats = [\"jpg\"]\n");
  Job j = run_image_job(tmp, tmp / "clip.mp4", {"--preset", preset.string()});
  ASSERT_EQ(j.run.exit_code, 0) << j.run.err;
  EXPECT_EQ(j.detail["inputDetails"][0]["image"]["format"], "jpeg");
  EXPECT_EQ(on_disk(tmp / "out" / "image"), (std::set<std::string>{"320.jpg"}));
}

struct BadImage {
  std::string label;
  std::string input;  // under images/
  std::vector<std::string> extra;
  int exit_code;
  std::vector<std::string> message;  // each must appear in stderr
};
void PrintTo(const BadImage& c, std::ostream* os) { *os << c.label; }

class BadImages : public ::testing::TestWithParam<BadImage> {};

TEST_P(BadImages, AreRefusedClearlyAndLeaveNothing) {
  const BadImage& c = GetParam();
  TempDir tmp;
  std::vector<std::string> args = {"transcode", image(c.input).string(), "-o", (tmp / "out").string()};
  args.insert(args.end(), c.extra.begin(), c.extra.end());
  RunResult r = run_kiln(args);
  EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
  for (const auto& m : c.message) EXPECT_NE(r.err.find(m), std::string::npos) << "stderr was: " << r.err;
  EXPECT_FALSE(fs::exists(tmp / "out"));
  for (const auto& e : fs::directory_iterator(tmp.path())) ADD_FAILURE() << "left behind: " << e.path();
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, BadImages,
    ::testing::Values(
        BadImage{"truncated_jpeg", "truncated.jpg", {}, 14, {"truncated.jpg", "damaged or truncated"}},
        // 30000x30000 declared, a 110 KB file: refused from the header, under a memory ceiling
        // that decoding it (900 MB) could never fit in.
        BadImage{"decompression_bomb", "bomb.png", {"--max-memory", "512"}, 16,
                 {"30000x30000 (900.0 megapixels)", "over the limit of 100.0 megapixels", "before decoding"}},
        BadImage{"text_named_jpg", "notes.jpg", {}, 12, {"is not a media file"}},
        BadImage{"zero_byte_png", "empty.png", {}, 11, {"is empty (0 bytes)"}}),
    [](const auto& info) { return info.param.label; });

// [image] max_pixels is the preset's: a 1000x750 image is over a limit of 0.5 megapixels.
TEST(BadImage, ThePixelLimitComesFromThePreset) {
  TempDir tmp;
  auto preset = write_preset(tmp, "max_pixels = 500000\n");
  RunResult r = run_kiln({"transcode", image("image.png").string(), "-o", (tmp / "out").string(), "--preset",
                          preset.string(), "--json"});
  EXPECT_EQ(r.exit_code, 16) << r.err;
  auto d = nlohmann::json::parse(r.out, nullptr, false)["detail"];
  EXPECT_EQ(d["errorCode"], "input_limits");
  EXPECT_NE(d["errorMessage"].get<std::string>().find("max_pixels = 500000"), std::string::npos) << d.dump();
  EXPECT_FALSE(fs::exists(tmp / "out"));
}

// Within the pixel limit but past the memory ceiling (--max-memory, as a node's
// worker_memory_mb): a refusal with the reason, exit 16, never a crash, nothing left.
TEST(BadImage, AnImagePastTheMemoryCeilingIsRefused) {
#ifdef KILN_SANITIZE
  GTEST_SKIP() << "AddressSanitizer's shadow memory is itself data: the ceiling is not applied in this build";
#endif
  TempDir tmp;
  // 6000x6000 RGB: 103 MiB of decoded pixels alone, past a ceiling of 100 MiB.
  RunResult r = run_kiln({"transcode", image("big.png").string(), "-o", (tmp / "out").string(), "--max-memory",
                          "100"});
  EXPECT_EQ(r.exit_code, 16) << r.err;
  EXPECT_NE(r.err.find("memory ceiling"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "out"));
  for (const auto& e : fs::directory_iterator(tmp.path())) ADD_FAILURE() << "left behind: " << e.path();
}

}  // namespace
}  // namespace kiln::test
