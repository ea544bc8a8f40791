#include "node/db_link.hpp"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cmath>

#include "log.hpp"
#include "metrics/registry.hpp"

namespace kiln::node {
namespace {

metrics::Gauge& up_gauge() {
  static metrics::Gauge& g = metrics::default_registry()
                                 .gauge("kiln_node_database_up", "1 while this node reaches PostgreSQL, 0 during an outage.")
                                 .gauge();
  return g;
}
metrics::Counter& outages_counter() {
  static metrics::Counter& c = metrics::default_registry()
                                   .counter("kiln_node_database_outages_total",
                                            "Times this node lost PostgreSQL (running jobs go on meanwhile).")
                                   .counter();
  return c;
}

}  // namespace

DatabaseState::DatabaseState(std::function<void(const std::string&)> notify) : notify_(std::move(notify)) {
  if (!notify_) notify_ = [](const std::string& line) { sd_notify(0, line.c_str()); };
  up_gauge().set(1);
}

void DatabaseState::report_ok() {
  std::lock_guard lock(mu_);
  if (up_) return;
  up_ = true;
  up_gauge().set(1);
  double seconds = std::chrono::duration<double>(Clock::now() - down_since_).count();
  logger("node")->info("database reachable again after {:.1f} s; sending the progress kept meanwhile", seconds);
  notify_("STATUS=ready=true: database reachable");
}

void DatabaseState::report_failure(const Status& why) {
  std::lock_guard lock(mu_);
  if (!up_) return;
  up_ = false;
  ++outages_;
  down_since_ = Clock::now();
  up_gauge().set(0);
  outages_counter().inc();
  logger("node")->warn("database unreachable ({}); running jobs go on, no new claims until it is back",
                       why.message());
  notify_("STATUS=ready=false: database unreachable; running jobs go on, reconnecting");
}

bool DatabaseState::up() const {
  std::lock_guard lock(mu_);
  return up_;
}

int64_t DatabaseState::outages() const {
  std::lock_guard lock(mu_);
  return outages_;
}

double Backoff::next(double unit) {
  double d = std::min(cap_, base_ * std::pow(2.0, std::min(n_, 30)));
  ++n_;
  return d * (0.5 + 0.5 * std::clamp(unit, 0.0, 1.0));
}

DbLink::DbLink(std::string url, DatabaseState& state, Backoff backoff)
    : url_(std::move(url)), state_(state), backoff_(backoff) {}
DbLink::~DbLink() = default;

void DbLink::listen(const std::string& channel) {
  channels_.push_back(channel);
  if (db_) (void)db_->listen(channel);  // Db re-LISTENs after its own reconnects
}

store::Db* DbLink::get() {
  if (db_ && db_->connected()) return db_.get();
  if (Clock::now() < next_try_) return nullptr;
  if (db_) return db_.get();  // broken: the next call through it reconnects (and reports)
  auto db = store::Db::connect(url_);
  if (!db) {
    failed(db.status());
    return nullptr;
  }
  db_ = std::move(db).value();
  for (const auto& ch : channels_) (void)db_->listen(ch);
  succeeded();
  return db_.get();
}

std::chrono::milliseconds DbLink::retry_in() const {
  auto now = Clock::now();
  if (next_try_ <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(next_try_ - now);
}

void DbLink::succeeded() {
  backoff_.reset();
  next_try_ = {};
  state_.report_ok();
}

void DbLink::after_failure(const Status& why) {
  // A query that failed on a live connection is the caller's to handle; a lost connection
  // is an outage.
  if (db_ && db_->connected()) return;
  failed(why);
}

void DbLink::failed(const Status& why) {
  std::uniform_real_distribution<double> unit(0, 1);
  double delay = backoff_.next(unit(rng_));
  next_try_ = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(delay * 1000));
  logger("node")->debug("database: {}; next try in {:.2f} s", why.message(), delay);
  state_.report_failure(why);
}

}  // namespace kiln::node
