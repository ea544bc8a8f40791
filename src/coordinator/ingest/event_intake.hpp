#pragma once
// POST /v1/ingest/s3-events: a store's event notification body, checked (size is the API's
// limit; depth, shape and record count here), each ObjectCreated record matched against the
// [[watch]] rules of its bucket and offered to each matching rule. The answer is quick (a
// ledger lookup and at most one transaction per record): senders retry what is not answered
// 2xx, and a retried body makes no second job. Thread-safe: the API's threads share one.

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "coordinator/ingest/ingestor.hpp"
#include "coordinator/ingest/s3_event.hpp"
#include "coordinator/ingest/watch_rule.hpp"
#include "kiln/status.hpp"
#include "storage/location.hpp"

namespace kiln::store {
class Db;
}

namespace kiln::coordinator::ingest {

class EventIntake {
 public:
  static constexpr size_t kMaxRecords = 100;  // per body; stores send one per request

  EventIntake(const std::vector<WatchRule>& rules, const storage::Locations& locations, const Ingestor& ingestor)
      : rules_(rules), locations_(locations), ingestor_(ingestor) {}

  struct Answer {
    int http = 200;
    std::string code;      // an error's code (http >= 400)
    std::string message;   // and its message
    nlohmann::json body;   // 200: what became of each record, counted
  };
  /// One request body. kIo when the database failed (answer 503: the sender retries, and what
  /// was committed before the failure is a duplicate the second time).
  Result<Answer> handle(std::string_view text, store::Db& db) const;

 private:
  struct Tally {
    std::vector<int64_t> jobs;
    int duplicates = 0, refused = 0, unwatched = 0, ignored = 0;
  };
  /// One record: offered to every rule that watches its bucket and key.
  Status take(const ObjectEvent& e, store::Db& db, Tally& tally) const;

  const std::vector<WatchRule>& rules_;
  const storage::Locations& locations_;
  const Ingestor& ingestor_;
};

}  // namespace kiln::coordinator::ingest
