#include "coordinator/ingest/event_intake.hpp"

#include <fmt/format.h>

#include "coordinator/ingest/s3_event.hpp"
#include "coordinator/job_json.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"

namespace kiln::coordinator::ingest {
namespace {

metrics::Counter& records(const char* outcome) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_events_total", "S3 event records received, by what became of them (job, duplicate, refused, "
      "unwatched: no rule watches the bucket and key, ignored: not an ObjectCreated event, no_etag, test, "
      "subscription).", {"outcome"});
  return f.counter({outcome});
}

metrics::Counter& rejected(const char* reason) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_event_bodies_rejected_total", "Event notification bodies refused with 400, by reason.", {"reason"});
  return f.counter({reason});
}

EventIntake::Answer refuse(const char* reason, std::string code, std::string message) {
  rejected(reason).inc();
  logger("ingest")->warn("an S3 event body was refused ({}): {}", code, message);
  return {400, std::move(code), std::move(message), nullptr};
}

}  // namespace

Result<EventIntake::Answer> EventIntake::handle(std::string_view text, store::Db& db) const {
  if (text.empty()) return refuse("empty", "empty_body", "an S3 event notification (a JSON body) is required");
  if (json_depth(text) > kMaxJsonDepth)
    return refuse("too_deep", "too_deep", fmt::format("the body nests deeper than {} levels", kMaxJsonDepth));
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return refuse("malformed", "malformed_json", "the body is not valid JSON");
  auto parsed = parse_event_body(json, kMaxRecords);
  if (!parsed) return refuse("invalid", "invalid_event", parsed.status().message());

  auto log = logger("ingest");
  if (parsed->kind == EventBody::Kind::kTestEvent) {
    records("test").inc();
    log->info("S3 test event received: notifications reach this coordinator");
  } else if (parsed->kind == EventBody::Kind::kSubscriptionConfirmation) {
    // The URL comes from the request: Kiln never calls URLs a request names. An operator
    // confirms it (opens it, or `aws sns confirm-subscription`).
    records("subscription").inc();
    log->warn("SNS subscription confirmation for topic {}: confirm it by hand (Kiln does not call URLs from "
              "requests): {}", parsed->topic, parsed->subscribe_url);
  }
  Tally tally;
  for (const ObjectEvent& e : parsed->records) KILN_RETURN_IF_ERROR(take(e, db, tally));
  Answer answer;
  answer.body = {{"records", parsed->records.size()}, {"jobs", tally.jobs},           {"duplicates", tally.duplicates},
                 {"refused", tally.refused},          {"unwatched", tally.unwatched}, {"ignored", tally.ignored}};
  return answer;
}

Status EventIntake::take(const ObjectEvent& e, store::Db& db, Tally& tally) const {
  auto log = logger("ingest");
  if (!e.created()) {
    records("ignored").inc();
    ++tally.ignored;
    return Status::ok();
  }
  if (e.etag.empty()) {  // s3rver's copies; a poll of the rule finds the object with its ETag
    records("no_etag").inc();
    ++tally.ignored;
    log->warn("event {} for s3://{}/{} carries no eTag: not taken (a rule's poll_seconds finds it)", e.name, e.bucket,
              e.key);
    return Status::ok();
  }
  bool watched = false;
  for (const WatchRule& rule : rules_) {
    if (!rule.s3 || !rule.events) continue;
    const storage::Location* loc = locations_.find(rule.location);
    if (!loc || !loc->s3 || loc->s3->bucket != e.bucket) continue;
    auto key = decode_event_key(e.key, rule.event_keys, e.source);
    if (!key) {
      log->warn("rule {}: {}", rule.name, key.status().message());
      continue;
    }
    const std::string& prefix = loc->s3->prefix;
    if (key->compare(0, prefix.size(), prefix) != 0) continue;
    std::string relative = key->substr(prefix.size());
    if (!rule.matches(relative)) continue;
    watched = true;
    auto offered = ingestor_.offer(db, rule, Upload{relative, e.etag, e.size, "event"});
    if (!offered) return offered.status();
    switch (offered->outcome) {
      case Offered::Outcome::kJob:
        records("job").inc();
        tally.jobs.push_back(offered->job_id);
        break;
      case Offered::Outcome::kDuplicate:
        records("duplicate").inc();
        ++tally.duplicates;
        break;
      case Offered::Outcome::kRefused:
        records("refused").inc();
        ++tally.refused;
        break;
    }
  }
  if (!watched) {
    records("unwatched").inc();
    ++tally.unwatched;
    log->debug("event {} for s3://{}/{}: no [[watch]] rule takes it", e.name, e.bucket, e.key);
  }
  return Status::ok();
}

}  // namespace kiln::coordinator::ingest
