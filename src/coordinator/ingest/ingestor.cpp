#include "coordinator/ingest/ingestor.hpp"

#include <fmt/format.h>

#include "coordinator/job_submission.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "storage/s3/sigv4.hpp"
#include "store/ingest_store.hpp"

namespace kiln::coordinator::ingest {
namespace {

metrics::Counter& uploads(const std::string& rule, const std::string& trigger, const char* outcome) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_uploads_total", "Uploads offered to a [[watch]] rule, by rule, trigger and outcome "
      "(job, duplicate: the ledger had it, refused: no job could be made).", {"rule", "trigger", "outcome"});
  return f.counter({rule, trigger, outcome});
}

/// The job's Idempotency-Key: the ledger's key, digested (keys may be 1024 bytes; this is 46).
std::string idempotency_key(const store::Sighting& s) {
  return "ingest-" + storage::s3::sha256_hex(s.rule + '\0' + s.location + '\0' + s.key + '\0' + s.version).substr(0, 39);
}

}  // namespace

void Ingestor::count_known(const WatchRule& rule, const std::string& trigger, size_t n) {
  if (n > 0) uploads(rule.name, trigger, "duplicate").inc(static_cast<double>(n));
}

std::string file_version(int64_t size, int64_t mtime_ns) { return fmt::format("{}-{}", size, mtime_ns); }

Result<Offered> Ingestor::offer(store::Db& db, const WatchRule& rule, const Upload& upload) const {
  auto log = logger("ingest");
  store::Sighting s{rule.name, rule.location, upload.key, upload.version, upload.size, upload.trigger};
  store::IngestStore ledger(db);
  auto seen = ledger.seen(s);
  if (!seen) return seen.status();
  Offered out;
  auto duplicate = [&] {
    uploads(rule.name, upload.trigger, "duplicate").inc();
    log->debug("rule {}: {}:{} (version {}) was seen before; no new job", rule.name, rule.location, upload.key,
               upload.version);
    return out;
  };
  if (*seen) return duplicate();

  store::IngestStore::Recorded recorded;
  auto body = job_body(rule, upload.key, upload.version);
  Prepared prepared;
  if (!body) prepared.refusal = Refusal{400, "invalid_spec", body.status().message()};
  else prepared = prepare_job(*body, locations_, s3_, idempotency_key(s));
  // The output's bucket could not be listed: not a verdict on the upload. Nothing is recorded;
  // the event's sender or the next poll offers it again.
  if (prepared.refusal && prepared.refusal->http == 503) return Status(Code::kIo, prepared.refusal->message);
  if (prepared.refusal) {
    auto r = ledger.record_refusal(s, prepared.refusal->text());
    if (!r) return r.status();
    recorded = std::move(r).value();
  } else {
    auto r = ledger.record_job(s, prepared.job, [&](const store::JobStore::Submitted& submitted) {
      auto refusal = refusal_of(submitted, prepared.job);
      return refusal ? std::optional<std::string>(refusal->text()) : std::nullopt;
    });
    if (!r) return r.status();
    recorded = std::move(r).value();
  }
  if (!recorded.fresh) return duplicate();  // another trigger or coordinator got there first
  if (recorded.job) {
    out.outcome = Offered::Outcome::kJob;
    out.job_id = recorded.job->id;
    uploads(rule.name, upload.trigger, "job").inc();
    log->info("rule {}: {}:{} ({} bytes, seen by {}) is job {}", rule.name, rule.location, upload.key, upload.size,
              upload.trigger, out.job_id);
    return out;
  }
  out.outcome = Offered::Outcome::kRefused;
  out.reason = recorded.refusal;
  uploads(rule.name, upload.trigger, "refused").inc();
  log->warn("rule {}: {}:{} made no job: {}", rule.name, rule.location, upload.key, out.reason);
  return out;
}

}  // namespace kiln::coordinator::ingest
