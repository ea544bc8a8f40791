#include "store/event_store.hpp"

#include "store/db_impl.hpp"

namespace kiln::store {
namespace {

constexpr const char* kEventColumns =
    "e.id, coalesce(e.job_id, 0), e.kind, e.payload::text, "
    "to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

Event event_from_row(const pqxx::row& row) {
  return {row[0].as<int64_t>(), row[1].as<int64_t>(), row[2].c_str(), nlohmann::json::parse(row[3].c_str()),
          row[4].c_str()};
}

}  // namespace

EventStore::EventStore(Db& db) : db_(db) {}

Result<std::vector<Event>> EventStore::events(int64_t job_id, int64_t after_event_id) {
  return db_.impl().run("events", [&](pqxx::work& tx) {
    auto r = tx.exec_params(fmt::format("SELECT {} FROM kiln_events e WHERE e.job_id = $1 AND e.id > $2 "
                                        "ORDER BY e.id", kEventColumns), job_id, after_event_id);
    std::vector<Event> out;
    for (const auto& row : r) out.push_back(event_from_row(row));
    return out;
  });
}

Status EventStore::add_event(int64_t job_id, const std::string& kind, const nlohmann::json& payload) {
  return db_.impl().run("add_event", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO kiln_events (job_id, kind, payload) VALUES (nullif($1, 0), $2, $3::jsonb)",
                   job_id, kind, payload.dump());
    return 0;
  }).status();
}

Result<std::vector<Event>> EventStore::undelivered(const std::string& receiver,
                                                 const std::vector<std::string>& kinds, int limit) {
  return db_.impl().run("undelivered", [&](pqxx::work& tx) {
    // Delivery rows appear for matching events on first sight, so a receiver added later does
    // not get the whole history: only events from its first poll on... unless none exist yet.
    tx.exec_params("INSERT INTO kiln_deliveries (event_id, receiver) SELECT e.id, $1 FROM kiln_events e "
                   "WHERE e.kind = ANY($2::text[]) ON CONFLICT DO NOTHING",
                   receiver, text_array(kinds));
    auto r = tx.exec_params(
        fmt::format("SELECT {} FROM kiln_deliveries d JOIN kiln_events e ON e.id = d.event_id WHERE d.receiver = $1 "
                    "AND d.delivered_at IS NULL AND d.next_attempt_at <= now() ORDER BY e.id LIMIT $2", kEventColumns),
        receiver, limit);
    std::vector<Event> out;
    for (const auto& row : r) out.push_back(event_from_row(row));
    return out;
  });
}

Status EventStore::mark_delivered(int64_t event_id, const std::string& receiver) {
  return db_.impl().run("mark_delivered", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_deliveries SET delivered_at = now(), attempts = attempts + 1 "
                   "WHERE event_id = $1 AND receiver = $2", event_id, receiver);
    return 0;
  }).status();
}

Status EventStore::mark_delivery_failed(int64_t event_id, const std::string& receiver, const std::string& error,
                                      double retry_in_seconds) {
  return db_.impl().run("mark_delivery_failed", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_deliveries SET attempts = attempts + 1, last_error = $3, "
                   "next_attempt_at = now() + make_interval(secs => $4) WHERE event_id = $1 AND receiver = $2",
                   event_id, receiver, error, retry_in_seconds);
    return 0;
  }).status();
}

Result<nlohmann::json> EventStore::firing_conditions() {
  return db_.impl().run("firing_conditions", [&](pqxx::work& tx) {
    nlohmann::json out = nlohmann::json::array();
    auto jobs = tx.exec("SELECT id, state::text, coalesce(errors -> -1 -> 'error' ->> 'message', "
                        "errors -> -1 ->> 'error', '') FROM kiln_jobs WHERE state = 'retryable' OR "
                        "(state = 'discarded' AND finalized_at > now() - interval '24 hours') ORDER BY id");
    for (const auto& r : jobs) {
      bool discarded = std::string(r[1].c_str()) == "discarded";
      out.push_back({{"labels", {{"alertname", discarded ? "KilnJobDiscarded" : "KilnJobFailed"},
                                 {"job_id", r[0].c_str()}, {"severity", discarded ? "critical" : "warning"}}},
                     {"summary", fmt::format("Kiln job {} {}", r[0].c_str(),
                                             discarded ? "was discarded (out of attempts)" : "failed and will retry")},
                     {"description", r[2].c_str()}});
    }
    auto nodes = tx.exec("SELECT name FROM kiln_nodes WHERE state = 'lost' ORDER BY name");
    for (const auto& r : nodes)
      out.push_back({{"labels", {{"alertname", "KilnNodeLost"}, {"node", r[0].c_str()}, {"severity", "critical"}}},
                     {"summary", fmt::format("Kiln node {} stopped heartbeating", r[0].c_str())},
                     {"description", "its running jobs were handed back to the queue"}});
    return out;
  });
}

}  // namespace kiln::store
