#pragma once
// Retention of history: old events (and their dead letters) and finished jobs are deleted in
// bounded batches by the coordinators' leader. A view over a Db: not thread-safe.

#include <cstdint>

#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::store {

class Retention {
 public:
  explicit Retention(Db& db);

  /// Deletes at most `batch` events older than `older_than_seconds`, and dead letters as old.
  /// Returns the number of events deleted.
  Result<int64_t> prune_events(double older_than_seconds, int batch);
  /// Deletes at most `batch` jobs that finished (completed, cancelled, discarded) more than
  /// `older_than_seconds` ago, with their events. Returns the number of jobs deleted.
  Result<int64_t> prune_jobs(double older_than_seconds, int batch);

 private:
  Db& db_;
};

}  // namespace kiln::store
