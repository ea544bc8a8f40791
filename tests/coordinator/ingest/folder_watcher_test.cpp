// Watch folders on a real directory with real inotify, and time as a fake clock: a file written
// in pieces is taken once, whole, only after it stopped changing for stable_seconds; the
// polling mode looks at a due file once more before taking it; the mode falls back to polling
// where inotify cannot see (network filesystems) or cannot watch.
#include "coordinator/ingest/folder_watcher.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>

#include <filesystem>
#include <fstream>

#include "coordinator/ingest/stability.hpp"
#include "metrics/registry.hpp"

namespace kiln::coordinator::ingest {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using TimePoint = StabilityTracker::TimePoint;

struct ScratchDir {
  ScratchDir() {
    char templ[] = "/tmp/kiln-watch-XXXXXX";
    path = fs::canonical(mkdtemp(templ));
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

void append(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::app);
  out << bytes;
}

TEST(StabilityTracker, AFileIsDueOnlyAfterItStoppedChanging) {
  StabilityTracker t(2.0);
  TimePoint t0{};
  EXPECT_TRUE(t.observe("a", {10, 1}, t0));
  EXPECT_TRUE(t.due(t0 + 1999ms).empty());
  EXPECT_FALSE(t.observe("a", {10, 1}, t0 + 1s));  // unchanged: the clock keeps running
  EXPECT_EQ(t.due(t0 + 2s).size(), 1u);
  EXPECT_TRUE(t.observe("a", {20, 2}, t0 + 2s));  // grew: starts again
  EXPECT_TRUE(t.due(t0 + 3s).empty());
  EXPECT_EQ(*t.next_due(), t0 + 4s);
  ASSERT_EQ(t.due(t0 + 4s).size(), 1u);
  EXPECT_EQ(t.due(t0 + 4s)[0].second.size, 20);
  t.take("a");
  EXPECT_TRUE(t.due(t0 + 100s).empty());  // taken: not again
  EXPECT_EQ(t.waiting(), 0u);
  EXPECT_FALSE(t.next_due());
  t.untake("a");  // its offer failed
  EXPECT_EQ(t.due(t0 + 100s).size(), 1u);
  t.take("a");
  EXPECT_TRUE(t.observe("a", {30, 3}, t0 + 100s));  // replaced: a new version, due again later
  EXPECT_EQ(t.due(t0 + 102s).size(), 1u);
  t.forget("a");
  EXPECT_TRUE(t.due(t0 + 200s).empty());
}

WatchRule folder_rule(WatchMode mode, double poll_seconds, double stable_seconds) {
  WatchRule r;
  r.name = "hot";
  r.location = "drop";
  r.prefix = "incoming/";
  r.suffixes = {".mp4"};
  r.watch = mode;
  r.poll_seconds = poll_seconds;
  r.stable_seconds = stable_seconds;
  return r;
}

TEST(FolderWatcher, InotifyTakesAFileWrittenInPiecesOnceAndWhole) {
  ScratchDir root;
  fs::create_directories(root.path / "incoming");
  // A scan only at start (poll_seconds far beyond the test's fake time): everything after it is
  // seen through inotify.
  FolderWatcher w(folder_rule(WatchMode::kInotify, 1000, 2), root.path.string());
  TimePoint t{};
  ASSERT_TRUE(w.start(t));
  ASSERT_EQ(w.mode(), WatchMode::kInotify);
  ASSERT_GE(w.fd(), 0);

  fs::path file = root.path / "incoming" / "clip.mp4";
  append(file, std::string(1000, 'a'));
  w.refresh(t);
  EXPECT_EQ(w.waiting(), 1u);
  for (int piece = 1; piece < 5; ++piece) {  // a writer that pauses 1.5 s between pieces
    t += 1500ms;
    EXPECT_TRUE(w.take_ready(t).empty()) << "taken after piece " << piece;
    append(file, std::string(1000, 'b'));
    w.refresh(t);
  }
  append(root.path / "incoming" / ".clip2.mp4.part", "hidden");  // rsync's temporary file
  t += 1999ms;
  w.refresh(t);
  EXPECT_TRUE(w.take_ready(t).empty());
  t += 1ms;
  auto ready = w.take_ready(t);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].first, "incoming/clip.mp4");
  EXPECT_EQ(ready[0].second.size, 5000);
  t += 10s;
  w.refresh(t);
  EXPECT_TRUE(w.take_ready(t).empty()) << "a file is taken once";

