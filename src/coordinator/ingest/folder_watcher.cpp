#include "coordinator/ingest/folder_watcher.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "log.hpp"
#include "metrics/registry.hpp"

namespace kiln::coordinator::ingest {
namespace {

// statfs f_type values (linux/magic.h and the filesystems' own headers) where a change made by
// another machine raises no inotify event on this one.
struct FsType {
  int64_t magic;
  const char* name;
};
constexpr FsType kNetworkFilesystems[] = {
    {0x6969, "nfs"},           {0x517B, "smb"},       {0xFF534D42, "cifs"},   {0xFE534D42, "smb2"},
    {0x00C36400, "ceph"},      {0x65735546, "fuse"},  {0x01021997, "9p"},     {0x5346414F, "afs"},
    {0x01161970, "gfs2"},      {0x7461636F, "ocfs2"}, {0x0BD00BD0, "lustre"}, {0x47504653, "gpfs"},
    {0x13661366, "glusterfs"}, {0x564C, "ncp"},       {0x6B414653, "kafs"},
};

constexpr int kScanEveryPolls = 10;  // inotify mode: a full scan as a safety net, this many periods apart
constexpr uint32_t kEvents = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                             IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

metrics::Family& fallbacks() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_watch_fallbacks_total", "Watch folders polled because inotify cannot watch them, by rule and "
      "reason (network_fs: writes from other machines are invisible to inotify; inotify_unavailable).",
      {"rule", "reason"});
  return f;
}
metrics::Family& watch_errors() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_watch_errors_total", "Watch folders that could not be read (missing, no permission), by rule.",
      {"rule"});
  return f;
}
metrics::Family& changes() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_watch_changes_total", "Files seen new or changed in watch folders (each restarts the file's "
      "stability wait), by rule.", {"rule"});
  return f;
}
metrics::Family& waiting_gauge() {
  static metrics::Family& f = metrics::default_registry().gauge(
      "kiln_ingest_files_waiting", "Files in watch folders waiting to be stable, by rule.", {"rule"});
  return f;
}

bool hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

const char* network_fs_name(int64_t fs_type) {
  for (const auto& t : kNetworkFilesystems)
    if (t.magic == fs_type) return t.name;
  return nullptr;
}

ModeChoice choose_mode(WatchMode requested, int64_t fs_type, int inotify_errno) {
  if (requested == WatchMode::kPoll) return {WatchMode::kPoll, "", "watch = \"poll\""};
  if (requested == WatchMode::kAuto) {
    if (const char* fs = network_fs_name(fs_type))
      return {WatchMode::kPoll, "network_fs",
              fmt::format("the folder is on {}, where inotify does not see writes from other machines", fs)};
  }
  if (inotify_errno != 0)
    return {WatchMode::kPoll, "inotify_unavailable",
            fmt::format("inotify cannot watch it ({}; see fs.inotify.max_user_instances and max_user_watches)",
                        std::strerror(inotify_errno))};
  return {WatchMode::kInotify, "", "inotify"};
}

FsProbe FsProbe::system() {
  return {[](const std::string& dir) -> int64_t {
            struct statfs fs{};
            return ::statfs(dir.c_str(), &fs) == 0 ? static_cast<int64_t>(fs.f_type) : -errno;
          },
          [] {
            int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
            return fd >= 0 ? fd : -errno;
          }};
}

FolderWatcher::FolderWatcher(const WatchRule& rule, std::string root, FsProbe probe)
    : rule_(rule), root_(std::move(root)), probe_(std::move(probe)), tracker_(rule.stable_seconds) {}

FolderWatcher::~FolderWatcher() { close_inotify(); }

void FolderWatcher::close_inotify() {
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  inotify_fd_ = -1;
  watch_dirs_.clear();
}

bool FolderWatcher::start(TimePoint now) {
  auto log = logger("ingest");
  const std::string dir = root_ + "/" + rule_.watched_dir();
  const int64_t fs_type = probe_.fs_type(dir);
  if (fs_type < 0) {
    if (!unreadable_) {  // once per outage, not once per try
      watch_errors().counter({rule_.name}).inc();
      log->warn("rule {}: cannot watch {}: {}; trying again every {} s", rule_.name, dir,
                std::strerror(static_cast<int>(-fs_type)), rule_.poll_seconds);
    }
    unreadable_ = true;
    return false;
  }
  int err = 0;
  if (rule_.watch == WatchMode::kInotify || (rule_.watch == WatchMode::kAuto && !network_fs_name(fs_type))) {
    int fd = probe_.inotify_init();
    if (fd >= 0) inotify_fd_ = fd;
    else err = -fd;
  }
  ModeChoice choice = choose_mode(rule_.watch, fs_type, err);
  mode_ = choice.mode;
  if (!choice.fallback.empty()) {
    close_inotify();
    fallbacks().counter({rule_.name, choice.fallback}).inc();
    log->warn("rule {}: polling {} every {} s: {}", rule_.name, dir, rule_.poll_seconds, choice.why);
  } else {
    log->info("rule {}: watching {} ({})", rule_.name, dir,
              mode_ == WatchMode::kInotify ? "inotify" : fmt::format("polling every {} s", rule_.poll_seconds));
  }
  started_ = true;
  scan_due_ = true;
  refresh(now);
  if (mode_ == WatchMode::kInotify && watch_dirs_.empty()) {  // the top directory could not be watched
    stop();
    return false;
  }
  return true;
}

void FolderWatcher::stop() {
  close_inotify();
  tracker_.clear();
  started_ = false;
  waiting_gauge().gauge({rule_.name}).set(0);
}

