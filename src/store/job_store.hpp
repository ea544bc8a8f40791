#pragma once
// The job queue in PostgreSQL. Every state change and its event (the outbox) are one
// transaction. Claims use FOR UPDATE SKIP LOCKED; every write a node makes afterwards is fenced
// on (id, attempt, state = running), so a node that lost its lease can never overwrite the next
// attempt's result. A view over a Db: not thread-safe, like the Db it uses.

#include <optional>
#include <string>
#include <vector>

#include "kiln/job.hpp"
#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::store {

struct HeartbeatResult {
  bool owned = false;           // false: the lease was lost (the job is not ours any more)
  bool cancel_requested = false;
};

struct RetryPolicy {
  double base_seconds = 15;
  double cap_seconds = 3600;
  double jitter = 0.25;
};

class JobStore {
 public:
  explicit JobStore(Db& db, RetryPolicy policy = {});

  /// Inserts a job, or returns the live job with the same idempotency key (created = false).
  /// Safe under concurrent submits with one key (a unique index + ON CONFLICT): one job. A
  /// live job with the key but another spec, priority, queue or maxAttempts: conflict = true.
  struct Submitted {
    Job job;
    bool created = false;
    bool conflict = false;     // the Idempotency-Key belongs to a live job with another spec
    bool output_busy = false;  // `job` is another live job writing the same output
  };
  Result<Submitted> submit(const NewJob& job);

  /// The next due job in `queues` for `node`, now running under a lease; nullopt if none.
  Result<std::optional<Claim>> claim(const std::string& node, const std::vector<std::string>& queues,
                                     double lease_seconds);

  /// Extends the lease and records progress (phase, percent, fps, frames, ...). A lease that
  /// already expired is lost (owned = false) even before the reaper sees it: the node must then
  /// publish nothing.
  Result<HeartbeatResult> heartbeat(int64_t id, int attempt, const nlohmann::json& progress,
                                    double lease_seconds);
  /// Records what probing learned (the MediaConvert input_information event).
  Result<bool> set_input_info(int64_t id, int attempt, const nlohmann::json& info);
  /// The attempt published its output: completed. False if fenced out, or if a cancel was
  /// requested meanwhile (the node then acknowledges the cancel: a job never completes after
  /// its cancel was accepted).
  Result<bool> complete(int64_t id, int attempt, const nlohmann::json& output);
  /// The attempt failed: retryable with backoff, or discarded when out of attempts or when a
  /// retry cannot help (`retryable` false: invalid input). Returns the new state, or nullopt
  /// if fenced out. `unit` in [0, 1) draws the jitter.
  Result<std::optional<JobState>> fail(int64_t id, int attempt, const nlohmann::json& error,
                                       bool retryable, double unit);
  /// A node stopped a job whose cancel was requested.
  Result<bool> acknowledge_cancel(int64_t id, int attempt);
  /// A draining node hands an unfinished job back: available again at once, with no error, no
  /// event and the attempt not counted (max_attempts grows by one; the attempt number itself
  /// stays the fencing token). False if fenced out or if a cancel was requested meanwhile.
  Result<bool> release(int64_t id, int attempt);
  /// As release(), due again in `delay_seconds`, with a status_update event saying `reason`:
  /// a job no device of this node could take now (its caps were full) waits a little.
  Result<bool> release_for_later(int64_t id, int attempt, double delay_seconds, const std::string& reason);

  /// Cancels a queued job at once; a running one gets cancel_requested (its node stops it).
  /// False if the job is already final or does not exist.
  Result<bool> cancel(int64_t id);
  /// Makes a discarded or cancelled job available again with one more attempt.
  Result<bool> retry(int64_t id);

  Result<std::optional<Job>> get(int64_t id);
  /// Jobs in id order after `after_id` (a cursor) that pass `filter` (its input and metadata
  /// filters are served by indexes: kiln_jobs_input, kiln_jobs_metadata).
  Result<std::vector<Job>> list(const JobFilter& filter, int limit, int64_t after_id);
  /// The newest `limit` jobs, newest first (the console's live list starts from these).
  Result<std::vector<Job>> recent(int limit);
  /// How many jobs are in each state (for the jobs-by-state gauge).
  Result<std::vector<std::pair<std::string, int64_t>>> count_by_state();

  /// Leader chore: running jobs whose lease expired become retryable (or discarded when out
  /// of attempts), or cancelled when their cancel was requested. Returns how many.
  Result<int> reap_expired_leases(double unit);

  RetryPolicy retry_policy;

 private:
  Db& db_;
};

}  // namespace kiln::store
