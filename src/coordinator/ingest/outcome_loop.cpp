#include "coordinator/ingest/outcome_loop.hpp"

#include <fmt/format.h>

#include <thread>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/db.hpp"
#include "store/ingest_store.hpp"

namespace kiln::coordinator::ingest {
namespace {

metrics::Counter& actions(const std::string& rule, const char* on, const char* outcome) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_actions_total", "What ingest did after an upload's job ended, by rule, what it ended in "
      "(complete: on_complete; failed: the error report and tag) and outcome (ok, error: retried).",
      {"rule", "on", "outcome"});
  return f.counter({rule, on, outcome});
}

metrics::Counter& dead_lettered() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_actions_dead_lettered_total", "Ingest actions given up after delivery_max_attempts failed tries "
      "(see kiln_dead_letters, receiver @ingest).");
  return f.counter();
}

std::string error_text(const nlohmann::json& payload) {
  const auto& err = payload.contains("error") ? payload["error"] : nlohmann::json();
  if (err.is_object()) {
    std::string code = err.value("code", std::string("error"));
    std::string message = err.value("message", std::string());
    return message.empty() ? code : code + ": " + message;
  }
  return err.is_string() ? err.get<std::string>() : payload.dump();
}

}  // namespace

const WatchRule* OutcomeLoop::rule(const std::string& name) const {
  for (const auto& r : rules_)
    if (r.name == name) return &r;
  return nullptr;
}

store::SendOutcome OutcomeLoop::handle(const store::Event& e, store::Db& ledger_db) {
  auto log = logger("ingest");
  const WatchRule* r = nullptr;
  Source source;
  bool complete = false;
  std::string reason;
  if (e.kind == "ingest_refused") {
    r = rule(e.payload.value("rule", std::string()));
    source = {e.payload.value("key", std::string()), e.payload.value("version", std::string()), 0};
    reason = e.payload.value("reason", std::string());
  } else {
    auto entry = store::IngestStore(ledger_db).by_job(e.job_id);
    if (!entry) return {false, entry.status().message(), 0};
    if (!*entry) return {true, "", 0};  // not an ingested job
    r = rule((*entry)->sighting.rule);
    source = {(*entry)->sighting.key, (*entry)->sighting.version, e.job_id};
    complete = e.kind == "complete";
    if (!complete) reason = error_text(e.payload);
  }
  if (!r) return {true, "", 0};  // its rule is no longer configured: nothing to do
  const char* on = complete ? "complete" : "failed";
  Status st = complete ? actions_.completed(*r, source) : actions_.failed(*r, source, reason);
  if (!st.is_ok()) {
    actions(r->name, on, "error").inc();
    log->warn("rule {}: after {}:{} {}: {}", r->name, r->location, source.key, complete ? "completed" : "failed",
              st.message());
    return {false, st.message(), 0};
  }
  actions(r->name, on, "ok").inc();
  return {true, "", 0};
}

Result<int> OutcomeLoop::step(store::Db& events_db, store::Db& ledger_db, int max) {
  store::EventStore events(events_db);
  if (!registered_) {  // from now on: ingest keeps no history to catch up on before its first start
    KILN_RETURN_IF_ERROR(events.ensure_receiver(kOutcomeReceiver));
    registered_ = true;
  }
  static const std::vector<std::string> kKinds = {"complete", "discarded", "ingest_refused"};
  int handled = 0;
  for (int i = 0; i < max; ++i) {
    auto step = events.deliver_next(kOutcomeReceiver, kKinds, policy_,
                                    [&](const store::Event& e) { return handle(e, ledger_db); });
    if (!step) return step.status();
    using What = store::DeliveryStep::What;
    if (step->what == What::kDelivered) {
      ++handled;
      continue;
    }
    if (step->what == What::kDeadLettered) {
      ++handled;
      dead_lettered().inc();
      logger("ingest")->warn("gave up acting on event {} ({} of job {}) after {} tries: {}; dead-lettered",
                             step->event.id, step->event.kind, step->event.job_id, step->attempts, step->error);
      continue;
    }
    if (step->what == What::kFailed)
      logger("ingest")->warn("acting on event {} failed (try {} of {}); trying again in {} s", step->event.id,
                             step->attempts, policy_.max_attempts, step->retry_in_seconds);
    break;
  }
  return handled;
}

void OutcomeLoop::run(const std::string& database_url, double interval_seconds, const std::atomic<bool>& stop) {
  std::unique_ptr<store::Db> events_db, ledger_db;
  while (!stop.load()) {
    if (!events_db || !ledger_db) {
      auto a = store::Db::connect(database_url);
      auto b = store::Db::connect(database_url);
      if (a && b) {
        events_db = std::move(a).value();
        ledger_db = std::move(b).value();
      } else {
        logger("ingest")->warn("ingest actions: {}", (a ? b.status() : a.status()).message());
      }
    }
    if (events_db && ledger_db) {
      auto n = step(*events_db, *ledger_db, 50);
      if (!n) {
        logger("ingest")->warn("ingest actions: {}; connecting again", n.status().message());
        events_db.reset();
        ledger_db.reset();
      } else if (*n == 50) {
        continue;  // a backlog: no pause
      }
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(interval_seconds);
    while (!stop.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace kiln::coordinator::ingest