void FolderWatcher::fall_back(const std::string& reason, const std::string& why) {
  if (mode_ == WatchMode::kPoll) return;
  close_inotify();
  mode_ = WatchMode::kPoll;
  scan_due_ = true;
  fallbacks().counter({rule_.name, reason}).inc();
  logger("ingest")->warn("rule {}: polling every {} s from now on: {}", rule_.name, rule_.poll_seconds, why);
}

bool FolderWatcher::add_watch(const std::string& rel_dir) {
  if (inotify_fd_ < 0) return false;
  std::string path = root_ + "/" + rel_dir;
  int wd = ::inotify_add_watch(inotify_fd_, path.c_str(), kEvents | IN_ONLYDIR | IN_DONT_FOLLOW);
  if (wd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;  // gone meanwhile
    fall_back("inotify_unavailable", fmt::format("inotify_add_watch {}: {} (fs.inotify.max_user_watches?)", path,
                                                 std::strerror(errno)));
    return false;
  }
  watch_dirs_[wd] = rel_dir;
  return true;
}

std::optional<FileState> FolderWatcher::look_at(const std::string& key, TimePoint now) {
  if (!rule_.matches(key)) return std::nullopt;
  struct stat st{};
  if (::stat((root_ + "/" + key).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    tracker_.forget(key);
    return std::nullopt;
  }
  FileState state{st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  if (tracker_.observe(key, state, now)) {
    changes().counter({rule_.name}).inc();
    logger("ingest")->debug("rule {}: {} is {} bytes; waiting for it to be stable", rule_.name, key, state.size);
  }
  return state;
}

void FolderWatcher::scan_dir(const std::string& rel_dir, TimePoint now, std::vector<std::string>* seen) {
  std::string path = root_ + "/" + rel_dir;
  DIR* d = ::opendir(path.c_str());  // owned here, closed below
  const bool top = rel_dir == rule_.watched_dir();
  if (!d) {
    if (top && !unreadable_) {  // once per outage, not once per scan
      watch_errors().counter({rule_.name}).inc();
      logger("ingest")->warn("rule {}: cannot read {}: {}; looking again every scan", rule_.name, path,
                             std::strerror(errno));
    }
    unreadable_ |= top;
    return;
  }
  if (top && unreadable_) {
    unreadable_ = false;
    logger("ingest")->info("rule {}: {} can be read again", rule_.name, path);
  }
  if (mode_ == WatchMode::kInotify) add_watch(rel_dir);
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || hidden(name)) continue;
    std::string key = rel_dir + name;
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {  // some filesystems (XFS without ftype, NFS) do not say
      struct stat st{};
      if (::lstat((root_ + "/" + key).c_str(), &st) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
    }
    if (type == DT_DIR) subdirs.push_back(key + "/");
    else if (type == DT_REG || type == DT_LNK) {
      look_at(key, now);
      seen->push_back(key);
    }
  }
  ::closedir(d);
  for (const auto& sub : subdirs) scan_dir(sub, now, seen);  // symlinked directories are not followed
}

void FolderWatcher::scan(TimePoint now) {
  std::vector<std::string> seen;
  scan_dir(rule_.watched_dir(), now, &seen);
  std::set<std::string> present(seen.begin(), seen.end());
  for (const auto& key : tracker_.keys())
    if (!present.count(key)) tracker_.forget(key);
  scan_due_ = false;
  next_scan_ = now + seconds(rule_.poll_seconds * (mode_ == WatchMode::kInotify ? kScanEveryPolls : 1));
}

void FolderWatcher::read_events(TimePoint now) {
  alignas(inotify_event) char buf[16384];
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) return;  // EAGAIN: nothing more now
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {  // events were lost: look at everything
        scan_due_ = true;
        continue;
      }
      auto dir = watch_dirs_.find(ev->wd);
      if (dir == watch_dirs_.end()) continue;
      if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        if (ev->mask & IN_IGNORED) watch_dirs_.erase(dir);
        scan_due_ = true;  // a directory went away: forget what was in it
        continue;
      }
      std::string name = ev->len ? ev->name : "";
      if (name.empty() || hidden(name)) continue;
      std::string key = dir->second + name;
      if (ev->mask & IN_ISDIR) {
        if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
          std::vector<std::string> seen;
          scan_dir(key + "/", now, &seen);  // a new directory may arrive with files in it (a move)
        } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
          scan_due_ = true;
        }
        continue;
      }
      if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) tracker_.forget(key);
      else look_at(key, now);
      if (inotify_fd_ < 0) return;  // fell back to polling meanwhile
    }
  }
}

void FolderWatcher::refresh(TimePoint now) {
  if (!started_) return;
  if (inotify_fd_ >= 0) read_events(now);
  if (scan_due_ || now >= next_scan_) scan(now);
  waiting_gauge().gauge({rule_.name}).set(static_cast<double>(tracker_.waiting()));
}

std::vector<std::pair<std::string, FileState>> FolderWatcher::take_ready(TimePoint now) {
  std::vector<std::pair<std::string, FileState>> out;
  for (const auto& [key, state] : tracker_.due(now)) {
    // Changed since (a write not yet reported, or a scan not yet run): it waits again.
    auto current = look_at(key, now);
    if (!current || !(*current == state)) continue;
    tracker_.take(key);
    out.emplace_back(key, state);
  }
  waiting_gauge().gauge({rule_.name}).set(static_cast<double>(tracker_.waiting()));
  return out;
}

FolderWatcher::TimePoint FolderWatcher::next_wake(TimePoint now) const {
  TimePoint wake = scan_due_ ? now : next_scan_;
  if (auto due = tracker_.next_due(); due && *due < wake) wake = *due;
  return std::max(wake, now);
}

}  // namespace kiln::coordinator::ingest