  // A directory made after start, with a file in it: inotify watches it too.
  fs::create_directories(root.path / "incoming" / "later");
  w.refresh(t);
  append(root.path / "incoming" / "later" / "b.mp4", "x");
  w.refresh(t);
  t += 2s;
  ready = w.take_ready(t);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].first, "incoming/later/b.mp4");

  // Replaced in place: a new version, taken again once stable.
  append(file, "more");
  w.refresh(t);
  EXPECT_TRUE(w.take_ready(t).empty());
  t += 2s;
  ready = w.take_ready(t);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].second.size, 5004);
}

TEST(FolderWatcher, PollingLooksAtADueFileAgainBeforeTakingIt) {
  ScratchDir root;
  fs::create_directories(root.path / "incoming");
  FolderWatcher w(folder_rule(WatchMode::kPoll, 1, 2), root.path.string());
  TimePoint t{};
  ASSERT_TRUE(w.start(t));
  EXPECT_EQ(w.mode(), WatchMode::kPoll);
  EXPECT_EQ(w.fd(), -1);
  fs::path file = root.path / "incoming" / "clip.mp4";
  append(file, "one");
  t += 1s;
  w.refresh(t);  // the scan sees it
  EXPECT_EQ(w.waiting(), 1u);
  append(file, "two");  // written between scans
  t += 2s;
  // Due by the last scan, but it changed: looked at again, it waits again.
  EXPECT_TRUE(w.take_ready(t).empty());
  t += 1999ms;
  w.refresh(t);
  EXPECT_TRUE(w.take_ready(t).empty());
  t += 1ms;
  auto ready = w.take_ready(t);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].second.size, 6);
  EXPECT_LE(w.next_wake(t), t + 1s);  // the next scan
  // Deleted before it was stable: forgotten at the next scan.
  append(root.path / "incoming" / "gone.mp4", "x");
  t += 1s;
  w.refresh(t);
  EXPECT_EQ(w.waiting(), 1u);
  fs::remove(root.path / "incoming" / "gone.mp4");
  t += 1s;
  w.refresh(t);
  EXPECT_EQ(w.waiting(), 0u);
}

double counter(const char* name, std::vector<std::string> labels, metrics::Labels values) {
  return metrics::default_registry().counter(name, "", std::move(labels)).counter(values).value();
}

TEST(FolderWatcher, AMissingFolderIsWatchedOnceItExists) {
  ScratchDir root;
  WatchRule rule = folder_rule(WatchMode::kAuto, 1, 0);
  rule.name = "missing";
  FolderWatcher w(rule, root.path.string());
  EXPECT_FALSE(w.start(TimePoint{}));
  EXPECT_FALSE(w.started());
  EXPECT_FALSE(w.start(TimePoint{} + 1s));
  EXPECT_EQ(counter("kiln_ingest_watch_errors_total", {"rule"}, {"missing"}), 1) << "counted once per outage";
  fs::create_directories(root.path / "incoming");
  ASSERT_TRUE(w.start(TimePoint{}));
  append(root.path / "incoming" / "a.mp4", "x");
  w.refresh(TimePoint{} + 1s);
  EXPECT_EQ(w.take_ready(TimePoint{} + 1s).size(), 1u);
}

