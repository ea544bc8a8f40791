#pragma once
// A watch folder: the files under one file:// rule's directory, seen through inotify or by
// scanning, each taken once its size and mtime have been stable for the rule's stable_seconds.
//
// inotify is blind to writes made by other machines on NFS, SMB, CephFS or FUSE mounts, so
// `watch = "auto"` polls (scans every poll_seconds) there, and falls back to polling wherever
// inotify cannot watch (no instances or watches left, fs.inotify.max_user_*): each fallback is
// a warn log line and kiln_ingest_watch_fallbacks_total{rule,reason}. In inotify mode a full
// scan still runs at start, after an event-queue overflow, and every 10 poll periods.
//
// Hidden files and directories ('.'-first) are never taken: a writer that writes `.name.part`
// and renames it when done (as rsync does) never shows a partial file, whatever its pauses.
// Time comes in as an argument, so tests drive stability with a fake clock. Not thread-safe:
// one loop owns each watcher. Owns its inotify descriptor.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/ingest/stability.hpp"
#include "coordinator/ingest/watch_rule.hpp"

namespace kiln::coordinator::ingest {

/// How a folder is watched, and why when it is not as asked.
struct ModeChoice {
  WatchMode mode = WatchMode::kPoll;
  std::string fallback;  // "": as asked; else the metric's reason: network_fs, inotify_unavailable
  std::string why;       // for the log line
};

/// The filesystem type name of a statfs f_type where inotify misses other machines' writes
/// (nfs, cifs, smb2, ceph, fuse, 9p, ...), or nullptr.
const char* network_fs_name(int64_t fs_type);

/// The mode for a folder on a filesystem of `fs_type`: `requested`, except that auto polls on a
/// network filesystem, and that when inotify failed (`inotify_errno` != 0, from inotify_init1 or
/// inotify_add_watch) anything but poll falls back to polling.
ModeChoice choose_mode(WatchMode requested, int64_t fs_type, int inotify_errno);

/// What the watcher asks the kernel before it picks a mode: the filesystem type of a directory
/// (statfs f_type; -errno when it cannot say) and a new inotify instance (an fd the watcher
/// then owns; -errno when none can be had). The real calls by default; a test gives a
/// filesystem this machine has no mount of (NFS), or a kernel whose inotify limits are spent,
/// which a test cannot cause here without taking them from everyone else on the machine.
struct FsProbe {
  std::function<int64_t(const std::string& dir)> fs_type;
  std::function<int()> inotify_init;
  static FsProbe system();
};

class FolderWatcher {
 public:
  using TimePoint = StabilityTracker::TimePoint;

  /// `root`: the location's directory; keys are relative to it.
  FolderWatcher(const WatchRule& rule, std::string root, FsProbe probe = FsProbe::system());
  ~FolderWatcher();
  FolderWatcher(const FolderWatcher&) = delete;
  FolderWatcher& operator=(const FolderWatcher&) = delete;

  /// Chooses the mode and scans once. False, with a warn line and
  /// kiln_ingest_watch_errors_total{rule}, when the directory cannot be read: call again later.
  bool start(TimePoint now);
  /// Stops watching and forgets every file (another coordinator leads the rule now).
  void stop();
  bool started() const { return started_; }
  WatchMode mode() const { return mode_; }
  /// The inotify descriptor to wait on (readable: events), or -1 when polling.
  int fd() const { return inotify_fd_; }

  /// Brings the view up to date: inotify events (each file they name is looked at), and a full
  /// scan when one is due.
  void refresh(TimePoint now);
  /// Files stable at `now`, looked at once more, taken (not offered again until they change).
  std::vector<std::pair<std::string, FileState>> take_ready(TimePoint now);
  /// Hands a taken file back (its offer failed): it is due again at once.
  void untake(const std::string& key) { tracker_.untake(key); }
  /// When refresh() or take_ready() next have work, at the latest.
  TimePoint next_wake(TimePoint now) const;
  /// Files seen and not yet taken.
  size_t waiting() const { return tracker_.waiting(); }

 private:
  void scan(TimePoint now);
  void scan_dir(const std::string& rel_dir, TimePoint now, std::vector<std::string>* seen);
  /// Stats the file and tells the tracker; its state, or nullopt when it is not one of ours.
  std::optional<FileState> look_at(const std::string& key, TimePoint now);
  void read_events(TimePoint now);
  bool add_watch(const std::string& rel_dir);
  void fall_back(const std::string& reason, const std::string& why);
  void close_inotify();

  WatchRule rule_;
  std::string root_;
  FsProbe probe_;
  bool started_ = false;
  WatchMode mode_ = WatchMode::kPoll;
  int inotify_fd_ = -1;                    // owned
  std::map<int, std::string> watch_dirs_;  // inotify wd -> directory (relative, with '/', "" = root)
  bool scan_due_ = true;
  bool unreadable_ = false;                // the watched directory could not be read last scan
  TimePoint next_scan_{};
  StabilityTracker tracker_;
};

}  // namespace kiln::coordinator::ingest
