#include "coordinator/coordinator.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "alert/senders.hpp"
#include "coordinator/api.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/event_store.hpp"
#include "store/job_store.hpp"
#include "store/node_store.hpp"
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

/// Leader chores: only the coordinator holding the advisory lock runs them.
void chores(const Config& config, const std::atomic<bool>& stop) {
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
    if (store && !leader) {
      auto got = store->try_leader_lock(kLeaderLock);
      if (!got) store.reset();
      else if (*got) {
        leader = true;
        log->info("this coordinator runs the reaper (leader)");
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
      }
    }
    sleep_unless_stopped(stop, config.reap_interval_seconds);
  }
}

/// Webhooks and Slack: each event once per receiver, retried with backoff (Retry-After wins).
void deliver_events(const Receiver& r, store::EventStore& store, metrics::Family& deliveries) {
  auto pending = store.undelivered(r.name, r.events, 50);
  if (!pending) return;
  for (const auto& e : *pending) {
    auto body = r.type == "slack" ? alert::slack_body(e) : alert::webhook_body(e);
    auto sent = alert::post_json(r.url, body);
    deliveries.counter({r.name, sent.ok ? "ok" : "error"}).inc();
    if (sent.ok) {
      (void)store.mark_delivered(e.id, r.name);
    } else {
      double retry = sent.retry_after_seconds > 0 ? sent.retry_after_seconds : 5;
      logger("alert")->warn("{}: delivering event {} failed ({}); retrying in {} s", r.name, e.id, sent.error, retry);
      (void)store.mark_delivery_failed(e.id, r.name, sent.error, retry);
      break;  // keep order: later events wait for this one
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
  for (const auto& c : *conditions)
    now[c["labels"].dump()] = {c["labels"], {{"summary", c["summary"]}, {"description", c["description"]}}};
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

void delivery(const Config& config, const std::atomic<bool>& stop) {
  auto& deliveries = metrics::default_registry().counter(
      "kiln_alert_deliveries_total", "Alert and webhook deliveries by receiver and outcome.", {"receiver", "outcome"});
  std::map<std::string, AlertmanagerState> am;
  std::unique_ptr<store::Db> db;
  while (!stop.load()) {
    if (!db) {
      auto s = store::Db::connect(config.database_url);
      if (s) db = std::move(s).value();
    }
    if (db) {
      store::EventStore events(*db);
      for (const auto& r : config.receivers) {
        if (r.type == "alertmanager") deliver_alerts(r, events, am[r.name], deliveries);
        else deliver_events(r, events, deliveries);
      }
    }
    sleep_unless_stopped(stop, config.delivery_interval_seconds);
  }
}

}  // namespace

int run(const Config& config, const std::atomic<bool>& stop, const std::function<void(int)>& on_listening) {
  auto log = logger("coordinator");
  int version = 0;
  auto store = store::Db::open_migrated(config.database_url, &version);
  if (!store) {
    log->error("{}", store.status().message());
    return exit_code(store.status().code());
  }
  store::StorePool pool(config.database_url);
  ApiServer api(config, pool);
  auto port = api.bind();
  if (!port) {
    log->error("{}", port.status().message());
    return exit_code(port.status().code());
  }
  log->info("schema version {}; API on http://{}:{}", version, config.listen_host, *port);
  if (on_listening) on_listening(*port);
  std::thread server([&] { api.serve(); });
  std::thread reaper([&] { chores(config, stop); });
  std::thread sender([&] { delivery(config, stop); });
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  api.stop();
  server.join();
  reaper.join();
  sender.join();
  log->info("stopped");
  return 0;
}

}  // namespace kiln::coordinator
