#pragma once
// Acts on how each ingested upload ended, once: an internal receiver named "@ingest" on the
// event outbox (the same cursor and row lock as the webhook receivers, see
// store::EventStore::deliver_next), reading `complete`, `discarded` and `ingest_refused`
// events in commit order. A complete job's upload gets the rule's on_complete action; a
// discarded one, or one no job could be made for, gets its error report. With any number of
// coordinators each event is handled by one of them; the cursor moves in the transaction that
// held the lock, so a coordinator that dies after acting and before committing leaves the event
// to the next one, and the actions are idempotent (SourceActions). A failing action is retried
// with the receivers' backoff and dead-lettered (kiln_dead_letters, receiver "@ingest") after
// delivery_max_attempts, each failure a warn line and kiln_ingest_actions_total{outcome="error"}.

#include <atomic>
#include <string>
#include <vector>

#include "coordinator/ingest/source_actions.hpp"
#include "coordinator/ingest/watch_rule.hpp"
#include "kiln/status.hpp"
#include "store/event_store.hpp"

namespace kiln::store {
class Db;
}

namespace kiln::coordinator::ingest {

inline constexpr const char* kOutcomeReceiver = "@ingest";

class OutcomeLoop {
 public:
  OutcomeLoop(const std::vector<WatchRule>& rules, const SourceActions& actions, store::DeliveryPolicy policy)
      : rules_(rules), actions_(actions), policy_(policy) {}

  /// Handles up to `max` events: `events_db` holds the receiver's lock, `ledger_db` (another
  /// connection) looks up each job's upload. Returns how many were handled (delivered or
  /// dead-lettered); stops early at a failure (order), an idle cursor or another holder.
  Result<int> step(store::Db& events_db, store::Db& ledger_db, int max);

  void run(const std::string& database_url, double interval_seconds, const std::atomic<bool>& stop);

 private:
  store::SendOutcome handle(const store::Event& e, store::Db& ledger_db);
  const WatchRule* rule(const std::string& name) const;

  const std::vector<WatchRule>& rules_;
  const SourceActions& actions_;
  store::DeliveryPolicy policy_;
  bool registered_ = false;  // the receiver row exists
};

}  // namespace kiln::coordinator::ingest
