#pragma once
// The one door every trigger (S3 events, bucket polls, watch folders) goes through: one version
// of one upload, offered to one rule, becomes at most one job. The job is made from the rule's
// template exactly as POST /v1/jobs makes one (coordinator/job_submission.hpp: same spec shape,
// same location resolution), and its ledger row and the job are one transaction
// (store::IngestStore::record_job), so no repeat of the offer can make a second one.

#include <cstdint>
#include <string>

#include "coordinator/ingest/watch_rule.hpp"
#include "kiln/status.hpp"
#include "storage/location.hpp"
#include "storage/s3_clients.hpp"

namespace kiln::store {
class Db;
}

namespace kiln::coordinator::ingest {

/// One version of one upload, as a trigger saw it.
struct Upload {
  std::string key;      // relative to the rule's location
  std::string version;  // S3: the ETag; files: size and mtime (see file_version)
  int64_t size = 0;
  std::string trigger;  // event, poll, watch
};

/// What came of an offer.
struct Offered {
  enum class Outcome { kJob, kDuplicate, kRefused };
  Outcome outcome = Outcome::kDuplicate;
  int64_t job_id = 0;   // kJob
  std::string reason;   // kRefused: "code: message"
};

/// The version of a file: its size and modification time (ns). A file replaced in place, or
/// by a rename, with other bytes or another mtime is a new version.
std::string file_version(int64_t size, int64_t mtime_ns);

/// Stateless apart from what it is given; thread-safe (each call uses the caller's Db).
class Ingestor {
 public:
  Ingestor(const storage::Locations& locations, storage::S3Clients& s3) : locations_(locations), s3_(s3) {}

  /// Offers `upload` to `rule` (which must match its key). kIo only when the database failed or
  /// the output's bucket could not be checked (nothing recorded): the caller tries again later (an event's sender retries; a poll comes round again).
  Result<Offered> offer(store::Db& db, const WatchRule& rule, const Upload& upload) const;
  /// Counts `n` uploads a trigger found in the ledger before offering them (a poll's page is
  /// looked up in one query): duplicates, as offer() would have counted them.
  static void count_known(const WatchRule& rule, const std::string& trigger, size_t n);

 private:
  const storage::Locations& locations_;
  storage::S3Clients& s3_;  // a bucket output is checked to be free, as the API checks it
};

}  // namespace kiln::coordinator::ingest
