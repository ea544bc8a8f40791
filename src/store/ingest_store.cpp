#include "store/ingest_store.hpp"

#include "store/db_impl.hpp"
#include "store/job_tx.hpp"

namespace kiln::store {
namespace {

constexpr int kRuleLockClass = 0x6b69;  // "ki": pg_advisory_lock(class, hashtext(rule)), per rule

constexpr const char* kLedgerColumns =
    "rule, location, key, version, size, trigger, outcome, coalesce(job_id, 0), reason, "
    "to_char(seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

LedgerEntry entry_from_row(const pqxx::row& r) {
  LedgerEntry e;
  e.sighting = {r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].as<int64_t>(), r[5].c_str()};
  e.outcome = r[6].c_str();
  e.job_id = r[7].as<int64_t>();
  e.reason = r[8].c_str();
  e.seen_at = r[9].c_str();
  return e;
}

/// The ledger row, unless the rule has it already: true when this transaction wrote it.
bool insert_row(pqxx::work& tx, const Sighting& s, const char* outcome, const std::string& reason) {
  auto r = tx.exec_params(
      "INSERT INTO kiln_ingest_ledger (rule, location, key, version, size, trigger, outcome, reason) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING rule",
      s.rule, s.location, s.key, s.version, s.size, s.trigger, outcome, reason);
  return !r.empty();
}

/// The outbox row the ingest actions (error reports) and webhook receivers read: no job.
void refused_event(pqxx::work& tx, const Sighting& s, const std::string& reason) {
  nlohmann::json payload = {{"rule", s.rule},       {"location", s.location}, {"key", s.key},
                            {"version", s.version}, {"trigger", s.trigger},   {"reason", reason}};
  tx.exec_params("INSERT INTO kiln_events (job_id, kind, payload) VALUES (NULL, 'ingest_refused', $1::jsonb)",
                 payload.dump());
}

}  // namespace

IngestStore::IngestStore(Db& db) : db_(db) {}

Result<bool> IngestStore::seen(const Sighting& s) {
  return db_.impl().run("ingest_seen", [&](pqxx::work& tx) {
    return !tx.exec_params("SELECT 1 FROM kiln_ingest_ledger WHERE rule = $1 AND location = $2 AND key = $3 "
                           "AND version = $4", s.rule, s.location, s.key, s.version).empty();
  });
}

Result<std::vector<size_t>> IngestStore::unseen(const std::string& rule, const std::string& location,
                                                const std::vector<std::pair<std::string, std::string>>& keys_versions) {
  return db_.impl().run("ingest_unseen", [&](pqxx::work& tx) {
    std::vector<std::string> keys, versions;
    for (const auto& [k, v] : keys_versions) {
      keys.push_back(k);
      versions.push_back(v);
    }
    auto r = tx.exec_params(
        "SELECT i - 1 FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(key, version, i) "
        "WHERE NOT EXISTS (SELECT 1 FROM kiln_ingest_ledger l WHERE l.rule = $1 AND l.location = $2 "
        "AND l.key = u.key AND l.version = u.version) ORDER BY i",
        rule, location, text_array(keys), text_array(versions));
    std::vector<size_t> out;
    for (const auto& row : r) out.push_back(row[0].as<size_t>());
    return out;
  });
}

Result<IngestStore::Recorded> IngestStore::record_job(const Sighting& s, const NewJob& job, const RefusalOf& refusal_of) {
  return db_.impl().run("ingest_record_job", [&](pqxx::work& tx) {
    Recorded out;
    if (!insert_row(tx, s, "job", "")) return out;
    out.fresh = true;
    JobStore::Submitted submitted = submit_in(tx, job);
    auto refusal = refusal_of(submitted);
    if (refusal) {
      out.refusal = *refusal;
      tx.exec_params("UPDATE kiln_ingest_ledger SET outcome = 'refused', reason = $5 WHERE rule = $1 AND "
                     "location = $2 AND key = $3 AND version = $4", s.rule, s.location, s.key, s.version, *refusal);
      refused_event(tx, s, *refusal);
      return out;
    }
    out.job = submitted.job;
    tx.exec_params("UPDATE kiln_ingest_ledger SET job_id = $5 WHERE rule = $1 AND location = $2 AND key = $3 "
                   "AND version = $4", s.rule, s.location, s.key, s.version, submitted.job.id);
    return out;
  });
}

Result<IngestStore::Recorded> IngestStore::record_refusal(const Sighting& s, const std::string& reason) {
  return db_.impl().run("ingest_record_refusal", [&](pqxx::work& tx) {
    Recorded out;
    if (!insert_row(tx, s, "refused", reason)) return out;
    out.fresh = true;
    out.refusal = reason;
    refused_event(tx, s, reason);
    return out;
  });
}

Result<std::optional<LedgerEntry>> IngestStore::by_job(int64_t job_id) {
  return db_.impl().run("ingest_by_job", [&](pqxx::work& tx) -> std::optional<LedgerEntry> {
    auto r = tx.exec_params(fmt::format("SELECT {} FROM kiln_ingest_ledger WHERE job_id = $1 LIMIT 1", kLedgerColumns),
                            job_id);
    if (r.empty()) return std::nullopt;
    return entry_from_row(r[0]);
  });
}

Result<std::vector<LedgerEntry>> IngestStore::entries(const std::string& rule, const std::string& key, int limit) {
  return db_.impl().run("ingest_entries", [&](pqxx::work& tx) {
    auto r = tx.exec_params(fmt::format("SELECT {} FROM kiln_ingest_ledger WHERE rule = $1 AND ($2 = '' OR key = $2) "
                                        "ORDER BY seen_at DESC, key LIMIT $3", kLedgerColumns),
                            rule, key, limit);
    std::vector<LedgerEntry> out;
    for (const auto& row : r) out.push_back(entry_from_row(row));
    return out;
  });
}

Result<std::string> IngestStore::scan_after(const std::string& rule) {
  return db_.impl().run("ingest_scan_after", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO kiln_ingest_rules (rule) VALUES ($1) ON CONFLICT DO NOTHING", rule);
    return std::string(tx.exec_params("SELECT scan_after FROM kiln_ingest_rules WHERE rule = $1", rule)[0][0].c_str());
  });
}

Status IngestStore::save_scan(const std::string& rule, const std::string& after, bool pass_done) {
  return db_.impl().run("ingest_save_scan", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO kiln_ingest_rules (rule, scan_after) VALUES ($1, $2) ON CONFLICT (rule) DO UPDATE "
                   "SET scan_after = EXCLUDED.scan_after", rule, pass_done ? std::string() : after);
    if (pass_done)
      tx.exec_params("UPDATE kiln_ingest_rules SET passes = passes + 1, last_pass_at = now() WHERE rule = $1", rule);
    return 0;
  }).status();
}

Result<bool> IngestStore::hold_rule(const std::string& rule) {
  return db_.impl().run("ingest_hold_rule", [&](pqxx::work& tx) {
    // Held already (by this session)? pg_try_advisory_lock would take it a second time and
    // stack (CASE, unlike OR, evaluates in order); a connection re-made by run() holds nothing
    // and takes it again here.
    auto r = tx.exec_params(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND "
        "pid = pg_backend_pid() AND granted AND classid = $1::int4::oid AND objid = hashtext($2)::oid "
        "AND objsubid = 2) THEN true ELSE pg_try_advisory_lock($1::int4, hashtext($2)) END",
        kRuleLockClass, rule);
    return r[0][0].as<bool>();
  });
}

}  // namespace kiln::store
