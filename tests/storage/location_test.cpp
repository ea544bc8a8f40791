// Storage locations: config parsing and path resolution, on real directories and symlinks.
#include "storage/location.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <cstdlib>
#include <fstream>

#include "toml_fields.hpp"

namespace kiln::storage {
namespace {
namespace fs = std::filesystem;

struct ScratchDir {
  ScratchDir() {
    char templ[] = "/tmp/kiln-location-XXXXXX";
    path_ = mkdtemp(templ);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path path_;
};

Result<Locations> parse(const std::string& text) {
  auto t = toml_fields::parse(text, "test.toml");
  if (!t) return t.status();
  return parse_locations(*t, "test.toml");
}

class LocationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::canonical(tmp_.path());
    fs::create_directories(root_ / "media" / "uploads");
    fs::create_directories(root_ / "elsewhere");
    std::ofstream(root_ / "media" / "uploads" / "a.mp4") << "x";
    std::ofstream(root_ / "elsewhere" / "secret.mp4") << "x";
    fs::create_directory_symlink(root_ / "elsewhere", root_ / "media" / "escape");
    fs::create_directory_symlink(root_ / "media" / "uploads", root_ / "media" / "alias");
    auto l = parse("[[location]]\nname = \"media\"\nurl = \"file://" + (root_ / "media").string() + "\"\n");
    ASSERT_TRUE(l) << l.status().message();
    locations_ = *l;
  }
  ScratchDir tmp_;
  fs::path root_;
  Locations locations_;
};

TEST(LocationConfig, RefusesBadEntriesNamingTheEntry) {
  EXPECT_TRUE(parse("")->empty());
  auto expect_error = [](const std::string& text, const std::string& says) {
    auto l = parse(text);
    ASSERT_FALSE(l) << text;
    EXPECT_EQ(l.status().code(), Code::kUsage);
    EXPECT_NE(l.status().message().find(says), std::string::npos) << l.status().message();
  };
  expect_error("[[location]]\nurl = \"file:///srv\"\n", "[[location]] #1: name");
  expect_error("[[location]]\nname = \"Media!\"\nurl = \"file:///srv\"\n", "must be 1-64 of a-z");
  expect_error("[[location]]\nname = \"a\"\nurl = \"/srv\"\n", "must be file:///absolute/directory");
  expect_error("[[location]]\nname = \"a\"\nurl = \"file:///\"\n", "whole filesystem");
  expect_error("[[location]]\nname = \"a\"\nurl = \"file:///srv/../etc\"\n", "'..'");
  expect_error("[[location]]\nname = \"a\"\nurl = \"file:///srv\"\nregion = \"x\"\n", "'region' is only for s3://");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://Bad_Bucket/p\"\n", "bucket name");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\nendpoint = \"minio:9000\"\n", "no scheme");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\npart_size = 1024\n", "part_size = 1024");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\npath_style = \"yes\"\n", "true or false");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\ncredential = \"../x\"\n", "file name");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\nbucket = \"x\"\n", "unknown key 'bucket'");
  expect_error("[[location]]\nname = \"a\"\nurl = \"file:///srv\"\npath = 1\n", "unknown key 'path'");
  expect_error("[[location]]\nname = \"a\"\nurl = \"file:///srv\"\n[[location]]\nname = \"a\"\nurl = \"file:///x\"\n",
               "[[location]] #2: a second location named 'a'");
}

TEST(LocationConfig, AnS3LocationCarriesItsBucketAndSettings) {
  auto l = parse("[[location]]\nname = \"out\"\nurl = \"s3://media-out/ladders/\"\nendpoint = \"http://127.0.0.1:9000\"\n"
                 "region = \"eu-west-1\"\npath_style = false\nprofile = \"media\"\ncredential = \"kiln-s3\"\n"
                 "part_size = 16777216\nconcurrency = 8\n"
                 "[[location]]\nname = \"in\"\nurl = \"s3://media-in\"\n");
  ASSERT_TRUE(l) << l.status().message();
  const Location* out = l->find("out");
  ASSERT_TRUE(out && out->is_s3());
  EXPECT_EQ(out->s3->bucket, "media-out");
  EXPECT_EQ(out->s3->prefix, "ladders/");
  EXPECT_EQ(out->s3->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(out->s3->region, "eu-west-1");
  EXPECT_EQ(out->s3->path_style, std::optional<bool>(false));
  EXPECT_EQ(out->s3->credentials.profile, "media");
  EXPECT_EQ(out->s3->credentials.systemd_credential, "kiln-s3");
  EXPECT_EQ(out->s3->part_size, 16u * 1024 * 1024);
  EXPECT_EQ(out->s3->concurrency, 8);
  const Location* in = l->find("in");
  ASSERT_TRUE(in && in->is_s3());
  EXPECT_FALSE(in->s3->path_style.has_value());  // automatic
  EXPECT_EQ(in->s3->part_size, 8u * 1024 * 1024);
  EXPECT_EQ(l->find("nope"), nullptr);
}

TEST_F(LocationsTest, JobsDoNotResolveIntoS3LocationsYetAndFilesStayAsTheyWere) {
  auto l = parse("[[location]]\nname = \"media\"\nurl = \"file://" + (root_ / "media").string() +
                 "\"\n[[location]]\nname = \"bucket\"\nurl = \"s3://media-in/up\"\n");
  ASSERT_TRUE(l) << l.status().message();
  auto r = l->resolve("bucket:a.mp4", "input");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kPathNotAllowed);
  EXPECT_NE(r.status().message().find("location 'bucket' is object storage"), std::string::npos) << r.status().message();
  EXPECT_FALSE(l->resolve("s3://media-in/up/a.mp4", "input"));
  // An S3 location has no root: it must not make every path "inside".
  EXPECT_FALSE(l->resolve((root_ / "elsewhere" / "secret.mp4").string(), "input"));
  const std::string want = (root_ / "media" / "uploads" / "a.mp4").string();
  EXPECT_EQ(l->resolve("media:uploads/a.mp4", "input").value_or(""), want);
  EXPECT_TRUE(l->resolve_job("media:uploads/a.mp4", "media:out/a"));
}

TEST_F(LocationsTest, ResolvesTheThreeSpellingsToOneRealPath) {
  const std::string want = (root_ / "media" / "uploads" / "a.mp4").string();
  EXPECT_EQ(locations_.resolve(want, "input").value_or(""), want);
  EXPECT_EQ(locations_.resolve("media:uploads/a.mp4", "input").value_or(""), want);
  EXPECT_EQ(locations_.resolve("file://" + want, "input").value_or(""), want);
  EXPECT_EQ(locations_.resolve("media:alias/a.mp4", "input").value_or(""), want);  // a symlink inside stays inside
  // Not there yet (an output): the existing part is resolved, the rest kept; %20 decoded.
  EXPECT_EQ(locations_.resolve("file://" + (root_ / "media").string() + "/new%20dir/x", "output").value_or(""),
            (root_ / "media" / "new dir" / "x").string());
}

TEST_F(LocationsTest, RefusesEverythingOutsideWithTheReason) {
  auto refused = [&](const std::string& ref, const std::string& says) {
    auto r = locations_.resolve(ref, "input");
    ASSERT_FALSE(r) << ref << " -> " << r.value_or("");
    EXPECT_EQ(r.status().code(), Code::kPathNotAllowed);
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
  };
  refused((root_ / "elsewhere" / "secret.mp4").string(), "outside every storage location");
  refused((root_ / "media" / ".." / "elsewhere" / "secret.mp4").string(), "'..'");
  refused("media:../elsewhere/secret.mp4", "'..'");
  refused((root_ / "media" / "escape" / "secret.mp4").string(), "a symlink on it leads outside");
  refused("media:escape/secret.mp4", "a symlink on it leads outside");
  refused((root_ / "media-evil" / "a.mp4").string(), "outside");  // a sibling sharing the prefix
  refused("other:a.mp4", "no location named 'other'");
  refused("media:/etc/passwd", "relative path");
  refused("uploads/a.mp4", "not file:///path");
  refused("file://host/etc", "no host");
  refused("file:///tmp/%zz", "two hex digits");
  refused("", "empty");
  EXPECT_FALSE(Locations().resolve("/srv/a.mp4", "input"));  // none configured: nothing is allowed
}

TEST_F(LocationsTest, AJobsOutputNeverCoversItsInputOrALocation) {
  const std::string in = "media:uploads/a.mp4";
  EXPECT_TRUE(locations_.resolve_job(in, "media:out/a"));
  auto says = [&](const std::string& out, const std::string& what) {
    auto r = locations_.resolve_job(in, out);
    ASSERT_FALSE(r) << out;
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  says(in, "is the input itself");
  says("media:uploads", "contains the input");
  says("media:alias", "contains the input");  // through a symlink too
  says((root_ / "media").string(), "root of location 'media'");
}

}  // namespace
}  // namespace kiln::storage

