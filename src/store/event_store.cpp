#include "store/event_store.hpp"

#include <algorithm>
#include <cmath>

#include "store/db_impl.hpp"

namespace kiln::store {
namespace {

constexpr int64_t kSequencerLock = 0x6b696c6e02;  // pg_advisory_xact_lock key: the event sequencer

constexpr const char* kEventColumns =
    "e.id, coalesce(e.job_id, 0), e.kind, e.payload::text, "
    "to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), coalesce(e.seq, 0)";

Event event_from_row(const pqxx::row& row) {
  return {row[0].as<int64_t>(), row[1].as<int64_t>(), row[2].c_str(), nlohmann::json::parse(row[3].c_str()),
          row[4].c_str(), row[5].as<int64_t>()};
}

int sequence_in(pqxx::work& tx, int limit) {
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kSequencerLock);
  // nextval runs once per row over the id-ordered batch (materialized CTEs run once), so seq
  // follows id within a batch: one job's events are written under its row lock, so for one job
  // id order is commit order.
  auto r = tx.exec_params(
      "WITH o AS MATERIALIZED (SELECT id FROM kiln_events WHERE seq IS NULL ORDER BY id LIMIT $1), "
      "n AS MATERIALIZED (SELECT id, nextval('kiln_event_seq') AS seq FROM o) "
      "UPDATE kiln_events e SET seq = n.seq FROM n WHERE e.id = n.id",
      limit);
  return static_cast<int>(r.affected_rows());
}

double backoff(const DeliveryPolicy& p, int attempts) {
  return std::min(p.retry_cap_seconds, p.retry_base_seconds * std::pow(2.0, std::max(0, attempts - 1)));
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

Result<int> EventStore::sequence_events(int limit) {
  return db_.impl().run("sequence_events", [&](pqxx::work& tx) { return sequence_in(tx, limit); });
}

Status EventStore::ensure_receiver(const std::string& receiver) {
  return db_.impl().run("ensure_receiver", [&](pqxx::work& tx) {
    if (!tx.exec_params("SELECT 1 FROM kiln_receivers WHERE name = $1", receiver).empty()) return 0;
    // Number what is committed so far, so "from now" means every event committed before this.
    while (sequence_in(tx, 10000) > 0) {
    }
    tx.exec_params("INSERT INTO kiln_receivers (name, cursor) VALUES ($1, "
                   "(SELECT coalesce(max(seq), 0) FROM kiln_events)) ON CONFLICT DO NOTHING",
                   receiver);
    return 0;
  }).status();
}

Result<DeliveryStep> EventStore::deliver_next(const std::string& receiver, const std::vector<std::string>& kinds,
                                              const DeliveryPolicy& policy,
                                              const std::function<SendOutcome(const Event&)>& send) {
  return db_.impl().run("deliver_next", [&](pqxx::work& tx) {
    DeliveryStep step;
    auto claim = tx.exec_params("SELECT cursor, attempts, next_attempt_at <= now() FROM kiln_receivers "
                                "WHERE name = $1 FOR UPDATE SKIP LOCKED", receiver);
    if (claim.empty()) {
      step.what = DeliveryStep::What::kBusy;
      return step;
    }
    int64_t cursor = claim[0][0].as<int64_t>();
    step.attempts = claim[0][1].as<int>();
    if (!claim[0][2].as<bool>()) {
      step.what = DeliveryStep::What::kBackingOff;
      return step;
    }
    // The horizon is read before the next event is looked for: under READ COMMITTED each
    // statement has its own snapshot, and a max(seq) read after the search could include an
    // event of these kinds numbered in between, which the cursor would then skip unsent.
    const int64_t horizon = tx.exec("SELECT coalesce(max(seq), 0) FROM kiln_events")[0][0].as<int64_t>();
    auto next = tx.exec_params(fmt::format("SELECT {} FROM kiln_events e WHERE e.seq > $1 AND "
                                           "e.kind = ANY($2::text[]) ORDER BY e.seq LIMIT 1", kEventColumns),
                               cursor, text_array(kinds));
    if (next.empty()) {
      // Skip the cursor past events of other kinds, so a receiver of rare kinds does not rescan
      // them every round. Safe: sequencers commit in seq order, so every seq up to the horizon
      // was visible to the search above.
      tx.exec_params("UPDATE kiln_receivers SET cursor = $2 WHERE name = $1 AND $2 > cursor", receiver, horizon);
      step.what = DeliveryStep::What::kIdle;
      return step;
    }
    step.event = event_from_row(next[0]);
    SendOutcome sent = send(step.event);
    if (sent.ok) {
      tx.exec_params("UPDATE kiln_receivers SET cursor = $2, attempts = 0, last_error = NULL, "
                     "next_attempt_at = now() WHERE name = $1", receiver, step.event.seq);
      step.what = DeliveryStep::What::kDelivered;
      step.attempts += 1;
      return step;
    }
    step.attempts += 1;
    step.error = sent.error;
    if (step.attempts >= policy.max_attempts) {
      tx.exec_params("INSERT INTO kiln_dead_letters (event_id, receiver, kind, job_id, attempts, last_error) "
                     "VALUES ($1, $2, $3, nullif($4, 0), $5, $6) ON CONFLICT DO NOTHING",
                     step.event.id, receiver, step.event.kind, step.event.job_id, step.attempts, sent.error);
      tx.exec_params("UPDATE kiln_receivers SET cursor = $2, attempts = 0, last_error = $3, "
                     "next_attempt_at = now() WHERE name = $1", receiver, step.event.seq, sent.error);
      step.what = DeliveryStep::What::kDeadLettered;
      return step;
    }
    step.retry_in_seconds = sent.retry_after_seconds > 0 ? std::min(sent.retry_after_seconds, policy.retry_cap_seconds)
                                                         : backoff(policy, step.attempts);
    tx.exec_params("UPDATE kiln_receivers SET attempts = $2, last_error = $3, "
                   "next_attempt_at = now() + make_interval(secs => $4) WHERE name = $1",
                   receiver, step.attempts, sent.error, step.retry_in_seconds);
    step.what = DeliveryStep::What::kFailed;
    return step;
  });
}

Result<std::vector<DeadLetter>> EventStore::dead_letters(const std::string& receiver) {
  return db_.impl().run("dead_letters", [&](pqxx::work& tx) {
    auto r = tx.exec_params("SELECT event_id, receiver, kind, coalesce(job_id, 0), attempts, last_error "
                            "FROM kiln_dead_letters WHERE $1 = '' OR receiver = $1 ORDER BY dead_at DESC, event_id DESC",
                            receiver);
    std::vector<DeadLetter> out;
    for (const auto& row : r)
      out.push_back({row[0].as<int64_t>(), row[1].c_str(), row[2].c_str(), row[3].as<int64_t>(), row[4].as<int>(),
                     row[5].c_str()});
    return out;
  });
}

Result<std::vector<Condition>> EventStore::firing_conditions() {
  return db_.impl().run("firing_conditions", [&](pqxx::work& tx) {
    std::vector<Condition> out;
    auto jobs = tx.exec("SELECT id, state::text, coalesce(errors -> -1 -> 'error' ->> 'message', "
                        "errors -> -1 ->> 'error', '') FROM kiln_jobs WHERE state = 'retryable' OR "
                        "(state = 'discarded' AND finalized_at > now() - interval '24 hours') ORDER BY id");
    for (const auto& r : jobs) {
      Condition c;
      c.what = std::string(r[1].c_str()) == "discarded" ? Condition::What::kJobDiscarded : Condition::What::kJobFailed;
      c.job_id = r[0].as<int64_t>();
      c.detail = r[2].c_str();
      out.push_back(std::move(c));
    }
    for (const auto& r : tx.exec("SELECT name FROM kiln_nodes WHERE state = 'lost' ORDER BY name")) {
      Condition c;
      c.what = Condition::What::kNodeLost;
      c.node = r[0].c_str();
      out.push_back(std::move(c));
    }
    auto dead = tx.exec("SELECT receiver, count(*), (array_agg(last_error ORDER BY dead_at DESC))[1] "
                        "FROM kiln_dead_letters WHERE dead_at > now() - interval '24 hours' "
                        "GROUP BY receiver ORDER BY receiver");
    for (const auto& r : dead) {
      Condition c;
      c.what = Condition::What::kDeliveryFailed;
      c.receiver = r[0].c_str();
      c.count = r[1].as<int64_t>();
      c.detail = r[2].is_null() ? "" : r[2].c_str();
      out.push_back(std::move(c));
    }
    return out;
  });
}

}  // namespace kiln::store
