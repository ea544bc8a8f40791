#include "node/progress_reporter.hpp"

#include <systemd/sd-daemon.h>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/event_store.hpp"
#include "store/job_store.hpp"
#include "store/node_store.hpp"

namespace kiln::node {
namespace {
using Clock = std::chrono::steady_clock;

metrics::Gauge& fps_gauge() {
  static metrics::Gauge& g =
      metrics::default_registry().gauge("kiln_node_encode_fps", "Source frames per second encoded by running jobs.").gauge();
  return g;
}
}  // namespace

ProgressReporter::ProgressReporter(const NodeConfig& config, std::string node_name, JobTable& jobs,
                                   DatabaseState& state, Hooks hooks)
    : config_(config), name_(std::move(node_name)), jobs_(jobs), link_(config.database_url, state, backoff_for_lease(config.lease_seconds)),
      hooks_(std::move(hooks)) {}

void ProgressReporter::run() {
  while (!stop_.load()) {
    try {
      beat();
    } catch (const std::exception& e) {
      logger("node")->error("heartbeat round failed: {}; the next one runs as usual", e.what());
    } catch (...) {
      logger("node")->error("heartbeat round failed with an unknown exception; the next one runs as usual");
    }
    sd_notify(0, "WATCHDOG=1");
    wait_beat();
  }
}

void ProgressReporter::beat() {
  const bool draining = hooks_.draining && hooks_.draining();
  const char* state = draining ? "draining" : "up";
  (void)link_.run([&](store::Db& db) {
    return hooks_.devices ? store::NodeStore(db).node_heartbeat(name_, state, hooks_.devices())
                          : store::NodeStore(db).node_heartbeat(name_, state);
  });
  double fps_total = 0;
  for (auto& j : jobs_.snapshot()) beat_job(*j, &fps_total);
  fps_gauge().set(fps_total);
  if (hooks_.each_beat) hooks_.each_beat(link_.get());
}

void ProgressReporter::beat_job(RunningJob& j, double* fps_total) {
  if (j.lost || j.done) return;
  nlohmann::json progress = j.progress_copy();
  *fps_total += progress.value("fps", 0.0);
  if (j.lease_expired()) {
    // Not renewed for a whole lease (the database was unreachable): another node may run it
    // now. Stop; nothing gets published.
    j.lost = true;
    j.cancel = true;
    logger("node")->warn("job {} attempt {}: lease ran out while the database was unreachable; stopping it",
                         j.claim.id, j.claim.attempt);
    return;
  }
  if (!link_.get()) return;  // unreachable: the progress stays with the job until next time
  auto sent = Clock::now();
  auto hb = link_.run([&](store::Db& db) {
    return store::JobStore(db).heartbeat(j.claim.id, j.claim.attempt, progress, config_.lease_seconds);
  });
  if (!hb) return;
  if (!hb->owned) {
    j.lost = true;
    j.cancel = true;
    return;
  }
  j.renewed(sent, config_.lease_seconds);
  if (hb->cancel_requested) {
    j.cancel_requested = true;
    j.cancel = true;
  }
  if (Clock::now() - j.last_status_update > std::chrono::seconds(10)) {
    (void)link_.run([&](store::Db& db) { return store::EventStore(db).add_event(j.claim.id, "status_update", progress); });
    j.last_status_update = Clock::now();
  }
}

void ProgressReporter::wait_beat() {
  auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(config_.heartbeat_seconds * 1000));
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] { return stop_.load() || now_; });
  now_ = false;
}

void ProgressReporter::poke() {
  {
    std::lock_guard lock(mu_);
    now_ = true;
  }
  cv_.notify_all();
}

void ProgressReporter::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

}  // namespace kiln::node
