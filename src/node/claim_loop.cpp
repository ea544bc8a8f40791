#include "node/claim_loop.hpp"

#include <algorithm>
#include <thread>

#include "log.hpp"
#include "store/job_store.hpp"

namespace kiln::node {

using namespace std::chrono_literals;

ClaimLoop::ClaimLoop(const NodeConfig& config, std::string node_name, int max_jobs, JobTable& jobs,
                     DatabaseState& state, Hooks hooks)
    : config_(config), name_(std::move(node_name)), max_jobs_(max_jobs), jobs_(jobs),
      work_(config.database_url, state, backoff_for_lease(config.lease_seconds)),
      listener_(config.database_url, state, backoff_for_lease(config.lease_seconds)), hooks_(std::move(hooks)) {
  listener_.listen("kiln_jobs");
  listener_.listen("kiln_cancel");
}

void ClaimLoop::run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    try {
      step(stop);
    } catch (const std::exception& e) {
      logger("node")->error("claim loop: {}; going on in a second", e.what());
      sleep_unless_stopped(1s, stop);
    } catch (...) {
      logger("node")->error("claim loop: unknown exception; going on in a second");
      sleep_unless_stopped(1s, stop);
    }
  }
}

void ClaimLoop::step(const std::atomic<bool>& stop) {
  if (static_cast<int>(jobs_.reap_done()) >= max_jobs_ || (hooks_.has_room && !hooks_.has_room())) {
    // Full (job slots, or every device's caps): still listen, so a cancel NOTIFY reaches the
    // running job at once.
    wait_for_work(0.1, stop);
    return;
  }
  if (!work_.get()) {
    sleep_unless_stopped(std::max(work_.retry_in(), 50ms), stop);
    return;
  }
  auto sent = std::chrono::steady_clock::now();
  auto c = work_.run([&](store::Db& db) { return store::JobStore(db).claim(name_, config_.queues, config_.lease_seconds); });
  if (!c) {
    if (work_.get())  // a failed query on a live connection (an outage is logged once elsewhere)
      logger("node")->warn("claiming: {}; retrying", c.status().message());
    sleep_unless_stopped(std::max(work_.retry_in(), 1000ms), stop);
    return;
  }
  if (c->has_value()) {
    hooks_.start(**c, sent);
    return;
  }
  // Idle: a NOTIFY on submit wakes us; the timeout is the poll fallback.
  wait_for_work(2.0, stop);
}

void ClaimLoop::wait_for_work(double seconds, const std::atomic<bool>& stop) {
  auto wanted = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  if (!listener_.get()) {
    sleep_unless_stopped(std::clamp(listener_.retry_in(), 50ms, std::max(wanted, 50ms)), stop);
    return;
  }
  auto woke = listener_.run([&](store::Db& db) { return db.wait_notification(seconds); });
  if (!woke) {
    sleep_unless_stopped(std::max(listener_.retry_in(), 100ms), stop);
    return;
  }
  if (*woke && hooks_.notified) hooks_.notified();
}

void ClaimLoop::sleep_unless_stopped(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(100ms, d));
}

}  // namespace kiln::node
