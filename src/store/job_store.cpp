#include "store/job_store.hpp"

#include <algorithm>

#include "store/db_impl.hpp"
#include "store/job_tx.hpp"

namespace kiln::store {
namespace {

constexpr int kOutputLockClass = 0x6b6f;  // "ko": pg_advisory_xact_lock(class, hash of an output)
constexpr const char* kJobColumns =
    "id, state::text, priority, queue, attempt, max_attempts, coalesce(node, ''), "
    "coalesce(idempotency_key, ''), spec::text, coalesce(input_info, 'null')::text, "
    "progress::text, coalesce(output, 'null')::text, errors::text, cancel_requested, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "to_char(scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "coalesce(to_char(attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ''), "
    "coalesce(to_char(finalized_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ''), "
    "coalesce(to_char(lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')";

Job job_from_row(const pqxx::row& r) {
  Job j;
  j.id = r[0].as<int64_t>();
  j.state = parse_state(r[1].c_str()).value_or(JobState::kDiscarded);
  j.priority = r[2].as<int>();
  j.queue = r[3].c_str();
  j.attempt = r[4].as<int>();
  j.max_attempts = r[5].as<int>();
  j.node = r[6].c_str();
  j.idempotency_key = r[7].c_str();
  j.spec = nlohmann::json::parse(r[8].c_str());
  j.input_info = nlohmann::json::parse(r[9].c_str());
  j.progress = nlohmann::json::parse(r[10].c_str());
  j.output = nlohmann::json::parse(r[11].c_str());
  j.errors = nlohmann::json::parse(r[12].c_str());
  j.cancel_requested = r[13].as<bool>();
  j.created_at = r[14].c_str();
  j.scheduled_at = r[15].c_str();
  j.attempted_at = r[16].c_str();
  j.finalized_at = r[17].c_str();
  j.lease_expires_at = r[18].c_str();
  return j;
}

/// Running jobs whose cancel was requested and whose node stopped renewing the lease: they
/// become cancelled (never retryable). Returns how many.
int cancel_abandoned(pqxx::work& tx) {
  auto r = tx.exec("UPDATE kiln_jobs SET state = 'cancelled', finalized_at = now(), lease_expires_at = NULL "
                   "WHERE state = 'running' AND lease_expires_at < now() AND cancel_requested "
                   "RETURNING id, attempt, coalesce(node, '')");
  for (const auto& row : r)
    add_tx_event(tx, row[0].as<int64_t>(), "cancelled",
                 {{"attempt", row[1].as<int>()}, {"node", row[2].c_str()}, {"reason", "node_lost"}});
  return static_cast<int>(r.size());
}

}  // namespace

JobStore::JobStore(Db& db, RetryPolicy policy) : retry_policy(policy), db_(db) {}

JobStore::Submitted submit_in(pqxx::work& tx, const NewJob& job) {
  using Submitted = JobStore::Submitted;
  // One live job per output: submits naming one output are serialized by a transaction lock
  // on its hash (the two-key advisory space, apart from the migration and leader locks); a
  // live job already writing it wins, unless this is that job's own idempotent resubmit.
  const std::string output = job.spec.value("output", "");
  tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kOutputLockClass, output);
  auto busy = tx.exec_params(fmt::format("SELECT {} FROM kiln_jobs WHERE "
                                         "spec->>'output' = $1 AND state NOT IN ('completed', 'cancelled', "
                                         "'discarded') ORDER BY id LIMIT 1", kJobColumns), output);
  if (!busy.empty() && (job.idempotency_key.empty() || busy[0][7].c_str() != job.idempotency_key))
    return Submitted{job_from_row(busy[0]), false, false, true};
  // ON CONFLICT on the partial unique index: of two concurrent submits with one key, the
  // second waits for the first to commit and then inserts nothing.
  auto r = tx.exec_params(
      fmt::format("INSERT INTO kiln_jobs (state, priority, queue, max_attempts, scheduled_at, "
                  "idempotency_key, spec, input_location, input_key) VALUES (CASE WHEN $1 > 0 THEN 'scheduled' "
                  "ELSE 'available' END::kiln_job_state, $2, $3, $4, now() + make_interval(secs => $1), "
                  "nullif($5, ''), $6::jsonb, nullif($7, ''), nullif($8, '')) ON CONFLICT (idempotency_key) "
                  "WHERE idempotency_key IS NOT NULL AND state NOT IN ('completed', 'cancelled', 'discarded') "
                  "DO NOTHING RETURNING {}", kJobColumns),
      job.delay_seconds, job.priority, job.queue, job.max_attempts, job.idempotency_key,
      job.spec.dump(), job.input_location, job.input_key);
  if (r.empty()) {
    auto existing = tx.exec_params(fmt::format("SELECT {}, spec = $2::jsonb AND priority = $3 AND queue = $4 "
                                               "AND max_attempts = $5 FROM kiln_jobs WHERE idempotency_key = $1 "
                                               "AND state NOT IN ('completed','cancelled','discarded')", kJobColumns),
                                   job.idempotency_key, job.spec.dump(), job.priority, job.queue, job.max_attempts);
    if (existing.empty()) throw std::runtime_error("idempotency conflict without a live job");  // retried by the caller
    return Submitted{job_from_row(existing[0]), false, !existing[0][19].as<bool>()};
  }
  Job created = job_from_row(r[0]);
  add_tx_event(tx, created.id, "submitted", {{"state", state_name(created.state)}});
  tx.exec_params("SELECT pg_notify('kiln_jobs', $1)", created.queue);
  return Submitted{created, true, false};
}

Result<JobStore::Submitted> JobStore::submit(const NewJob& job) {
  return db_.impl().run("submit", [&](pqxx::work& tx) { return submit_in(tx, job); });
}

Result<std::optional<Claim>> JobStore::claim(const std::string& node, const std::vector<std::string>& queues,
                                             double lease_seconds) {
  return db_.impl().run("claim", [&](pqxx::work& tx) -> std::optional<Claim> {
    // A job whose cancel was requested while its node was dead is cancelled here too (not only
    // by the coordinator's reaper): nothing can run it to completion after its cancel returned.
    cancel_abandoned(tx);
    auto r = tx.exec_params(
        "WITH next AS (SELECT id FROM kiln_jobs WHERE state IN ('available','scheduled','retryable') "
        "AND queue = ANY($2::text[]) AND scheduled_at <= now() ORDER BY priority DESC, scheduled_at, id "
        "LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "UPDATE kiln_jobs j SET state = 'running', attempt = j.attempt + 1, node = $1, "
        "attempted_at = now(), heartbeat_at = now(), cancel_requested = false, "
        "lease_expires_at = now() + make_interval(secs => $3) FROM next WHERE j.id = next.id "
        "RETURNING j.id, j.attempt, j.spec::text, extract(epoch FROM now() - greatest(j.scheduled_at, j.created_at))",
        node, text_array(queues), lease_seconds);
    if (r.empty()) return std::nullopt;
    Claim c{r[0][0].as<int64_t>(), r[0][1].as<int>(), nlohmann::json::parse(r[0][2].c_str()),
            r[0][3].as<double>()};
    add_tx_event(tx, c.id, "progressing", {{"node", node}, {"attempt", c.attempt}});
    return c;
  });
}

Result<HeartbeatResult> JobStore::heartbeat(int64_t id, int attempt, const nlohmann::json& progress,
                                            double lease_seconds) {
  return db_.impl().run("heartbeat", [&](pqxx::work& tx) {
    auto r = tx.exec_params(
        "UPDATE kiln_jobs SET heartbeat_at = now(), progress = $3::jsonb, "
        "lease_expires_at = now() + make_interval(secs => $4) "
        "WHERE id = $1 AND attempt = $2 AND state = 'running' AND lease_expires_at > now() "
        "RETURNING cancel_requested",
        id, attempt, progress.dump(), lease_seconds);
    HeartbeatResult h;
    h.owned = !r.empty();
    h.cancel_requested = h.owned && r[0][0].as<bool>();
    return h;
  });
}

Result<bool> JobStore::set_input_info(int64_t id, int attempt, const nlohmann::json& info) {
  return db_.impl().run("set_input_info", [&](pqxx::work& tx) {
    auto r = tx.exec_params("UPDATE kiln_jobs SET input_info = $3::jsonb WHERE id = $1 AND attempt = $2 "
                            "AND state = 'running' RETURNING id", id, attempt, info.dump());
    if (r.empty()) return false;
    add_tx_event(tx, id, "input_information", info);
    return true;
  });
}

Result<bool> JobStore::complete(int64_t id, int attempt, const nlohmann::json& output) {
  return db_.impl().run("complete", [&](pqxx::work& tx) {
    auto r = tx.exec_params(
        "UPDATE kiln_jobs SET state = 'completed', output = $3::jsonb, finalized_at = now(), "
        "lease_expires_at = NULL WHERE id = $1 AND attempt = $2 AND state = 'running' "
        "AND NOT cancel_requested RETURNING id",
        id, attempt, output.dump());
    if (r.empty()) return false;
    add_tx_event(tx, id, "complete", output);
    return true;
  });
}

Result<std::optional<JobState>> JobStore::fail(int64_t id, int attempt, const nlohmann::json& error,
                                               bool retryable, double unit) {
  return db_.impl().run("fail", [&](pqxx::work& tx) -> std::optional<JobState> {
    auto cur = tx.exec_params("SELECT max_attempts FROM kiln_jobs WHERE id = $1 AND attempt = $2 AND "
                              "state = 'running' FOR UPDATE", id, attempt);
    if (cur.empty()) return std::nullopt;
    const bool discard = !retryable || attempt >= cur[0][0].as<int>();
    const double delay = backoff_seconds(attempt, unit, retry_policy.base_seconds,
                                         retry_policy.cap_seconds, retry_policy.jitter);
    nlohmann::json entry = {{"attempt", attempt}, {"error", error}};
    tx.exec_params(
        "UPDATE kiln_jobs SET state = $3::kiln_job_state, lease_expires_at = NULL, "
        "errors = errors || jsonb_build_array($4::jsonb || jsonb_build_object('at', now())), "
        "scheduled_at = CASE WHEN $3 = 'retryable' THEN now() + make_interval(secs => $5) ELSE scheduled_at END, "
        "finalized_at = CASE WHEN $3 = 'discarded' THEN now() ELSE NULL END WHERE id = $1 AND attempt = $2",
        id, attempt, discard ? "discarded" : "retryable", entry.dump(), delay);
    nlohmann::json payload = entry;
    payload["state"] = discard ? "discarded" : "retryable";
    if (!discard) payload["retryInSeconds"] = delay;
    add_tx_event(tx, id, discard ? "discarded" : "error", payload);
    return discard ? JobState::kDiscarded : JobState::kRetryable;
  });
}

Result<bool> JobStore::acknowledge_cancel(int64_t id, int attempt) {
  return db_.impl().run("acknowledge_cancel", [&](pqxx::work& tx) {
    auto r = tx.exec_params("UPDATE kiln_jobs SET state = 'cancelled', finalized_at = now(), "
                            "lease_expires_at = NULL WHERE id = $1 AND attempt = $2 AND state = 'running' "
                            "RETURNING id", id, attempt);
    if (r.empty()) return false;
    add_tx_event(tx, id, "cancelled", {{"attempt", attempt}});
    return true;
  });
}

Result<bool> JobStore::release(int64_t id, int attempt) { return release_for_later(id, attempt, 0, ""); }

Result<bool> JobStore::release_for_later(int64_t id, int attempt, double delay_seconds, const std::string& reason) {
  return db_.impl().run("release", [&](pqxx::work& tx) {
    auto r = tx.exec_params(
        "UPDATE kiln_jobs SET state = 'available', scheduled_at = now() + make_interval(secs => $3), "
        "lease_expires_at = NULL, max_attempts = max_attempts + 1, progress = '{}'::jsonb "
        "WHERE id = $1 AND attempt = $2 AND state = 'running' AND NOT cancel_requested RETURNING queue",
        id, attempt, std::clamp(delay_seconds, 0.0, 3600.0));
    if (r.empty()) return false;
    if (!reason.empty())
      add_tx_event(tx, id, "status_update",
                   {{"phase", "waiting"}, {"reason", reason}, {"retryInSeconds", delay_seconds}});
    tx.exec_params("SELECT pg_notify('kiln_jobs', $1)", r[0][0].c_str());
    return true;
  });
}

Result<bool> JobStore::cancel(int64_t id) {
  return db_.impl().run("cancel", [&](pqxx::work& tx) {
    auto queued = tx.exec_params(
        "UPDATE kiln_jobs SET state = 'cancelled', finalized_at = now() WHERE id = $1 AND state IN "
        "('pending','scheduled','available','retryable') RETURNING id", id);
    if (!queued.empty()) {
      add_tx_event(tx, id, "cancelled", nlohmann::json::object());
      return true;
    }
    auto running = tx.exec_params("UPDATE kiln_jobs SET cancel_requested = true WHERE id = $1 AND "
                                  "state = 'running' RETURNING node", id);
    if (running.empty()) return false;
    tx.exec_params("SELECT pg_notify('kiln_cancel', $1)", std::to_string(id));
    return true;
  });
}

Result<bool> JobStore::retry(int64_t id) {
  return db_.impl().run("retry", [&](pqxx::work& tx) {
    auto r = tx.exec_params(
        "UPDATE kiln_jobs SET state = 'available', scheduled_at = now(), finalized_at = NULL, "
        "max_attempts = greatest(max_attempts, attempt + 1), cancel_requested = false "
        "WHERE id = $1 AND state IN ('discarded','cancelled') RETURNING queue", id);
    if (r.empty()) return false;
    add_tx_event(tx, id, "retried", nlohmann::json::object());
    tx.exec_params("SELECT pg_notify('kiln_jobs', $1)", r[0][0].c_str());
    return true;
  });
}

Result<std::optional<Job>> JobStore::get(int64_t id) {
  return db_.impl().run("get", [&](pqxx::work& tx) -> std::optional<Job> {
    auto r = tx.exec_params(fmt::format("SELECT {} FROM kiln_jobs WHERE id = $1", kJobColumns), id);
    if (r.empty()) return std::nullopt;
    return job_from_row(r[0]);
  });
}

Result<std::vector<Job>> JobStore::list(const JobFilter& filter, int limit, int64_t after_id) {
  return db_.impl().run("list", [&](pqxx::work& tx) {
    // Only the filters asked for go into the statement, each in the shape its index serves:
    // (input_location, input_key, id) by equality, the metadata GIN index by containment.
    std::string where = "id > " + tx.quote(after_id);
    if (filter.state) where += " AND state = " + tx.quote(state_name(*filter.state)) + "::kiln_job_state";
    if (!filter.input_location.empty()) where += " AND input_location = " + tx.quote(filter.input_location);
    if (!filter.input_key.empty()) where += " AND input_key = " + tx.quote(filter.input_key);
    if (!filter.metadata_key.empty())
      where += " AND spec -> 'metadata' @> " +
               tx.quote(nlohmann::json{{filter.metadata_key, filter.metadata_value}}.dump()) + "::jsonb";
    auto r = tx.exec(fmt::format("SELECT {} FROM kiln_jobs WHERE {} ORDER BY id LIMIT {}", kJobColumns, where, limit));
    std::vector<Job> out;
    for (const auto& row : r) out.push_back(job_from_row(row));
    return out;
  });
}

Result<std::vector<Job>> JobStore::recent(int limit) {
  return db_.impl().run("recent", [&](pqxx::work& tx) {
    auto r = tx.exec_params(fmt::format("SELECT {} FROM kiln_jobs ORDER BY id DESC LIMIT $1", kJobColumns), limit);
    std::vector<Job> out;
    for (const auto& row : r) out.push_back(job_from_row(row));
    return out;
  });
}

Result<std::vector<std::pair<std::string, int64_t>>> JobStore::count_by_state() {
  return db_.impl().run("count_by_state", [&](pqxx::work& tx) {
    auto r = tx.exec("SELECT s::text, (SELECT count(*) FROM kiln_jobs WHERE state = s) "
                     "FROM unnest(enum_range(NULL::kiln_job_state)) s");
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& row : r) out.emplace_back(row[0].c_str(), row[1].as<int64_t>());
    return out;
  });
}

