#pragma once
// The node's view of its database. DatabaseState is whether PostgreSQL is reachable, shared by
// every thread of the daemon: an outage is logged once at warn (its end at info), counted in
// kiln_node_database_outages_total, shown in the kiln_node_database_up gauge and in systemd's
// status line (ready=false) without the node exiting. DbLink is one thread's connection: it
// reconnects with exponential backoff and jitter and reports every outcome to the state.

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::node {

/// Whether the database is reachable, as the node's threads last found it. Thread-safe.
class DatabaseState {
 public:
  using Clock = std::chrono::steady_clock;
  /// `notify` receives systemd notify lines ("STATUS=..."); the default sends them with
  /// sd_notify (a no-op outside systemd).
  explicit DatabaseState(std::function<void(const std::string&)> notify = {});

  /// A call reached the database. Ends an outage (info, with its length).
  void report_ok();
  /// A call failed because the database could not be reached. Starts an outage (warn, once).
  void report_failure(const Status& why);

  bool up() const;
  /// Outages seen by this state since it was made.
  int64_t outages() const;

 private:
  mutable std::mutex mu_;
  bool up_ = true;
  int64_t outages_ = 0;
  Clock::time_point down_since_{};
  std::function<void(const std::string&)> notify_;
};

/// Exponential backoff with jitter: the n-th delay is min(cap, base * 2^n) times a factor in
/// [0.5, 1), so nodes that lost the database together do not reconnect in lockstep.
class Backoff {
 public:
  explicit Backoff(double base_seconds = 0.25, double cap_seconds = 15)
      : base_(base_seconds), cap_(cap_seconds) {}
  /// The next delay in seconds; `unit` in [0, 1) draws the jitter.
  double next(double unit);
  void reset() { n_ = 0; }

 private:
  double base_, cap_;
  int n_ = 0;
};

/// Reconnect backoff for a node whose leases last `lease_seconds`: capped at an eighth of the
/// lease (at most 15 s), so after an outage shorter than the lease the connection comes back
/// with most of the lease left (the last renewal was up to a heartbeat before it began).
inline Backoff backoff_for_lease(double lease_seconds) {
  return Backoff(0.1, std::clamp(lease_seconds / 8, 0.25, 15.0));
}

/// One thread's database connection. Not thread-safe (like the Db it holds).
class DbLink {
 public:
  using Clock = std::chrono::steady_clock;
  DbLink(std::string url, DatabaseState& state, Backoff backoff = Backoff());
  ~DbLink();

  /// LISTEN on `channel` now or as soon as connected, and again after every reconnect.
  void listen(const std::string& channel);
  /// The connection, or nullptr while the database is unreachable and the next try is not due.
  store::Db* get();
  /// How long until the next reconnect try is due (zero when one may be made now).
  std::chrono::milliseconds retry_in() const;

  /// Calls fn(Db&) (returning a Status or a Result) and reports the outcome to the state.
  /// While backing off it does not call fn and returns kIo "database unreachable".
  template <class F>
  auto run(F&& fn) -> decltype(fn(std::declval<store::Db&>())) {
    using R = decltype(fn(std::declval<store::Db&>()));
    store::Db* db = get();
    if (!db) return R(Status(Code::kIo, "database unreachable; reconnecting"));
    R r = fn(*db);
    if constexpr (std::is_same_v<R, Status>) {
      r.is_ok() ? succeeded() : after_failure(r);
    } else {
      r.is_ok() ? succeeded() : after_failure(r.status());
    }
    return r;
  }

 private:
  void succeeded();
  void after_failure(const Status& why);
  void failed(const Status& why);

  std::string url_;
  DatabaseState& state_;
  Backoff backoff_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::unique_ptr<store::Db> db_;
  std::vector<std::string> channels_;
  Clock::time_point next_try_{};
};

}  // namespace kiln::node
