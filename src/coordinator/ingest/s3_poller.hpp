#pragma once
// Polling for stores without event notifications (or as a safety net beside them): each s3
// rule with poll_seconds > 0 lists its prefix with ListObjectsV2 and offers every object the
// ledger lacks. A rule is polled by one coordinator at a time (the rule's advisory lock, see
// store::IngestStore::hold_rule). A pass goes page by page and saves its position after each
// page, so a restart resumes a long listing where it stopped; the ledger, not the listing,
// decides what is new, so a restart never makes a second job.
//
// A failed listing (the store down, wrong credentials) is a warn line and
// kiln_ingest_poll_failures_total{rule}; the rule is tried again at its next period and says
// so at info when a listing works again. Not thread-safe: one loop owns it.

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "coordinator/ingest/ingestor.hpp"
#include "storage/s3_clients.hpp"
#include "coordinator/ingest/watch_rule.hpp"
#include "storage/location.hpp"

namespace kiln::store {
class Db;
}

namespace kiln::coordinator::ingest {

class S3Poller {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr int kPagesPerRound = 10;  // then the other rules get their turn

  S3Poller(const std::vector<WatchRule>& rules, const storage::Locations& locations, storage::S3Clients& clients,
           const Ingestor& ingestor, int page_size = 1000);

  /// Polls every rule that is due at `now` and led here. kIo when the database failed (the
  /// caller connects again); a store's failure is the rule's own and not returned.
  Status round(store::Db& db, TimePoint now);
  /// When the next rule is due.
  TimePoint next_due() const;
  bool empty() const { return rules_.empty(); }

  /// The loop: a connection of its own, rounds until `stop`.
  void run(const std::string& database_url, const std::atomic<bool>& stop);

 private:
  struct State {
    TimePoint due{};
    bool failing = false;
  };
  /// Up to kPagesPerRound pages of one rule; true when its pass is not finished.
  Result<bool> poll(store::Db& db, const WatchRule& rule);

  std::vector<const WatchRule*> rules_;
  const storage::Locations& locations_;
  storage::S3Clients& clients_;
  const Ingestor& ingestor_;
  int page_size_;
  std::map<std::string, State> state_;
};

}  // namespace kiln::coordinator::ingest
