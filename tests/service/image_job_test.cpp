// Image jobs as a service: a real coordinator and node on a throwaway PostgreSQL database run
// an uploaded photo through the same API, lifecycle and storage locations as a video, and hold
// an image to the worker's memory and wall-clock ceilings. Every wait has a deadline.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "support/image_check.hpp"
#include "support/run.hpp"
#include "support/service_cluster.hpp"

namespace kiln::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// One coordinator on a database of its own (ServiceCluster); a node started by each test.
class ImageJobs : public ::testing::Test {
 protected:
  void SetUp() override {
    deadline_ = std::make_unique<TestDeadline>(270s, [this] { cluster_.print_logs(); });
    cluster_.start_coordinator();
  }
  void TearDown() override {
    if (HasFailure()) cluster_.print_logs();
  }

  /// A node with `extra` lines in its [node] table, ready to claim.
  void start_node(const std::string& extra = "") {
    cluster_.start_node("n1", "capacity_file = \"" + (tmp_ / "capacity.json").string() + "\"\n" + extra);
  }
  int64_t submit(const std::string& input, const fs::path& out, nlohmann::json extra = nlohmann::json::object()) {
    extra["input"] = input;
    extra["output"] = out.string();
    auto r = cluster_.client().Post("/v1/jobs", cluster_.auth(), extra.dump(), "application/json");
    EXPECT_TRUE(r && (r->status == 201 || r->status == 200)) << (r ? r->body : "no answer");
    return r ? nlohmann::json::parse(r->body)["id"].get<int64_t>() : 0;
  }
  nlohmann::json job(int64_t id) { return cluster_.get("/v1/jobs/" + std::to_string(id)); }
  bool state_is(int64_t id, const std::string& state) {
    auto j = job(id);
    return !j.is_null() && j["state"] == state;
  }
  nlohmann::json first_error(int64_t id) {
    auto j = job(id);
    if (j.is_null() || !j["errors"].is_array() || j["errors"].empty() || !j["errors"][0]["error"].is_object())
      return nlohmann::json::object();
    return j["errors"][0]["error"];
  }

  TempDir tmp_;
  ServiceCluster cluster_{tmp_.path(), KILN_PG_DIR};
  std::unique_ptr<TestDeadline> deadline_;  // under CTest's TIMEOUT of 300 s
};

// A photo submitted by location name completes like a video: COMPLETE, its camera and capture
// time in the job's input information, and every variant listed in the output and on disk.
TEST_F(ImageJobs, AnUploadedPhotoCompletesWithItsVariantsListed) {
  start_node();
  const fs::path out = tmp_ / "photo";
  int64_t id = submit("media:images/photo.jpg", out);
  ASSERT_TRUE(eventually([&] { return state_is(id, "completed"); }, 180s)) << job(id).dump(2);
  auto j = job(id);
  EXPECT_EQ(j["status"], "COMPLETE");
  const auto& image = j["inputInformation"]["image"];
  EXPECT_EQ(image["format"], "jpeg");
  EXPECT_EQ(image["camera"]["make"], "KilnCam");
  EXPECT_EQ(image["captureTime"], "2023-06-01T12:34:56+02:00");
  EXPECT_EQ(image["gpsPresent"], true);
  const auto& group = j["output"]["detail"]["outputGroupDetails"][0];
  EXPECT_EQ(group["type"], "IMAGE_GROUP");
  std::set<std::string> listed;
  for (const auto& o : group["outputDetails"]) {
    const fs::path file = o["outputFilePaths"][0].get<std::string>();
    listed.insert(file.filename().string());
    EXPECT_EQ(file.parent_path(), out / "image");
    ImageFile f = read_image(file);
    EXPECT_EQ(f.width, o["imageDetails"]["widthInPx"]) << file;
    EXPECT_EQ(f.height, o["imageDetails"]["heightInPx"]) << file;
  }
  std::set<std::string> expected;
  for (const char* w : {"1920", "1280", "640", "320"})
    for (const char* ext : {"webp", "avif", "jpg"}) expected.insert(std::string(w) + "." + ext);
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(j["output"]["kilnJob"]["id"], id) << "result.json carries the publish marker";
  EXPECT_TRUE(tags_with_prefix(exif_tags(out / "image" / "1280.jpg"), "GPS:").empty());
  EXPECT_EQ(j["progress"].value("percent", 0.0), 100.0) << j["progress"].dump();
}

// A decompression bomb through the API: discarded on its first attempt (no retry can fix an
// input) with the pixel count and the limit, nothing published.
TEST_F(ImageJobs, ADecompressionBombIsDiscardedWithTheReason) {
  start_node();
  int64_t id = submit("media:images/bomb.png", tmp_ / "bomb");
  ASSERT_TRUE(eventually([&] { return state_is(id, "discarded"); }, 60s)) << job(id).dump(2);
  auto error = first_error(id);
  EXPECT_EQ(error["code"], "input_limits") << error.dump();
  EXPECT_NE(error.value("message", "").find("30000x30000"), std::string::npos) << error.dump();
  EXPECT_EQ(job(id)["attempt"], 1);
  EXPECT_FALSE(fs::exists(tmp_ / "bomb"));
}

// The worker's memory ceiling holds for images: under worker_memory_mb a 36-megapixel image
// (within the pixel limit) is refused as too large for memory, not retried, nothing published.
TEST_F(ImageJobs, TheWorkersMemoryCeilingHoldsForImages) {
  start_node("worker_memory_mb = 100\n");  // big.png decodes to 103 MiB
  int64_t id = submit("media:images/big.png", tmp_ / "big", {{"maxAttempts", 1}});
  ASSERT_TRUE(eventually([&] { return state_is(id, "discarded"); }, 60s)) << job(id).dump(2);
  auto error = first_error(id);
  EXPECT_EQ(error["code"], "input_limits") << error.dump();
  EXPECT_NE(error.value("message", "").find("memory ceiling"), std::string::npos) << error.dump();
  EXPECT_FALSE(fs::exists(tmp_ / "big"));
}

// ... and its wall-clock limit: a worker stuck on an image is killed and nothing is published.
TEST_F(ImageJobs, AWorkerStuckOnAnImageIsKilledAtTheWallClockLimit) {
  // KILN_FAULT counts an image job's variants as its frames: hang after the first one.
  setenv("KILN_FAULT", "worker:hang=1", 1);
  start_node("worker_wall_factor = 0\nworker_wall_min_seconds = 3\n");
  unsetenv("KILN_FAULT");
  int64_t id = submit("media:images/image.png", tmp_ / "hang", {{"maxAttempts", 1}});
  ASSERT_TRUE(eventually([&] { return state_is(id, "discarded"); }, 60s)) << job(id).dump(2);
  EXPECT_NE(first_error(id).value("message", "").find("worker exceeded the wall-clock limit of 3 s"),
            std::string::npos)
      << job(id).dump(2);
  EXPECT_FALSE(fs::exists(tmp_ / "hang"));
}

}  // namespace
}  // namespace kiln::test
