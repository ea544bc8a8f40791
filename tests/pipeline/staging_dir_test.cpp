#include "pipeline/staging_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pipeline/result_json.hpp"
#include <cstdlib>

namespace kiln::pipeline {
namespace {
namespace fs = std::filesystem;

/// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "kiln-staging-XXXXXX").string();
    path_ = mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// Clean-up after a crashed attempt removes that job's earlier staging directories only: never
// another job's (which may be running right now), never this attempt's own.
TEST(StagingDir, StaleCleanUpTouchesOnlyThisJobsEarlierAttempts) {
  TempDir tmp;
  fs::path out = tmp.path() / "out";
  for (const char* name : {".out.kiln-staging-j7-a1-0000aaaa", ".out.kiln-staging-j7-a2-0000bbbb",
                           ".out.kiln-staging-j7-a3-0000cccc", ".out.kiln-staging-j70-a1-0000dddd",
                           ".out.kiln-staging-j8-a1-0000eeee", ".out.kiln-staging-1234abcd"})
    fs::create_directories(tmp.path() / name);
  EXPECT_EQ(StagingDir::remove_stale(out.string(), 7, 3), 2);
  EXPECT_FALSE(fs::exists(tmp.path() / ".out.kiln-staging-j7-a1-0000aaaa"));
  EXPECT_FALSE(fs::exists(tmp.path() / ".out.kiln-staging-j7-a2-0000bbbb"));
  EXPECT_TRUE(fs::exists(tmp.path() / ".out.kiln-staging-j7-a3-0000cccc"));   // this attempt
  EXPECT_TRUE(fs::exists(tmp.path() / ".out.kiln-staging-j70-a1-0000dddd"));  // job 70
  EXPECT_TRUE(fs::exists(tmp.path() / ".out.kiln-staging-j8-a1-0000eeee"));   // job 8
  EXPECT_TRUE(fs::exists(tmp.path() / ".out.kiln-staging-1234abcd"));         // kiln transcode's
}

// A job replaces an existing output only when result.json's marker names it (an earlier
// attempt's); another job's output, or anything else, is never replaced.
TEST(StagingDir, AJobReplacesOnlyItsOwnEarlierOutput) {
  TempDir tmp;
  fs::path out = tmp.path() / "out";
  write(out / "result.json", R"({"kilnJob": {"id": 5, "attempt": 1}})");
  auto other = StagingDir::create(out.string(), {6, 1}, false);
  ASSERT_FALSE(other.is_ok());
  EXPECT_EQ(other.status().code(), Code::kOutputExists);

  auto own = StagingDir::create(out.string(), {5, 2}, false);
  ASSERT_TRUE(own.is_ok()) << own.status().to_string();
  EXPECT_NE(own->path().find(".out.kiln-staging-j5-a2-"), std::string::npos) << own->path();
  write(fs::path(own->path()) / "result.json", R"({"kilnJob": {"id": 5, "attempt": 2}})");
  write(fs::path(own->path()) / "720p" / "seg1.m4s", "data");
  ASSERT_TRUE(own->publish().is_ok());
  auto owner = output_owner(out.string());
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->job_id, 5);
  EXPECT_EQ(owner->attempt, 2);
  EXPECT_TRUE(fs::exists(out / "720p" / "seg1.m4s"));

  fs::path plain = tmp.path() / "library";
  write(plain / "movie.mp4", "not kiln's");
  auto refused = StagingDir::create(plain.string(), {5, 1}, /*overwrite=*/true);  // a job never overwrites
  EXPECT_FALSE(refused.is_ok());
  EXPECT_FALSE(output_owner(plain.string()).has_value());
}

// Another job's output appearing while this one ran is not replaced at publish either.
TEST(StagingDir, PublishRefusesAnotherJobsOutputThatAppearedMeanwhile) {
  TempDir tmp;
  fs::path out = tmp.path() / "out";
  auto mine = StagingDir::create(out.string(), {9, 1}, false);
  ASSERT_TRUE(mine.is_ok());
  write(out / "result.json", R"({"kilnJob": {"id": 10, "attempt": 1}})");
  Status st = mine->publish();
  EXPECT_EQ(st.code(), Code::kOutputExists);
  EXPECT_EQ(output_owner(out.string())->job_id, 10);
}

TEST(StagingDir, SyncTreeSyncsEveryFileAndDirectory) {
  TempDir tmp;
  write(tmp.path() / "a" / "b" / "c.txt", "x");
  EXPECT_TRUE(sync_tree(tmp.path().string()).is_ok());
  EXPECT_EQ(sync_tree((tmp.path() / "missing").string()).code(), Code::kIo);
}

}  // namespace
}  // namespace kiln::pipeline
