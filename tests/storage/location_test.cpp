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

/// A file location and three S3 locations: the whole of one bucket, and two folders of another
/// (a nested one whose settings must win for the keys under it).
Result<Locations> mixed(const fs::path& media) {
  return parse("[[location]]\nname = \"media\"\nurl = \"file://" + media.string() + "\"\n"
               "[[location]]\nname = \"in\"\nurl = \"s3://media-in/uploads\"\n"
               "[[location]]\nname = \"out\"\nurl = \"s3://media-out/ladders/\"\npresign_seconds = 600\n"
               "[[location]]\nname = \"vip\"\nurl = \"s3://media-out/ladders/vip/\"\nconcurrency = 9\n"
               "[[location]]\nname = \"all\"\nurl = \"s3://everything\"\n");
}

TEST_F(LocationsTest, S3RefsResolveToOneCanonicalUrlInsideTheirLocation) {
  auto l = mixed(root_ / "media");
  ASSERT_TRUE(l) << l.status().message();
  auto same = [&](const std::string& ref, const std::string& want) {
    auto r = l->resolve(ref, "input");
    ASSERT_TRUE(r) << ref << ": " << r.status().message();
    EXPECT_EQ(*r, want) << ref;
  };
  same("in:a.mp4", "s3://media-in/uploads/a.mp4");  // a prefix without '/' is a folder all the same
  same("s3://media-in/uploads/a.mp4", "s3://media-in/uploads/a.mp4");
  same("in:deep/er/a b.mp4", "s3://media-in/uploads/deep/er/a b.mp4");  // keys as written, no %XX
  same("in:x%20y.mp4", "s3://media-in/uploads/x%20y.mp4");
  same("out:show/ep1/", "s3://media-out/ladders/show/ep1");  // an output folder: no trailing '/'
  same("s3://media-out/ladders/show/ep1/", "s3://media-out/ladders/show/ep1");
  same("all:a.mp4", "s3://everything/a.mp4");
  same("s3://everything/a/b.mp4", "s3://everything/a/b.mp4");
  // The canonical form resolves to itself (the node resolves the coordinator's rows again).
  same(l->resolve("out:show/ep1", "output").value_or(""), "s3://media-out/ladders/show/ep1");

  // The longest prefix holds a key: its settings (here, concurrency) are the ones used.
  auto vip = l->s3_object("s3://media-out/ladders/vip/ep2");
  ASSERT_TRUE(vip) << vip.status().message();
  EXPECT_EQ(vip->location->name, "vip");
  EXPECT_EQ(vip->key, "ladders/vip/ep2");
  auto out = l->s3_object("s3://media-out/ladders/vipx/ep2");  // a sibling sharing the prefix
  ASSERT_TRUE(out);
  EXPECT_EQ(out->location->name, "out");
  EXPECT_EQ(out->location->presign_seconds, 600);
  EXPECT_FALSE(l->s3_object("s3://media-out/other/x"));
}

TEST_F(LocationsTest, S3RefsOutsideEveryLocationOrMalformedAreRefusedWithTheReason) {
  auto l = mixed(root_ / "media");
  ASSERT_TRUE(l) << l.status().message();
  auto refused = [&](const std::string& ref, const std::string& says) {
    auto r = l->resolve(ref, "input");
    ASSERT_FALSE(r) << ref << " -> " << r.value_or("");
    EXPECT_EQ(r.status().code(), Code::kPathNotAllowed);
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
  };
  refused("s3://media-in/elsewhere/a.mp4", "outside every storage location");
  refused("s3://media-in/uploads-evil/a.mp4", "outside every storage location");  // shares the prefix's text
  refused("s3://media-in/uploads/../secret.mp4", "'..'");
  refused("in:../secret.mp4", "'..'");
  refused("in:a/../../secret.mp4", "'..'");
  refused("in:./a.mp4", "'.' component");
  refused("in:a//b.mp4", "empty component");
  refused("in:/a.mp4", "relative key");
  refused("in:", "relative key");
  refused("s3://media-in/uploads//a.mp4", "empty component");
  refused("s3://unknown-bucket/a.mp4", "outside every storage location");
  refused("s3://media-in", "names a bucket");
  refused("s3://media-in/", "names no key");
  refused("s3:///a.mp4", "s3://BUCKET/KEY");
  refused(std::string("in:a") + '\x01' + "b.mp4", "control character");
  refused("in:" + std::string(1100, 'k'), "longer than 1024 bytes");
  // An S3 location has no root on disk: it must not make every local path "inside".
  refused((root_ / "elsewhere" / "secret.mp4").string(), "outside every storage location");
  // The file rules are as they were.
  EXPECT_EQ(l->resolve("media:uploads/a.mp4", "input").value_or(""), (root_ / "media" / "uploads" / "a.mp4").string());
}

