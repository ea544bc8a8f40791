#include "coordinator/coordinator.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "alert/senders.hpp"
#include "alert/wording.hpp"
#include "coordinator/api.hpp"
#include "coordinator/ingest/ingest_service.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/event_store.hpp"
#include "store/job_store.hpp"
#include "store/node_store.hpp"
#include "store/retention.hpp"
#include "store/store_pool.hpp"

namespace kiln::coordinator {
namespace {

constexpr int64_t kLeaderLock = 0x6b696c6e01;  // pg_advisory_lock key: the chores' leader

std::string iso_in(double seconds) {
  auto t = std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

void sleep_unless_stopped(const std::atomic<bool>& stop, double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (!stop.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

/// Retention: one bounded batch of old events and of old finished jobs per chore round.
void prune_history(const Config& config, store::Db& db) {
  constexpr double kDay = 86400;
  store::Retention retention(db);
  auto log = logger("coordinator");
  if (config.event_retention_days > 0) {
    auto n = retention.prune_events(config.event_retention_days * kDay, config.retention_batch_rows);
    if (!n) log->warn("retention: {}", n.status().message());
    else if (*n > 0) log->info("retention: deleted {} event(s) older than {} days", *n, config.event_retention_days);
  }
  if (config.job_retention_days > 0) {
    auto n = retention.prune_jobs(config.job_retention_days * kDay, config.retention_batch_rows);
    if (!n) log->warn("retention: {}", n.status().message());
    else if (*n > 0) log->info("retention: deleted {} job(s) finished more than {} days ago", *n, config.job_retention_days);
  }
}

/// Leader chores: only the coordinator holding the advisory lock runs them.
/// `leading` mirrors whether this coordinator holds the lock, for the Alertmanager sender.
void chores(const Config& config, const std::atomic<bool>& stop, std::atomic<bool>& leading) {
  auto log = logger("coordinator");
  std::unique_ptr<store::Db> store;
  const store::RetryPolicy policy{config.retry_base_seconds};
  bool leader = false;
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0, 1);
  while (!stop.load()) {
    if (!store) {
      auto s = store::Db::connect(config.database_url);
      if (s) store = std::move(s).value();
      leader = false;
    }
    leading = leader;
    if (store && !leader) {
      auto got = store->try_leader_lock(kLeaderLock);
      if (!got) store.reset();
      else if (*got) {
        leader = true;
        leading = true;
        log->info("this coordinator runs the reaper and the Alertmanager sender (leader)");
      }
    }
    if (store && leader) {
      auto reaped = store::JobStore(*store, policy).reap_expired_leases(unit(rng));
      if (!reaped) {
        log->warn("reaper: {}", reaped.status().message());
        store.reset();
      } else if (*reaped > 0) {
        log->warn("reaper: {} job(s) whose node stopped renewing its lease went back to the queue", *reaped);
        metrics::default_registry().counter("kiln_lease_losses_total", "Leases that expired on a node.").counter().inc(*reaped);
      }
      if (store) {
        auto counts = store::JobStore(*store).count_by_state();
        if (counts) {
          auto& jobs = metrics::default_registry().gauge("kiln_jobs", "Jobs by state.", {"state"});
          for (const auto& [state, n] : *counts) jobs.gauge({state}).set(static_cast<double>(n));
        }
        auto lost = store::NodeStore(*store).mark_lost_nodes(config.node_timeout_seconds);
        if (lost) for (const auto& n : *lost) log->warn("node {} lost: no heartbeat for {} s", n, config.node_timeout_seconds);
        prune_history(config, *store);
      }
    }
    sleep_unless_stopped(stop, config.reap_interval_seconds);
  }
}

/// Webhooks and Slack: each (event, receiver) is sent by one coordinator, in commit order, with
/// retries (Retry-After wins over the backoff) and a dead letter after delivery_max_attempts.
///
/// Why SKIP LOCKED per receiver rather than leader-only delivery: every coordinator runs this
/// loop and whichever first locks a receiver's cursor row sends its next event, so receivers
/// are spread over coordinators (one slow or dead receiver does not hold up the others), and
/// failover needs no election: the row lock goes with a dead coordinator's connection. Order
/// holds because the cursor only moves in the transaction that holds the lock.
void deliver_events(const Receiver& r, store::EventStore& store, const store::DeliveryPolicy& policy,
                    metrics::Family& deliveries, metrics::Family& dead_letters) {
  auto log = logger("alert");
  for (int i = 0; i < 50; ++i) {  // a bounded round: other receivers get their turn
    auto step = store.deliver_next(r.name, r.events, policy, [&](const store::Event& e) {
      auto sent = alert::post_json(r.url, r.type == "slack" ? alert::slack_body(e) : alert::webhook_body(e));
      return store::SendOutcome{sent.ok, sent.error, sent.retry_after_seconds};
    });
    if (!step) {
      log->warn("{}: delivery: {}", r.name, step.status().message());
      return;
    }
    using What = store::DeliveryStep::What;
    switch (step->what) {
      case What::kDelivered:
        deliveries.counter({r.name, "ok"}).inc();
        continue;
      case What::kFailed:
        deliveries.counter({r.name, "error"}).inc();
        log->warn("{}: delivering event {} failed (try {} of {}: {}); retrying in {} s", r.name, step->event.id,
                  step->attempts, policy.max_attempts, step->error, step->retry_in_seconds);
        return;  // keep order: later events wait for this one
      case What::kDeadLettered:
        deliveries.counter({r.name, "error"}).inc();
        dead_letters.counter({r.name}).inc();
        log->warn("{}: gave up on event {} ({} of job {}) after {} tries: {}; dead-lettered, moving on", r.name,
                  step->event.id, step->event.kind, step->event.job_id, step->attempts, step->error);
        continue;
      default:
        return;  // idle, backing off, or another coordinator has it
    }
  }
}

/// Alertmanager: the conditions firing now, re-sent while they fire; ones that cleared are
/// sent once more with endsAt = now, which resolves them.
struct AlertmanagerState {
  std::map<std::string, alert::Alert> firing;  // by label set
  std::chrono::steady_clock::time_point last_sent{};
};

void deliver_alerts(const Receiver& r, store::EventStore& store, AlertmanagerState& st, metrics::Family& deliveries) {
  auto conditions = store.firing_conditions();
  if (!conditions) return;
  std::map<std::string, alert::Alert> now;
  for (auto& a : alert::word_all(*conditions)) now[a.labels.dump()] = std::move(a);
  std::vector<alert::Alert> resolved;
  for (const auto& [k, a] : st.firing)
    if (!now.count(k)) resolved.push_back(a);
  bool changed = !resolved.empty() || now.size() != st.firing.size();
  for (const auto& [k, a] : now) changed |= !st.firing.count(k);
  bool due = std::chrono::steady_clock::now() - st.last_sent > std::chrono::duration<double>(r.resend_seconds);
  if (!changed && !due) return;
  std::string url = r.url + "/api/v2/alerts";
  bool ok = true;
  if (!resolved.empty()) {
    auto sent = alert::post_json(url, alert::alertmanager_body(resolved, iso_in(-1)));
    ok &= sent.ok;
  }
  if (!now.empty()) {
    std::vector<alert::Alert> list;
    for (const auto& [k, a] : now) list.push_back(a);
    auto sent = alert::post_json(url, alert::alertmanager_body(list, iso_in(3 * r.resend_seconds)));
    ok &= sent.ok;
    if (!sent.ok) logger("alert")->warn("{}: Alertmanager at {}: {}", r.name, r.url, sent.error);
  }
  deliveries.counter({r.name, ok ? "ok" : "error"}).inc();
  if (ok) {
    st.firing = std::move(now);
    st.last_sent = std::chrono::steady_clock::now();
  }
}

/// Alertmanager gets the firing set from the leader only (`leading`): a set that every
/// coordinator posted would arrive N times, and a new leader posts its own set at once.
void delivery(const Config& config, const std::atomic<bool>& stop, const std::atomic<bool>& leading) {
  auto& deliveries = metrics::default_registry().counter(
      "kiln_alert_deliveries_total", "Alert and webhook deliveries by receiver and outcome.", {"receiver", "outcome"});
  auto& dead_letters = metrics::default_registry().counter(
      "kiln_alert_dead_letters_total", "Deliveries given up after delivery_max_attempts, by receiver.", {"receiver"});
  const store::DeliveryPolicy policy{config.delivery_max_attempts, config.delivery_retry_seconds};
  std::map<std::string, AlertmanagerState> am;
  std::unique_ptr<store::Db> db;
  bool registered = false;
  while (!stop.load()) {
    if (!db) {
      auto s = store::Db::connect(config.database_url);
      if (s) db = std::move(s).value();
    }
    if (db) {
      store::EventStore events(*db);
      if (!registered) {  // a receiver new to the database starts from now
        registered = true;
        for (const auto& r : config.receivers) {
          if (r.type == "alertmanager") continue;
          if (auto st = events.ensure_receiver(r.name); !st.is_ok()) {
            logger("alert")->warn("{}: registering the receiver: {}", r.name, st.message());
            registered = false;
          }
        }
      }
      if (auto n = events.sequence_events(1000); !n) logger("alert")->warn("numbering events: {}", n.status().message());
      for (const auto& r : config.receivers) {
        if (r.type == "alertmanager") {
          if (leading.load()) deliver_alerts(r, events, am[r.name], deliveries);
          else am[r.name] = {};  // if this one leads later, it sends its set at once
        }
        else deliver_events(r, events, policy, deliveries, dead_letters);
      }
    }
    sleep_unless_stopped(stop, config.delivery_interval_seconds);
  }
}

/// A coordinator thread's top: an exception (a bug, or a library surprise) is logged and the
/// loop starts again a second later, until `stop`. It never ends the process.
void guarded(const char* what, const std::atomic<bool>& stop, const std::function<void()>& loop) {
  while (!stop.load()) {
    try {
      loop();
      return;
    } catch (const std::exception& e) {
      logger("coordinator")->error("{}: {}; starting it again in a second", what, e.what());
    } catch (...) {
      logger("coordinator")->error("{}: unknown exception; starting it again in a second", what);
    }
    sleep_unless_stopped(stop, 1.0);
  }
}

}  // namespace

int run(const Config& config, const std::atomic<bool>& stop, const std::function<void(int)>& on_listening,
        const Extension& extend) {
  auto log = logger("coordinator");
  int version = 0;
  auto store = store::Db::open_migrated(config.database_url, &version);
  if (!store) {
    log->error("{}", store.status().message());
    return exit_code(store.status().code());
  }
  {  // receivers new to the database start from now: before this coordinator takes requests
    store::EventStore events(**store);
    for (const auto& r : config.receivers)
      if (r.type != "alertmanager")
        if (auto st = events.ensure_receiver(r.name); !st.is_ok())
          log->warn("{}: registering the receiver: {} (the delivery loop retries)", r.name, st.message());
    // Ingest's own receiver too: an upload taken by the first request must get its actions.
    if (!config.watches.empty())
      if (auto st = events.ensure_receiver(ingest::kOutcomeReceiver); !st.is_ok())
        log->warn("{}: registering the receiver: {} (the ingest loop retries)", ingest::kOutcomeReceiver, st.message());
  }
  store::StorePool pool(config.database_url, config.api_threads);  // one per API worker thread
  if (config.locations.empty())
    log->warn("no [[location]] configured: every submission will be refused (path_not_allowed)");
  ingest::IngestService ingest(config);
  ApiServer api(config, pool, ingest.intake());
  std::shared_ptr<void> extension = extend ? extend(api, stop) : nullptr;
  auto port = api.bind();
  if (!port) {
    log->error("{}", port.status().message());
    return exit_code(port.status().code());
  }
  log->info("schema version {}; API on http://{}:{}", version, config.listen_host, *port);
  if (on_listening) on_listening(*port);
  std::thread server([&] { guarded("API server", stop, [&] { api.serve(); }); });
  std::atomic<bool> leading{false};
  std::thread reaper([&] { guarded("chores", stop, [&] { chores(config, stop, leading); }); });
  std::thread sender([&] { guarded("alert delivery", stop, [&] { delivery(config, stop, leading); }); });
  ingest.start(stop);
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  api.stop();
  server.join();
  reaper.join();
  sender.join();
  ingest.join();
  extension.reset();
  log->info("stopped");
  return 0;
}

}  // namespace kiln::coordinator
