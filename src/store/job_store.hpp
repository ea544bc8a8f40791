#pragma once
// The job queue in PostgreSQL (libpqxx). Every state change and its event (the outbox) are one
// transaction. Claims use FOR UPDATE SKIP LOCKED; every write a node makes afterwards is fenced
// on (id, attempt, state = running), so a node that lost its lease can never overwrite the next
// attempt's result. libpqxx exceptions stop here: callers get a Status (kIo: the database).
// Not thread-safe: one JobStore (one connection) per thread.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/job.hpp"
#include "kiln/status.hpp"

namespace kiln::store {

struct Event {
  int64_t id = 0;
  int64_t job_id = 0;
  std::string kind;             // submitted, progressing, complete, error, cancelled, ...
  nlohmann::json payload;
  std::string created_at;
};

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
  /// Connects (kIo with the server's message if it cannot).
  static Result<std::unique_ptr<JobStore>> connect(const std::string& url);
  /// Connects and applies the migrations: what the coordinator and `kiln migrate` do first.
  static Result<std::unique_ptr<JobStore>> open_migrated(const std::string& url, int* version = nullptr);
  ~JobStore();

  /// Applies the embedded migrations not applied yet, under an advisory lock (safe to run from
  /// several coordinators at once). Returns the schema version.
  Result<int> migrate();

  /// Inserts a job, or returns the live job with the same idempotency key (created = false).
  struct Submitted {
    Job job;
    bool created = false;
  };
  Result<Submitted> submit(const NewJob& job);

  /// The next due job in `queues` for `node`, now running under a lease; nullopt if none.
  Result<std::optional<Claim>> claim(const std::string& node, const std::vector<std::string>& queues,
                                     double lease_seconds);

  /// Extends the lease and records progress (phase, percent, fps, frames, ...).
  Result<HeartbeatResult> heartbeat(int64_t id, int attempt, const nlohmann::json& progress,
                                    double lease_seconds);
  /// Records what probing learned (the MediaConvert input_information event).
  Result<bool> set_input_info(int64_t id, int attempt, const nlohmann::json& info);
  /// The attempt published its output: completed. False if fenced out.
  Result<bool> complete(int64_t id, int attempt, const nlohmann::json& output);
  /// The attempt failed: retryable with backoff, or discarded when out of attempts or when a
  /// retry cannot help (`retryable` false: invalid input). Returns the new state, or nullopt
  /// if fenced out. `unit` in [0, 1) draws the jitter.
  Result<std::optional<JobState>> fail(int64_t id, int attempt, const nlohmann::json& error,
                                       bool retryable, double unit);
  /// A node stopped a job whose cancel was requested.
  Result<bool> acknowledge_cancel(int64_t id, int attempt);

  /// Cancels a queued job at once; a running one gets cancel_requested (its node stops it).
  /// False if the job is already final or does not exist.
  Result<bool> cancel(int64_t id);
  /// Makes a discarded or cancelled job available again with one more attempt.
  Result<bool> retry(int64_t id);

  Result<std::optional<Job>> get(int64_t id);
  /// Jobs in id order after `after_id` (a cursor), optionally of one state.
  Result<std::vector<Job>> list(std::optional<JobState> state, int limit, int64_t after_id);
  Result<std::vector<Event>> events(int64_t job_id, int64_t after_event_id);

  /// Records an event for a job (fallback, device_quarantined, status_update); job_id 0 for
  /// node-level events.
  Status add_event(int64_t job_id, const std::string& kind, const nlohmann::json& payload);
  /// How many jobs are in each state (for the jobs-by-state gauge).
  Result<std::vector<std::pair<std::string, int64_t>>> count_by_state();

  /// Leader chore: running jobs whose lease expired become retryable (or discarded when out
  /// of attempts). Returns how many.
  Result<int> reap_expired_leases(double unit);

  /// Nodes: register (or re-register) with devices and capacity; heartbeat; mark lost.
  Status register_node(const std::string& name, const nlohmann::json& devices, int capacity);
  Status node_heartbeat(const std::string& name, const std::string& state);
  /// Nodes whose heartbeat is older than `timeout_seconds` become lost (node_lost event).
  Result<std::vector<std::string>> mark_lost_nodes(double timeout_seconds);
  Result<nlohmann::json> nodes();

  /// Outbox: events not yet delivered to `receiver` (delivery rows are created on demand).
  Result<std::vector<Event>> undelivered(const std::string& receiver, const std::vector<std::string>& kinds,
                                         int limit);
  Status mark_delivered(int64_t event_id, const std::string& receiver);
  Status mark_delivery_failed(int64_t event_id, const std::string& receiver, const std::string& error,
                              double retry_in_seconds);

  /// Conditions that should page someone now: discarded jobs (last 24 h), jobs waiting to
  /// retry after a failure, lost nodes. Each: {alertname, labels..., summary}.
  Result<nlohmann::json> firing_conditions();

  /// LISTEN on a channel ("kiln_jobs": new work; "kiln_cancel": cancels); wait for a NOTIFY.
  Status listen(const std::string& channel);
  /// True if a notification arrived within `seconds`.
  Result<bool> wait_notification(double seconds);

  /// API tokens: create returns the token (shown once; only its hash is stored); scope_of
  /// returns "submit", "read" or "admin" for a valid token, "" for none.
  Result<std::string> create_token(const std::string& scope, const std::string& note);
  Result<std::string> scope_of(const std::string& token);

  /// Leader election for periodic chores: true if this session holds (or now took) the lock.
  Result<bool> try_leader_lock(int64_t key);

  /// Runs `sql` with no result (tests, admin).
  Status execute(const std::string& sql);

  RetryPolicy retry_policy;

 private:
  struct Impl;
  explicit JobStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::store
