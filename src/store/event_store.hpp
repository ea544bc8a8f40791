#pragma once
// Job and node events (the outbox) and their delivery to receivers. A view over a Db: not
// thread-safe, like the Db it uses.
//
// Delivery model: events are numbered in commit order (`seq`, see sequence_events) and each
// receiver has one cursor row. deliver_next() locks that row with FOR UPDATE SKIP LOCKED for
// the length of one send, so among any number of coordinators exactly one sends a given
// (event, receiver), one event at a time, in seq order. The lock is a row lock in an open
// transaction: a coordinator that dies mid-send releases it with its connection, and the next
// one re-sends that event (webhook bodies carry the event id to deduplicate on).

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::store {

struct Event {
  int64_t id = 0;
  int64_t job_id = 0;
  std::string kind;             // submitted, progressing, complete, error, cancelled, ...
  nlohmann::json payload;
  std::string created_at;
  int64_t seq = 0;              // commit order; 0 until sequenced
};

/// What one try to send an event to a receiver came to.
struct SendOutcome {
  bool ok = false;
  std::string error;
  double retry_after_seconds = 0;  // the receiver's Retry-After, when it sent one
};

/// When to give up on an event for a receiver.
struct DeliveryPolicy {
  int max_attempts = 8;              // failed tries before the delivery is dead-lettered
  double retry_base_seconds = 5;     // wait after the first failure; doubles per try
  double retry_cap_seconds = 3600;
};

/// What deliver_next() did.
struct DeliveryStep {
  enum class What {
    kIdle,          // nothing after the cursor
    kBusy,          // another coordinator holds this receiver now (or it is not registered)
    kBackingOff,    // the next event failed recently; not due yet
    kDelivered,
    kFailed,        // will be retried after retry_in_seconds
    kDeadLettered,  // failed max_attempts times: recorded in kiln_dead_letters, cursor moved on
  };
  What what = What::kIdle;
  Event event;
  int attempts = 0;
  double retry_in_seconds = 0;
  std::string error;
};

struct DeadLetter {
  int64_t event_id = 0;
  std::string receiver;
  std::string kind;
  int64_t job_id = 0;
  int attempts = 0;
  std::string last_error;
};

/// A condition that should page someone now. Rows only: src/alert/ words them.
struct Condition {
  enum class What { kJobFailed, kJobDiscarded, kNodeLost, kDeliveryFailed };
  What what = What::kJobFailed;
  int64_t job_id = 0;       // job conditions
  std::string node;         // node lost
  std::string receiver;     // delivery failed
  int64_t count = 0;        // delivery failed: dead letters in the window
  std::string detail;       // the last error message, when there is one
};

class EventStore {
 public:
  explicit EventStore(Db& db);

  /// A job's events after `after_event_id`, oldest first.
  Result<std::vector<Event>> events(int64_t job_id, int64_t after_event_id);
  /// Records an event for a job (fallback, device_quarantined, status_update); job_id 0 for
  /// node-level events.
  Status add_event(int64_t job_id, const std::string& kind, const nlohmann::json& payload);

  /// Numbers up to `limit` committed, unnumbered events in id order (one sequencer at a time,
  /// under a transaction-level advisory lock). Returns how many it numbered.
  Result<int> sequence_events(int limit);

  /// Registers a receiver if it is new: its cursor starts after the newest event, so a receiver
  /// added later gets events from now on, not the history. A known receiver is left as it is.
  Status ensure_receiver(const std::string& receiver);

  /// Claims `receiver` (SKIP LOCKED), and if its next event of `kinds` is due, calls `send`
  /// with it while holding the claim, then moves the cursor (ok, or dead-lettered after
  /// policy.max_attempts) or schedules the retry (Retry-After wins over the backoff).
  /// `send` must not throw.
  Result<DeliveryStep> deliver_next(const std::string& receiver, const std::vector<std::string>& kinds,
                                    const DeliveryPolicy& policy,
                                    const std::function<SendOutcome(const Event&)>& send);

  /// Dead letters, newest first (all receivers when `receiver` is empty).
  Result<std::vector<DeadLetter>> dead_letters(const std::string& receiver = "");

  /// Conditions firing now: discarded jobs (last 24 h), jobs waiting to retry after a failure,
  /// lost nodes, receivers with dead letters (last 24 h).
  Result<std::vector<Condition>> firing_conditions();

 private:
  Db& db_;
};

}  // namespace kiln::store