// The fallbacks themselves, through the watcher: a network filesystem (no NFS mount here) and
// a kernel out of inotify instances (spending the real per-user limit would take inotify from
// every other process of this user on the machine) come from the probe.
TEST(FolderWatcher, OnANetworkFilesystemAutoPollsAndSaysSo) {
  ScratchDir root;
  fs::create_directories(root.path / "incoming");
  WatchRule rule = folder_rule(WatchMode::kAuto, 1, 1);
  rule.name = "on-nfs";
  FsProbe nfs = FsProbe::system();
  nfs.fs_type = [](const std::string&) -> int64_t { return 0x6969; };
  bool asked_inotify = false;
  nfs.inotify_init = [&] { asked_inotify = true; return -ENOSYS; };
  FolderWatcher w(rule, root.path.string(), nfs);
  TimePoint t{};
  ASSERT_TRUE(w.start(t));
  EXPECT_EQ(w.mode(), WatchMode::kPoll);
  EXPECT_EQ(w.fd(), -1);
  EXPECT_FALSE(asked_inotify);
  EXPECT_EQ(counter("kiln_ingest_watch_fallbacks_total", {"rule", "reason"}, {"on-nfs", "network_fs"}), 1);
  append(root.path / "incoming" / "a.mp4", "x");  // as another machine would: seen by the scan
  t += 1s;
  w.refresh(t);
  t += 1s;
  EXPECT_EQ(w.take_ready(t).size(), 1u);
}

TEST(FolderWatcher, WithoutInotifyInstancesItPollsAndSaysSo) {
  ScratchDir root;
  fs::create_directories(root.path / "incoming");
  WatchRule rule = folder_rule(WatchMode::kInotify, 1, 1);
  rule.name = "no-inotify";
  FsProbe spent = FsProbe::system();
  spent.inotify_init = [] { return -EMFILE; };  // fs.inotify.max_user_instances reached
  FolderWatcher w(rule, root.path.string(), spent);
  TimePoint t{};
  ASSERT_TRUE(w.start(t));
  EXPECT_EQ(w.mode(), WatchMode::kPoll);
  EXPECT_EQ(counter("kiln_ingest_watch_fallbacks_total", {"rule", "reason"}, {"no-inotify", "inotify_unavailable"}), 1);
  append(root.path / "incoming" / "a.mp4", "x");
  t += 1s;
  w.refresh(t);
  t += 1s;
  EXPECT_EQ(w.take_ready(t).size(), 1u);
}

TEST(FolderWatcher, ModeFallsBackToPollingWhereInotifyCannotSeeOrWatch) {
  constexpr int64_t kExt4 = 0xEF53, kNfs = 0x6969, kFuse = 0x65735546, kCifs = 0xFF534D42;
  EXPECT_EQ(choose_mode(WatchMode::kAuto, kExt4, 0).mode, WatchMode::kInotify);
  EXPECT_EQ(choose_mode(WatchMode::kAuto, kExt4, 0).fallback, "");
  for (int64_t fs_type : {kNfs, kFuse, kCifs}) {
    ModeChoice c = choose_mode(WatchMode::kAuto, fs_type, 0);
    EXPECT_EQ(c.mode, WatchMode::kPoll);
    EXPECT_EQ(c.fallback, "network_fs");
    EXPECT_NE(c.why.find(network_fs_name(fs_type)), std::string::npos) << c.why;
  }
  ModeChoice none = choose_mode(WatchMode::kAuto, kExt4, EMFILE);  // max_user_instances reached
  EXPECT_EQ(none.mode, WatchMode::kPoll);
  EXPECT_EQ(none.fallback, "inotify_unavailable");
  EXPECT_NE(none.why.find("max_user_instances"), std::string::npos);
  EXPECT_EQ(choose_mode(WatchMode::kInotify, kExt4, ENOSPC).fallback, "inotify_unavailable");
  EXPECT_EQ(choose_mode(WatchMode::kInotify, kNfs, 0).mode, WatchMode::kInotify);  // asked for by name
  EXPECT_EQ(choose_mode(WatchMode::kPoll, kExt4, 0).mode, WatchMode::kPoll);
  EXPECT_EQ(choose_mode(WatchMode::kPoll, kExt4, 0).fallback, "");
  EXPECT_EQ(network_fs_name(kExt4), nullptr);
}

}  // namespace
}  // namespace kiln::coordinator::ingest
