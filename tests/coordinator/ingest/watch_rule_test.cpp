// [[watch]] rules: parsing (every error names the file, the rule and the key), key matching,
// placeholders, and the job body a rule makes (checked as POST /v1/jobs checks it).
#include "coordinator/ingest/watch_rule.hpp"

#include <gtest/gtest.h>

#include "coordinator/config.hpp"
#include "coordinator/job_json.hpp"
#include "toml_fields.hpp"

namespace kiln::coordinator::ingest {
namespace {

// Locations need directories only for file:// roots that exist; these need not.
const std::string kLocations = R"(
[database]
url = "postgresql://x/y"
[[location]]
name = "inbox"
url = "s3://media-in/incoming/"
endpoint = "http://127.0.0.1:9000"
[[location]]
name = "drop"
url = "file:///srv/drop"
[[location]]
name = "out"
url = "file:///srv/out"
)";

Result<Config> load(const std::string& watch) { return parse_config(kLocations + watch, "coordinator.toml"); }

std::string error_of(const std::string& watch) {
  auto c = load(watch);
  return c ? std::string("(parsed)") : c.status().message();
}

TEST(WatchRule, ParsesAnS3RuleWithItsTemplateAndAfterActions) {
  auto c = load(R"(
[[watch]]
name = "uploads"
location = "inbox"
prefix = "uploads/"
suffixes = [".MP4", ".mov"]
poll_seconds = 30
output = "out:{dir}{stem}/"
ladder = "720p,480p"
priority = 10
max_attempts = 3
segment_seconds = 4
metadata = { source = "{key}", team = "news", season = 3 }
on_complete = "tag"
errors_prefix = "errors/"
)");
  ASSERT_TRUE(c) << c.status().message();
  ASSERT_EQ(c->watches.size(), 1u);
  const WatchRule& r = c->watches[0];
  EXPECT_TRUE(r.s3);
  EXPECT_TRUE(r.events);
  EXPECT_EQ(r.poll_seconds, 30);
  EXPECT_EQ(r.suffixes, (std::vector<std::string>{".mp4", ".mov"}));
  EXPECT_EQ(r.on_complete, OnComplete::kTag);
  EXPECT_EQ(r.job["ladder"], "720p,480p");
  EXPECT_EQ(r.job["maxAttempts"], 3);
  EXPECT_EQ(r.job["segmentSeconds"], 4);
  EXPECT_EQ(r.job["metadata"]["season"], 3);
}

TEST(WatchRule, AFolderRuleDefaultsToInotifyWithPolling) {
  auto c = load(R"(
[[watch]]
name = "hot"
location = "drop"
prefix = "incoming/"
output = "out:{stem}"
)");
  ASSERT_TRUE(c) << c.status().message();
  const WatchRule& r = c->watches[0];
  EXPECT_FALSE(r.s3);
  EXPECT_EQ(r.watch, WatchMode::kAuto);
  EXPECT_EQ(r.poll_seconds, 10);
  EXPECT_EQ(r.stable_seconds, 5);
}

TEST(WatchRule, ErrorsNameTheFileTheRuleAndTheKey) {
  const std::string base = "[[watch]]\nname = \"r1\"\nlocation = \"inbox\"\nprefix = \"up/\"\noutput = \"out:{stem}\"\n";
  struct Case {
    std::string extra;
    std::string expect;
  } cases[] = {
      {"colour = 1\n", "unknown key 'colour'"},
      {"ladder = \"720p,banana\"\n", "ladder"},
      {"priority = 99\n", "'priority' must be an integer from -50 to 50"},
      {"on_complete = \"shred\"\n", "on_complete = 'shred'"},
      {"on_complete = \"move\"\n", "on_complete = 'move' and move_to go together"},
      {"on_complete = \"move\"\nmove_to = \"up/done/\"\n", "move_to = 'up/done/' lies inside what the rule watches"},
      {"errors_prefix = \"up/\"\n", "errors_prefix = 'up/' lies inside"},
      {"watch = \"inotify\"\n", "'watch' is for file:// locations"},
      {"events = false\n", "nothing would ever trigger it"},
      {"event_keys = \"base64\"\n", "event_keys = 'base64'"},
      {"metadata = { k = \"{size}\" }\n", "unknown placeholder {size}"},
      {"suffix = \".mp4\"\nsuffixes = [\".mov\"]\n", "not both"},
  };
  for (const auto& c : cases) {
    std::string e = error_of(base + c.extra);
    EXPECT_NE(e.find("coordinator.toml: [[watch]] #1 ('r1')"), std::string::npos) << c.extra << " -> " << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.extra << " -> " << e;
  }
}

TEST(WatchRule, LocationAndOutputMustBeConfiguredLocations) {
  EXPECT_NE(error_of("[[watch]]\nname = \"a\"\nlocation = \"nowhere\"\noutput = \"out:x\"\n").find(
                "location = 'nowhere' is not a [[location]]"),
            std::string::npos);
  EXPECT_NE(error_of("[[watch]]\nname = \"a\"\nlocation = \"drop\"\noutput = \"gone:{stem}\"\n").find(
                "no [[location]] named 'gone'"),
            std::string::npos);
  EXPECT_NE(error_of("[[watch]]\nname = \"a\"\nlocation = \"drop\"\noutput = \"{stem}\"\n").find("LOCATION:pattern"),
            std::string::npos);
  EXPECT_NE(error_of("[[watch]]\nname = \"A b\"\nlocation = \"drop\"\noutput = \"out:x\"\n").find("name = 'A b'"),
            std::string::npos);
  std::string two = "[[watch]]\nname = \"a\"\nlocation = \"drop\"\noutput = \"out:x\"\n";
  EXPECT_NE(error_of(two + two).find("[[watch]] #2: a second rule named 'a'"), std::string::npos);
  EXPECT_NE(error_of("[[watch]]\nname = \"a\"\nlocation = \"drop\"\nprefix = \"../x/\"\noutput = \"out:x\"\n")
                .find("'..'"),
            std::string::npos);
  EXPECT_NE(error_of("[[watch]]\nname = \"a\"\nlocation = \"drop\"\noutput = \"out:x\"\non_complete = \"tag\"\n")
                .find("needs an s3:// location"),
            std::string::npos);
}

TEST(WatchRule, ReceiverNamesStartingWithAtAreKilnsOwn) {
  auto c = parse_config(kLocations + "[[receiver]]\nname = \"@ingest\"\ntype = \"webhook\"\nurl = \"http://x\"\n",
                        "coordinator.toml");
  ASSERT_FALSE(c);
  EXPECT_NE(c.status().message().find("'@' are Kiln's own"), std::string::npos);
}

WatchRule rule(std::string prefix, std::vector<std::string> suffixes = {}) {
  WatchRule r;
  r.name = "r";
  r.location = "drop";
  r.prefix = std::move(prefix);
  r.suffixes = std::move(suffixes);
  r.output = "out:{dir}{stem}";
  return r;
}

TEST(WatchRule, MatchesKeysUnderThePrefixWithASuffixAndNothingHidden) {
  WatchRule r = rule("uploads/", {".mp4", ".mov"});
  EXPECT_TRUE(r.matches("uploads/a.mp4"));
  EXPECT_TRUE(r.matches("uploads/shows/ep1.MP4"));  // suffixes are case-insensitive
  EXPECT_TRUE(r.matches("uploads/b.mov"));
  EXPECT_FALSE(r.matches("uploads/a.mp4.part"));
  EXPECT_FALSE(r.matches("other/a.mp4"));
  EXPECT_FALSE(r.matches("uploads/.a.mp4"));          // rsync's temporary file
  EXPECT_FALSE(r.matches("uploads/.tmp/a.mp4"));      // in a hidden directory
  EXPECT_FALSE(r.matches("uploads/dir.mp4/"));        // a directory marker object
  WatchRule partial = rule("uploads/cam-");
  EXPECT_TRUE(partial.matches("uploads/cam-1.mp4"));
  EXPECT_FALSE(partial.matches("uploads/phone-1.mp4"));
  EXPECT_EQ(partial.watched_dir(), "uploads/");
  WatchRule all = rule("");
  EXPECT_TRUE(all.matches("a.mp4"));
  EXPECT_FALSE(all.matches(".kiln-check-1234"));      // kiln storage check's probe object
}

TEST(WatchRule, PlaceholdersNameThePartsOfTheKey) {
  WatchRule r = rule("uploads/");
  KeyParts p = key_parts(r, "uploads/shows/ep1.MP4", "etag-1");
  EXPECT_EQ(p.key, "uploads/shows/ep1.MP4");
  EXPECT_EQ(p.path, "shows/ep1.MP4");
  EXPECT_EQ(p.dir, "shows/");
  EXPECT_EQ(p.name, "ep1.MP4");
  EXPECT_EQ(p.stem, "ep1");
  EXPECT_EQ(p.ext, "MP4");
  EXPECT_EQ(p.version.size(), 12u);
  EXPECT_NE(p.version, key_parts(r, "uploads/shows/ep1.MP4", "etag-2").version);
  auto e = expand("{rule}/{dir}{stem}.{ext} {{literal}} {path}", p);
  ASSERT_TRUE(e) << e.status().message();
  EXPECT_EQ(*e, "r/shows/ep1.MP4 {literal} shows/ep1.MP4");
  KeyParts flat = key_parts(rule("uploads/cam-"), "uploads/cam-7", "v");
  EXPECT_EQ(flat.path, "cam-7");
  EXPECT_EQ(flat.dir, "");
  EXPECT_EQ(flat.stem, "cam-7");
  EXPECT_EQ(flat.ext, "");
  for (const char* bad : {"{stem", "stem}", "{nope}"}) EXPECT_FALSE(expand(bad, p)) << bad;
}

TEST(WatchRule, TheJobBodyIsAPostV1JobsBody) {
  auto c = load(R"(
[[watch]]
name = "uploads"
location = "drop"
prefix = "incoming/"
output = "out:{dir}{stem}/"
ladder = "480p"
metadata = { source = "{key}", n = 1 }
)");
  ASSERT_TRUE(c) << c.status().message();
  auto body = job_body(c->watches[0], "incoming/show/ep 1.mp4", "v1");
  ASSERT_TRUE(body) << body.status().message();
  EXPECT_EQ((*body)["input"], "drop:incoming/show/ep 1.mp4");
  EXPECT_EQ((*body)["output"], "out:show/ep 1");  // the trailing '/' goes: one output, one spelling
  EXPECT_EQ((*body)["metadata"]["source"], "incoming/show/ep 1.mp4");
  EXPECT_EQ((*body)["metadata"]["n"], 1);
  auto job = parse_job_request(*body);
  ASSERT_TRUE(job) << job.status().message();
  EXPECT_EQ(job->spec["ladder"], "480p");
}

}  // namespace
}  // namespace kiln::coordinator::ingest

namespace kiln::coordinator::ingest {
namespace {

TEST(WatchRule, TheShippedExampleConfigParses) {
  auto c = load_config(std::string(KILN_SOURCE_DIR) + "/config/coordinator.toml");
  ASSERT_TRUE(c) << c.status().message();
  ASSERT_EQ(c->watches.size(), 2u);
  EXPECT_TRUE(c->watches[0].s3);
  EXPECT_FALSE(c->watches[1].s3);
}

}  // namespace
}  // namespace kiln::coordinator::ingest
