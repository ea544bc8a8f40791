#include "store/job_store.hpp"

#include <fmt/format.h>

#include <pqxx/pqxx>

#include "kiln/migrations.hpp"
#include "log.hpp"

namespace kiln::store {
namespace {

constexpr int64_t kMigrationLock = 0x6b696c6e;  // "kiln": pg_advisory_lock key for migrations
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

constexpr const char* kEventColumns =
    "e.id, coalesce(e.job_id, 0), e.kind, e.payload::text, "
    "to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

Event event_from_row(const pqxx::row& row) {
  return {row[0].as<int64_t>(), row[1].as<int64_t>(), row[2].c_str(), nlohmann::json::parse(row[3].c_str()),
          row[4].c_str()};
}

/// A PostgreSQL text[] literal: {"a","b"} with quotes and backslashes escaped.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

/// The outbox row for a state change, in the caller's transaction.
void add_tx_event(pqxx::work& tx, int64_t job_id, const std::string& kind, const nlohmann::json& payload) {
  tx.exec_params("INSERT INTO kiln_events (job_id, kind, payload) VALUES ($1, $2, $3::jsonb)",
                 job_id, kind, payload.dump());
}

}  // namespace

struct JobStore::Impl {
  std::string url;
  std::unique_ptr<pqxx::connection> conn;
  std::vector<std::string> channels;

  // Runs `fn` in a transaction. A dropped connection is re-established once and the work
  // retried (every operation here is one transaction, so a retry is safe).
  template <class F>
  auto run(const char* what, F&& fn) -> Result<decltype(fn(std::declval<pqxx::work&>()))> {
    for (int attempt = 0;; ++attempt) {
      try {
        if (!conn || !conn->is_open()) KILN_RETURN_IF_ERROR(reconnect());
        pqxx::work tx(*conn);
        auto out = fn(tx);
        tx.commit();
        return out;
      } catch (const pqxx::broken_connection& e) {
        logger("store")->warn("database connection lost during {}: {}", what, e.what());
        conn.reset();
        if (attempt >= 1) return Status(Code::kIo, fmt::format("database unavailable ({}): {}", what, e.what()));
      } catch (const std::exception& e) {
        return Status(Code::kIo, fmt::format("database error in {}: {}", what, e.what()));
      }
    }
  }

