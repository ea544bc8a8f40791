#pragma once
// When a file in a watch folder is complete: its size and mtime have not changed for
// `stable_seconds`. Pure bookkeeping on observations the caller makes (a scan, an inotify
// event), with the time passed in, so a test drives it with a fake clock. Not thread-safe: one
// watcher owns one.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln::coordinator::ingest {

struct FileState {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileState&) const = default;
};

class StabilityTracker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit StabilityTracker(double stable_seconds) : stable_(std::chrono::duration<double>(stable_seconds)) {}

  /// The file as seen at `now`. New, or changed since the last observation: its stability
  /// clock starts again (and a taken file is a new version, to be taken again). True when it
  /// was new or changed.
  bool observe(const std::string& key, const FileState& state, TimePoint now);
  /// The file is gone.
  void forget(const std::string& key);
  /// Keys unchanged for stable_seconds at `now` and not taken yet, with their state. The
  /// caller looks at each file again and then calls observe() (changed: not ready) or take().
  std::vector<std::pair<std::string, FileState>> due(TimePoint now) const;
  /// Marks a due key taken in its current state (it is not due again until it changes).
  void take(const std::string& key);
  /// Takes it back (the offer failed): due again at once.
  void untake(const std::string& key);
  /// The earliest time a waiting file can become due; nullopt when none waits.
  std::optional<TimePoint> next_due() const;
  /// Files seen and not taken yet.
  size_t waiting() const;
  /// Every key it knows (a scan forgets those it no longer finds).
  std::vector<std::string> keys() const;
  /// Forgets everything (a watcher that lost its rule's leadership).
  void clear() { files_.clear(); }

 private:
  struct Entry {
    FileState state;
    TimePoint since;
    bool taken = false;
  };
  std::chrono::duration<double> stable_;
  std::map<std::string, Entry> files_;
};

}  // namespace kiln::coordinator::ingest
