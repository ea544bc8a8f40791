#pragma once
// The loop behind every watch folder: one thread for all file:// rules, waiting on their
// inotify descriptors (poll(2)) or their next scan or stability deadline, and offering each
// file that became stable. A rule is watched by one coordinator at a time (its advisory lock);
// a coordinator that loses the lock stops watching and forgets, and the one that takes it over
// starts with a full scan (the ledger makes the files it already took duplicates).

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/ingest/folder_watcher.hpp"
#include "coordinator/ingest/ingestor.hpp"
#include "coordinator/ingest/watch_rule.hpp"
#include "storage/location.hpp"

namespace kiln::store {
class Db;
}

namespace kiln::coordinator::ingest {

class FolderLoop {
 public:
  using TimePoint = FolderWatcher::TimePoint;

  FolderLoop(const std::vector<WatchRule>& rules, const storage::Locations& locations, const Ingestor& ingestor);
  bool empty() const { return watchers_.empty(); }

  /// One turn at `now`: leadership, refreshes, offers. kIo when the database failed.
  Status turn(store::Db& db, TimePoint now);
  /// Waits until an inotify descriptor is readable or `until`.
  void wait(TimePoint until) const;

  void run(const std::string& database_url, const std::atomic<bool>& stop);

 private:
  struct Watched {
    const WatchRule* rule;
    std::unique_ptr<FolderWatcher> watcher;
    TimePoint lead_checked{};
    TimePoint retry_start{};
    bool leading = false;
  };
  std::vector<Watched> watchers_;
  const Ingestor& ingestor_;
};

}  // namespace kiln::coordinator::ingest