Result<int> JobStore::reap_expired_leases(double unit) {
  return db_.impl().run("reap", [&](pqxx::work& tx) {
    const int cancelled = cancel_abandoned(tx);
    auto r = tx.exec_params(
        "UPDATE kiln_jobs SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE "
        "'retryable' END::kiln_job_state, lease_expires_at = NULL, "
        "scheduled_at = now() + make_interval(secs => $1::float8 * (1 + $2::float8 * $3::float8)), "
        "finalized_at = CASE WHEN attempt >= max_attempts THEN now() ELSE NULL END, "
        "errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', now(), "
        "'error', jsonb_build_object('code', 'lease_expired', 'message', 'the node ' || coalesce(node, '?') "
        "|| ' stopped renewing its lease')))"
        "WHERE state = 'running' AND lease_expires_at < now() RETURNING id, state::text, node, attempt",
        retry_policy.base_seconds, retry_policy.jitter, unit);
    for (const auto& row : r)
      add_tx_event(tx, row[0].as<int64_t>(), row[1].as<std::string>() == "discarded" ? "discarded" : "error",
                {{"attempt", row[3].as<int>()}, {"state", row[1].c_str()},
                 {"error", {{"code", "lease_expired"}, {"node", row[2].is_null() ? "" : row[2].c_str()}}}});
    if (!r.empty()) tx.exec("SELECT pg_notify('kiln_jobs', 'reaped')");
    return cancelled + static_cast<int>(r.size());
  });
}

}  // namespace kiln::store
