#pragma once
// The ingest ledger: what each [[watch]] rule has seen, once per version of an upload, and the
// job (or the refusal) each version led to; the per-rule listing cursor; and the per-rule
// leader lock of the ingest loops. A view over a Db: not thread-safe, like the Db it uses.
//
// Exactly one job per upload: the ledger row's primary key is (rule, location, key, version)
// and record_job() writes that row and the job in one transaction, so two triggers that see
// one upload (an event delivered twice, an event and a poll, two coordinators) make one job:
// the second INSERT waits for the first to commit and then inserts nothing.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/job.hpp"
#include "kiln/status.hpp"
#include "store/db.hpp"
#include "store/job_store.hpp"

namespace kiln::store {

/// One version of one upload, as a trigger saw it.
struct Sighting {
  std::string rule;
  std::string location;  // a [[location]] name
  std::string key;       // relative to the location
  std::string version;   // S3: the ETag; files: size and mtime
  int64_t size = 0;
  std::string trigger;   // event, poll, watch
};

/// A ledger row.
struct LedgerEntry {
  Sighting sighting;
  std::string outcome;  // job, refused
  int64_t job_id = 0;   // 0: none
  std::string reason;   // refused: "code: message"
  std::string seen_at;  // ISO 8601
};

class IngestStore {
 public:
  explicit IngestStore(Db& db);

  /// True when the rule has already seen this version (a cheap check before building a job).
  Result<bool> seen(const Sighting& s);
  /// Which of `keys_versions` (key, version pairs of one rule and location) the ledger lacks,
  /// as indexes into the list: one query for a page of a listing.
  Result<std::vector<size_t>> unseen(const std::string& rule, const std::string& location,
                                     const std::vector<std::pair<std::string, std::string>>& keys_versions);

  struct Recorded {
    bool fresh = false;                 // false: the ledger had it; nothing was written
    std::optional<Job> job;             // the job made for it
    std::string refusal;                // or why none was made ("code: message")
  };
  /// Refuses a submission the store itself turned down (the output is another live job's):
  /// "code: message", or nullopt to accept it.
  using RefusalOf = std::function<std::optional<std::string>(const JobStore::Submitted&)>;
  /// In one transaction: the ledger row and `job` (JobStore::submit's work). A submission that
  /// `refusal_of` refuses leaves the row as refused, with an `ingest_refused` event.
  Result<Recorded> record_job(const Sighting& s, const NewJob& job, const RefusalOf& refusal_of);
  /// The ledger row of an upload no job could be made for (its spec was refused before the
  /// store), with an `ingest_refused` event (payload: the sighting and `reason`).
  Result<Recorded> record_refusal(const Sighting& s, const std::string& reason);

  /// The ledger row that made job `job_id`, if any.
  Result<std::optional<LedgerEntry>> by_job(int64_t job_id);
  /// A rule's rows, newest first (every key when `key` is empty), at most `limit`.
  Result<std::vector<LedgerEntry>> entries(const std::string& rule, const std::string& key = "", int limit = 1000);

  /// Where the rule's listing resumes ("" = from the start); makes the rule's row if new.
  Result<std::string> scan_after(const std::string& rule);
  /// Saves the listing position; `pass_done` ends a pass (the position goes back to "").
  Status save_scan(const std::string& rule, const std::string& after, bool pass_done);

  /// The rule's ingest loops run in one coordinator at a time: true while this connection
  /// holds the rule's session-level advisory lock (taken now if free). Asking again is cheap
  /// and does not stack the lock; it is released when the connection ends.
  Result<bool> hold_rule(const std::string& rule);

 private:
  Db& db_;
};

}  // namespace kiln::store