  Status reconnect() {
    try {
      conn = std::make_unique<pqxx::connection>(url);
      for (const auto& ch : channels) {
        pqxx::nontransaction tx(*conn);
        tx.exec("LISTEN " + tx.quote_name(ch));
      }
      return Status::ok();
    } catch (const std::exception& e) {
      conn.reset();
      return {Code::kIo, fmt::format("cannot connect to the database: {}", e.what())};
    }
  }
};

JobStore::JobStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JobStore::~JobStore() = default;

Result<std::unique_ptr<JobStore>> JobStore::connect(const std::string& url) {
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  KILN_RETURN_IF_ERROR(impl->reconnect());
  return std::unique_ptr<JobStore>(new JobStore(std::move(impl)));
}

Result<std::unique_ptr<JobStore>> JobStore::open_migrated(const std::string& url, int* version) {
  auto store = connect(url);
  if (!store) return store.status();
  auto v = (*store)->migrate();
  if (!v) return v.status();
  if (version) *version = *v;
  return store;
}

Result<int> JobStore::migrate() {
  return impl_->run("migrate", [](pqxx::work& tx) {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    tx.exec("CREATE TABLE IF NOT EXISTS kiln_schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    int current = tx.exec("SELECT coalesce(max(version), 0) FROM kiln_schema_migrations")[0][0].as<int>();
    for (const auto& m : kMigrations) {
      if (m.version <= current) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO kiln_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name);
      logger("store")->info("applied migration {}", m.name);
      current = m.version;
    }
    return current;
  });
}

Result<JobStore::Submitted> JobStore::submit(const NewJob& job) {
  return impl_->run("submit", [&](pqxx::work& tx) {
    if (!job.idempotency_key.empty()) {
      auto existing = tx.exec_params(fmt::format("SELECT {} FROM kiln_jobs WHERE idempotency_key = $1 "
                                                 "AND state NOT IN ('completed','cancelled','discarded') "
                                                 "FOR UPDATE", kJobColumns), job.idempotency_key);
      if (!existing.empty()) return Submitted{job_from_row(existing[0]), false};
    }
    auto r = tx.exec_params(
        fmt::format("INSERT INTO kiln_jobs (state, priority, queue, max_attempts, scheduled_at, "
                    "idempotency_key, spec) VALUES (CASE WHEN $1 > 0 THEN 'scheduled' ELSE "
                    "'available' END::kiln_job_state, $2, $3, $4, now() + make_interval(secs => $1), "
                    "nullif($5, ''), $6::jsonb) RETURNING {}", kJobColumns),
        job.delay_seconds, job.priority, job.queue, job.max_attempts, job.idempotency_key,
        job.spec.dump());
    Job created = job_from_row(r[0]);
    add_tx_event(tx, created.id, "submitted", {{"state", state_name(created.state)}});
    tx.exec_params("SELECT pg_notify('kiln_jobs', $1)", created.queue);
    return Submitted{created, true};
  });
}

Result<std::optional<Claim>> JobStore::claim(const std::string& node, const std::vector<std::string>& queues,
                                             double lease_seconds) {
  return impl_->run("claim", [&](pqxx::work& tx) -> std::optional<Claim> {
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
  return impl_->run("heartbeat", [&](pqxx::work& tx) {
    auto r = tx.exec_params(
        "UPDATE kiln_jobs SET heartbeat_at = now(), progress = $3::jsonb, "
        "lease_expires_at = now() + make_interval(secs => $4) "
        "WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING cancel_requested",
        id, attempt, progress.dump(), lease_seconds);
    HeartbeatResult h;
    h.owned = !r.empty();
    h.cancel_requested = h.owned && r[0][0].as<bool>();
    return h;
  });
}

Result<bool> JobStore::set_input_info(int64_t id, int attempt, const nlohmann::json& info) {
  return impl_->run("set_input_info", [&](pqxx::work& tx) {
    auto r = tx.exec_params("UPDATE kiln_jobs SET input_info = $3::jsonb WHERE id = $1 AND attempt = $2 "
                            "AND state = 'running' RETURNING id", id, attempt, info.dump());
    if (r.empty()) return false;
    add_tx_event(tx, id, "input_information", info);
    return true;
  });
}

Result<bool> JobStore::complete(int64_t id, int attempt, const nlohmann::json& output) {
  return impl_->run("complete", [&](pqxx::work& tx) {
    auto r = tx.exec_params(
        "UPDATE kiln_jobs SET state = 'completed', output = $3::jsonb, finalized_at = now(), "
        "lease_expires_at = NULL WHERE id = $1 AND attempt = $2 AND state = 'running' RETURNING id",
        id, attempt, output.dump());
    if (r.empty()) return false;
    add_tx_event(tx, id, "complete", output);
    return true;
  });
}

Result<std::optional<JobState>> JobStore::fail(int64_t id, int attempt, const nlohmann::json& error,
                                               bool retryable, double unit) {
  return impl_->run("fail", [&](pqxx::work& tx) -> std::optional<JobState> {
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
  return impl_->run("acknowledge_cancel", [&](pqxx::work& tx) {
    auto r = tx.exec_params("UPDATE kiln_jobs SET state = 'cancelled', finalized_at = now(), "
                            "lease_expires_at = NULL WHERE id = $1 AND attempt = $2 AND state = 'running' "
                            "RETURNING id", id, attempt);
    if (r.empty()) return false;
    add_tx_event(tx, id, "cancelled", {{"attempt", attempt}});
    return true;
  });
}

Result<bool> JobStore::cancel(int64_t id) {
  return impl_->run("cancel", [&](pqxx::work& tx) {
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
  return impl_->run("retry", [&](pqxx::work& tx) {
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
  return impl_->run("get", [&](pqxx::work& tx) -> std::optional<Job> {
    auto r = tx.exec_params(fmt::format("SELECT {} FROM kiln_jobs WHERE id = $1", kJobColumns), id);
    if (r.empty()) return std::nullopt;
    return job_from_row(r[0]);
  });
}

Result<std::vector<Job>> JobStore::list(std::optional<JobState> state, int limit, int64_t after_id) {
  return impl_->run("list", [&](pqxx::work& tx) {
    auto r = tx.exec_params(
        fmt::format("SELECT {} FROM kiln_jobs WHERE id > $1 AND ($2 = '' OR state::text = $2) "
                    "ORDER BY id LIMIT $3", kJobColumns),
        after_id, state ? state_name(*state) : "", limit);
    std::vector<Job> out;
    for (const auto& row : r) out.push_back(job_from_row(row));
    return out;
  });
}

Result<std::vector<Event>> JobStore::events(int64_t job_id, int64_t after_event_id) {
  return impl_->run("events", [&](pqxx::work& tx) {
    auto r = tx.exec_params(fmt::format("SELECT {} FROM kiln_events e WHERE e.job_id = $1 AND e.id > $2 "
                                        "ORDER BY e.id", kEventColumns), job_id, after_event_id);
    std::vector<Event> out;
    for (const auto& row : r) out.push_back(event_from_row(row));
    return out;
  });
}

Status JobStore::add_event(int64_t job_id, const std::string& kind, const nlohmann::json& payload) {
  return impl_->run("add_event", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO kiln_events (job_id, kind, payload) VALUES (nullif($1, 0), $2, $3::jsonb)",
                   job_id, kind, payload.dump());
    return 0;
  }).status();
}

Result<std::vector<std::pair<std::string, int64_t>>> JobStore::count_by_state() {
  return impl_->run("count_by_state", [&](pqxx::work& tx) {
    auto r = tx.exec("SELECT s::text, (SELECT count(*) FROM kiln_jobs WHERE state = s) "
                     "FROM unnest(enum_range(NULL::kiln_job_state)) s");
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& row : r) out.emplace_back(row[0].c_str(), row[1].as<int64_t>());
    return out;
  });
}

Result<int> JobStore::reap_expired_leases(double unit) {
  return impl_->run("reap", [&](pqxx::work& tx) {
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
    return static_cast<int>(r.size());
  });
}

Status JobStore::register_node(const std::string& name, const nlohmann::json& devices, int capacity) {
  return impl_->run("register_node", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO kiln_nodes (name, devices, capacity) VALUES ($1, $2::jsonb, $3) "
                   "ON CONFLICT (name) DO UPDATE SET devices = excluded.devices, capacity = excluded.capacity, "
                   "state = 'up', started_at = now(), heartbeat_at = now()",
                   name, devices.dump(), capacity);
    return 0;
  }).status();
}

Status JobStore::node_heartbeat(const std::string& name, const std::string& state) {
  return impl_->run("node_heartbeat", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_nodes SET heartbeat_at = now(), state = $2 WHERE name = $1", name, state);
    return 0;
  }).status();
}

Result<std::vector<std::string>> JobStore::mark_lost_nodes(double timeout_seconds) {
  return impl_->run("mark_lost_nodes", [&](pqxx::work& tx) {
    auto r = tx.exec_params("UPDATE kiln_nodes SET state = 'lost' WHERE state <> 'lost' AND "
                            "heartbeat_at < now() - make_interval(secs => $1) RETURNING name", timeout_seconds);
    std::vector<std::string> lost;
    for (const auto& row : r) {
      lost.emplace_back(row[0].c_str());
      tx.exec_params("INSERT INTO kiln_events (job_id, kind, payload) VALUES (NULL, 'node_lost', $1::jsonb)",
                     nlohmann::json{{"node", lost.back()}}.dump());
    }
    return lost;
  });
}

Result<nlohmann::json> JobStore::nodes() {
  return impl_->run("nodes", [&](pqxx::work& tx) {
    auto r = tx.exec("SELECT name, devices::text, capacity, state, to_char(heartbeat_at AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), (SELECT count(*) FROM kiln_jobs j WHERE "
                     "j.node = n.name AND j.state = 'running') FROM kiln_nodes n ORDER BY name");
    nlohmann::json out = nlohmann::json::array();
    for (const auto& row : r)
      out.push_back({{"name", row[0].c_str()}, {"devices", nlohmann::json::parse(row[1].c_str())},
                     {"capacity", row[2].as<int>()}, {"state", row[3].c_str()},
                     {"heartbeatAt", row[4].c_str()}, {"running", row[5].as<int>()}});
    return out;
  });
}

Result<std::vector<Event>> JobStore::undelivered(const std::string& receiver,
                                                 const std::vector<std::string>& kinds, int limit) {
  return impl_->run("undelivered", [&](pqxx::work& tx) {
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

Status JobStore::mark_delivered(int64_t event_id, const std::string& receiver) {
  return impl_->run("mark_delivered", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_deliveries SET delivered_at = now(), attempts = attempts + 1 "
                   "WHERE event_id = $1 AND receiver = $2", event_id, receiver);
    return 0;
  }).status();
}

Status JobStore::mark_delivery_failed(int64_t event_id, const std::string& receiver, const std::string& error,
                                      double retry_in_seconds) {
  return impl_->run("mark_delivery_failed", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_deliveries SET attempts = attempts + 1, last_error = $3, "
                   "next_attempt_at = now() + make_interval(secs => $4) WHERE event_id = $1 AND receiver = $2",
                   event_id, receiver, error, retry_in_seconds);
    return 0;
  }).status();
}

Result<nlohmann::json> JobStore::firing_conditions() {
  return impl_->run("firing_conditions", [&](pqxx::work& tx) {
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

Status JobStore::listen(const std::string& channel) {
  impl_->channels.push_back(channel);
  return impl_->run("listen", [&](pqxx::work& tx) {
    tx.exec("LISTEN " + tx.quote_name(channel));
    return 0;
  }).status();
}

Result<bool> JobStore::wait_notification(double seconds) {
  try {
    if (!impl_->conn || !impl_->conn->is_open()) KILN_RETURN_IF_ERROR(impl_->reconnect());
    long s = static_cast<long>(seconds);
    long us = static_cast<long>((seconds - s) * 1e6);
    return impl_->conn->await_notification(s, us) > 0;
  } catch (const pqxx::broken_connection& e) {
    impl_->conn.reset();
    return Status(Code::kIo, fmt::format("database connection lost while waiting: {}", e.what()));
  } catch (const std::exception& e) {
    return Status(Code::kIo, fmt::format("database error while waiting: {}", e.what()));
  }
}

Result<std::string> JobStore::create_token(const std::string& scope, const std::string& note) {
  return impl_->run("create_token", [&](pqxx::work& tx) {
    // 32 random bytes from the server's CSPRNG (gen_random_uuid is built in since 13).
    auto r = tx.exec("SELECT 'kiln_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')");
    std::string token = r[0][0].c_str();
    tx.exec_params("INSERT INTO kiln_tokens (hash, scope, note) VALUES (sha256(convert_to($1, 'UTF8')), $2, $3)",
                   token, scope, note);
    return token;
  });
}

Result<std::string> JobStore::scope_of(const std::string& token) {
  return impl_->run("scope_of", [&](pqxx::work& tx) {
    auto r = tx.exec_params("SELECT scope FROM kiln_tokens WHERE hash = sha256(convert_to($1, 'UTF8')) "
                            "AND revoked_at IS NULL", token);
    return r.empty() ? std::string() : std::string(r[0][0].c_str());
  });
}

Result<bool> JobStore::try_leader_lock(int64_t key) {
  try {
    if (!impl_->conn || !impl_->conn->is_open()) KILN_RETURN_IF_ERROR(impl_->reconnect());
    // Session-level: held until this connection closes, so a dead leader's lock goes with it.
    pqxx::nontransaction tx(*impl_->conn);
    return tx.exec_params("SELECT pg_try_advisory_lock($1)", key)[0][0].as<bool>();
  } catch (const std::exception& e) {
    impl_->conn.reset();
    return Status(Code::kIo, fmt::format("database error taking the leader lock: {}", e.what()));
  }
}

Status JobStore::execute(const std::string& sql) {
  return impl_->run("execute", [&](pqxx::work& tx) {
    tx.exec(sql);
    return 0;
  }).status();
}

}  // namespace kiln::store