TEST_F(LocationsTest, AnS3OutputIsAFolderThatNeverCoversItsInputOrALocation) {
  auto l = mixed(root_ / "media");
  ASSERT_TRUE(l) << l.status().message();
  auto job = l->resolve_job("in:clip.mp4", "out:show/clip/");
  ASSERT_TRUE(job) << job.status().message();
  EXPECT_EQ(job->input, "s3://media-in/uploads/clip.mp4");
  EXPECT_EQ(job->output, "s3://media-out/ladders/show/clip");
  EXPECT_TRUE(l->resolve_job("media:uploads/a.mp4", "out:a"));       // file in, bucket out
  EXPECT_TRUE(l->resolve_job("in:clip.mp4", "media:out/clip"));      // bucket in, file out
  EXPECT_TRUE(l->resolve_job("all:show/clip.mp4", "all:show/clip"));  // a key beside the folder
  auto says = [&](const std::string& in, const std::string& out, const std::string& what) {
    auto r = l->resolve_job(in, out);
    ASSERT_FALSE(r) << in << " -> " << out;
    EXPECT_EQ(r.status().code(), Code::kPathNotAllowed);
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  says("in:clip.mp4", "in:clip.mp4", "is the input itself");
  says("all:show/clip.mp4", "all:show", "contains the input");
  says("all:show/clip.mp4", "s3://everything/show/", "contains the input");
  says("in:clip.mp4", "s3://media-out/ladders/", "root of location 'out'");
  says("in:clip.mp4", "vip:", "relative key");
  says("in:clip.mp4", "s3://media-out/ladders/vip", "root of location 'vip'");
  says("in:clip.mp4", "s3://everything/", "names no key");
}

TEST(LocationConfig, S3LocationsTakePresignSecondsStreamInputAndOneEndpointPerBucket) {
  auto expect_error = [](const std::string& text, const std::string& says) {
    auto l = parse(text);
    ASSERT_FALSE(l) << text;
    EXPECT_EQ(l.status().code(), Code::kUsage);
    EXPECT_NE(l.status().message().find(says), std::string::npos) << l.status().message();
  };
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\npresign_seconds = 604801\n", "7 days");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\npresign_seconds = -1\n", "presign_seconds = -1");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\npresign_seconds = 1.5\n", "whole number");
  expect_error("[[location]]\nname = \"a\"\nurl = \"file:///srv\"\npresign_seconds = 60\n", "only for s3://");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\nendpoint = \"http://127.0.0.1:9000\"\n"
               "[[location]]\nname = \"b\"\nurl = \"s3://bkt/q\"\nendpoint = \"http://127.0.0.1:9001\"\n",
               "bucket 'bkt' is also location 'a' at another endpoint");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\nstream_input = \"yes\"\n",
               "stream_input = 'yes' must be \"never\"");
  expect_error("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\nstream_input = true\n", "stream_input");
  expect_error("[[location]]\nname = \"a\"\nurl = \"file:///srv\"\nstream_input = \"auto\"\n", "only for s3://");
  auto ok = parse("[[location]]\nname = \"a\"\nurl = \"s3://bkt/p\"\npresign_seconds = 3600\nstream_input = \"auto\"\n"
                  "[[location]]\nname = \"b\"\nurl = \"s3://bkt/q\"\nprofile = \"other\"\n"
                  "[[location]]\nname = \"c\"\nurl = \"s3://bkt/r\"\nstream_input = \"always\"\n");
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ(ok->find("a")->presign_seconds, 3600);
  EXPECT_EQ(ok->find("b")->presign_seconds, 0);
  EXPECT_EQ(ok->find("a")->stream_input, storage::Location::StreamInput::kAuto);
  EXPECT_EQ(ok->find("b")->stream_input, storage::Location::StreamInput::kNever);
  EXPECT_EQ(ok->find("c")->stream_input, storage::Location::StreamInput::kAlways);
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
  refused("http://example.com/a.mp4", "only file:// and s3:// locations");
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
