#pragma once
// Job and node events (the outbox) and their delivery to receivers. A view over a Db: not
// thread-safe, like the Db it uses.

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
};

class EventStore {
 public:
  explicit EventStore(Db& db);

  /// A job's events after `after_event_id`, oldest first.
  Result<std::vector<Event>> events(int64_t job_id, int64_t after_event_id);
  /// Records an event for a job (fallback, device_quarantined, status_update); job_id 0 for
  /// node-level events.
  Status add_event(int64_t job_id, const std::string& kind, const nlohmann::json& payload);

  /// Outbox: events not yet delivered to `receiver` (delivery rows are created on demand).
  Result<std::vector<Event>> undelivered(const std::string& receiver, const std::vector<std::string>& kinds,
                                         int limit);
  Status mark_delivered(int64_t event_id, const std::string& receiver);
  Status mark_delivery_failed(int64_t event_id, const std::string& receiver, const std::string& error,
                              double retry_in_seconds);

  /// Conditions that should page someone now: discarded jobs (last 24 h), jobs waiting to
  /// retry after a failure, lost nodes. Each: {alertname, labels..., summary}.
  Result<nlohmann::json> firing_conditions();

 private:
  Db& db_;
};

}  // namespace kiln::store