namespace kiln::storage {
namespace {

TEST(LocationLocate, NamesTheMostSpecificLocationAndTheKeyInIt) {
  auto l = parse("[[location]]\nname = \"srv\"\nurl = \"file:///srv\"\n"
                 "[[location]]\nname = \"media\"\nurl = \"file:///srv/media\"\n"
                 "[[location]]\nname = \"in\"\nurl = \"s3://media-in/uploads/\"\n"
                 "[[location]]\nname = \"bucket\"\nurl = \"s3://media-in\"\n");
  ASSERT_TRUE(l) << l.status().message();
  auto at = [&](const char* path) {
    auto p = l->locate(path);
    return p ? p->location + "|" + p->key : std::string("none");
  };
  EXPECT_EQ(at("/srv/media/shows/a.mp4"), "media|shows/a.mp4");  // nested: the inner one
  EXPECT_EQ(at("/srv/media2/a.mp4"), "srv|media2/a.mp4");         // a sibling with a longer name
  EXPECT_EQ(at("/srv/media"), "srv|media");
  EXPECT_EQ(at("/elsewhere/a.mp4"), "none");
  EXPECT_EQ(at("s3://media-in/uploads/a b.mp4"), "in|a b.mp4");
  EXPECT_EQ(at("s3://media-in/other/a.mp4"), "bucket|other/a.mp4");
  EXPECT_EQ(at("s3://media-out/a.mp4"), "none");
}

}  // namespace
}  // namespace kiln::storage
