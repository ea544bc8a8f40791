// What ingest does to an upload after its job, on a real S3 server (s3rver) and a real
// directory: moves, tags and error reports, each idempotent (the outcome loop may act twice
// after a crash), and never on a source replaced since its job was made.
#include "coordinator/ingest/source_actions.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "coordinator/ingest/ingestor.hpp"
#include "storage/s3/sigv4.hpp"
#include "support/run.hpp"
#include "support/s3rver.hpp"
#include "toml_fields.hpp"

namespace kiln::coordinator::ingest {
namespace {
namespace fs = std::filesystem;
using test::S3rver;

storage::Locations locations(const std::string& endpoint, const fs::path& dir) {
  auto t = toml_fields::parse("[[location]]\nname = \"inbox\"\nurl = \"s3://media-in/\"\nendpoint = \"" + endpoint +
                                  "\"\n[[location]]\nname = \"drop\"\nurl = \"file://" + dir.string() + "\"\n",
                              "test.toml");
  auto l = storage::parse_locations(*t, "test.toml");
  EXPECT_TRUE(l) << l.status().message();
  return *l;
}

WatchRule rule(const std::string& location, bool s3, OnComplete on) {
  WatchRule r;
  r.name = "r";
  r.location = location;
  r.s3 = s3;
  r.prefix = "uploads/";
  r.on_complete = on;
  r.move_to = on == OnComplete::kMove ? "done/" : "";
  r.errors_prefix = "errors/";
  return r;
}

class SourceActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!S3rver::available(&why)) GTEST_SKIP() << why;
    ::setenv("AWS_ACCESS_KEY_ID", S3rver::kAccessKey, 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", S3rver::kSecret, 1);
    server_ = std::make_unique<S3rver>(tmp_ / "s3", std::vector<std::string>{"media-in"});
    fs::create_directories(tmp_ / "drop");
    locations_ = locations(server_->endpoint(), tmp_ / "drop");
    clients_ = std::make_unique<storage::S3Clients>(locations_);
    actions_ = std::make_unique<SourceActions>(locations_, *clients_);
  }
  const storage::s3::S3Client& s3() { return **clients_->client(std::string("inbox")); }

  test::TempDir tmp_;
  std::unique_ptr<S3rver> server_;
  storage::Locations locations_;
  std::unique_ptr<storage::S3Clients> clients_;
  std::unique_ptr<SourceActions> actions_;
};

TEST_F(SourceActionsTest, AnObjectIsMovedOnceAndOnlyTheVersionItsJobRead) {
  WatchRule r = rule("inbox", true, OnComplete::kMove);
  ASSERT_TRUE(s3().put("uploads/shows/a.mp4", "v1"));
  Source src{"uploads/shows/a.mp4", storage::s3::md5_hex("v1"), 7};
  ASSERT_TRUE(actions_->completed(r, src).is_ok());
  EXPECT_EQ(s3().head("uploads/shows/a.mp4").status().code(), Code::kInputMissing);
  EXPECT_EQ(s3().get("done/shows/a.mp4").value_or(""), "v1");
  // Again (the outcome loop died before it recorded the first): already done.
  EXPECT_TRUE(actions_->completed(r, src).is_ok());
  EXPECT_EQ(s3().get("done/shows/a.mp4").value_or(""), "v1");
  // The key was uploaded again since its job was made: the new upload stays for its own job.
  ASSERT_TRUE(s3().put("uploads/shows/b.mp4", "new"));
  ASSERT_TRUE(actions_->completed(r, {"uploads/shows/b.mp4", storage::s3::md5_hex("old"), 8}).is_ok());
  EXPECT_EQ(s3().get("uploads/shows/b.mp4").value_or(""), "new");
  EXPECT_EQ(s3().head("done/shows/b.mp4").status().code(), Code::kInputMissing);
}

TEST_F(SourceActionsTest, TagsKeepTheObjectsOwnAndAFailureWritesItsReport) {
  WatchRule r = rule("inbox", true, OnComplete::kTag);
  ASSERT_TRUE(s3().put("uploads/a.mp4", "x"));
  ASSERT_TRUE(s3().put_tags("uploads/a.mp4", {{"owner", "news"}}).is_ok());
  ASSERT_TRUE(actions_->completed(r, {"uploads/a.mp4", storage::s3::md5_hex("x"), 7}).is_ok());
  EXPECT_EQ(*s3().get_tags("uploads/a.mp4"),
            (storage::s3::Tags{{"owner", "news"}, {"kiln-status", "complete"}, {"kiln-job", "7"}}));

  ASSERT_TRUE(s3().put("uploads/bad.mp4", "not a video"));
  Source bad{"uploads/bad.mp4", storage::s3::md5_hex("not a video"), 9};
  ASSERT_TRUE(actions_->failed(r, bad, "input_not_media: no demuxer recognises it").is_ok());
  EXPECT_EQ(*s3().get_tags("uploads/bad.mp4"), (storage::s3::Tags{{"kiln-status", "failed"}, {"kiln-job", "9"}}));
  auto report = s3().get("errors/bad.mp4.txt");
  ASSERT_TRUE(report) << report.status().message();
  EXPECT_NE(report->find("upload: inbox:uploads/bad.mp4"), std::string::npos) << *report;
  EXPECT_NE(report->find("reason: input_not_media: no demuxer recognises it"), std::string::npos) << *report;
  EXPECT_NE(report->find("job:    9"), std::string::npos) << *report;
  EXPECT_EQ(s3().head("errors/bad.mp4.txt")->content_type.rfind("text/plain", 0), 0u);
}

TEST_F(SourceActionsTest, AFileIsMovedUnlessItChangedAndReportsLandInTheErrorsPrefix) {
  WatchRule r = rule("drop", false, OnComplete::kMove);
  fs::path in = tmp_ / "drop" / "uploads" / "cam" / "a.mp4";
  fs::create_directories(in.parent_path());
  std::ofstream(in) << "video";
  struct stat st{};
  ASSERT_EQ(::stat(in.c_str(), &st), 0);
  std::string version = file_version(st.st_size, int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec);
  std::ofstream(tmp_ / "drop" / "uploads" / "changed.mp4") << "now";
  ASSERT_TRUE(actions_->completed(r, {"uploads/changed.mp4", "1-1", 3}).is_ok());
  EXPECT_TRUE(fs::exists(tmp_ / "drop" / "uploads" / "changed.mp4")) << "another version: left alone";
  ASSERT_TRUE(actions_->completed(r, {"uploads/cam/a.mp4", version, 4}).is_ok());
  EXPECT_FALSE(fs::exists(in));
  EXPECT_EQ(test::read_file(tmp_ / "drop" / "done" / "cam" / "a.mp4"), "video");
  EXPECT_TRUE(actions_->completed(r, {"uploads/cam/a.mp4", version, 4}).is_ok()) << "done already";

  ASSERT_TRUE(actions_->failed(r, {"uploads/cam/b.mp4", "0-1", 0}, "path_not_allowed: outside").is_ok());
  std::string report = test::read_file(tmp_ / "drop" / "errors" / "cam" / "b.mp4.txt");
  EXPECT_NE(report.find("job:    none (refused before a job was made)"), std::string::npos) << report;
  EXPECT_NE(report.find("reason: path_not_allowed: outside"), std::string::npos) << report;
}

}  // namespace
}  // namespace kiln::coordinator::ingest
