#pragma once
// One PostgreSQL connection (libpqxx, kept inside src/store/). The stores of each concern
// (JobStore, EventStore, NodeStore, TokenStore) are thin views over a Db: construct the one a
// caller needs on the Db it holds. libpqxx exceptions stop here: callers get a Status (kIo: the
// database). Not thread-safe: one Db (one connection) per thread.

#include <cstdint>
#include <memory>
#include <string>

#include "kiln/status.hpp"

namespace kiln::store {

class Db {
 public:
  /// Connects (kIo with the server's message if it cannot).
  static Result<std::unique_ptr<Db>> connect(const std::string& url);
  /// Connects and applies the migrations: what the coordinator and `kiln migrate` do first.
  static Result<std::unique_ptr<Db>> open_migrated(const std::string& url, int* version = nullptr);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  /// Applies the embedded migrations not applied yet, under an advisory lock (safe to run from
  /// several coordinators at once). Returns the schema version.
  Result<int> migrate();

  /// False once the connection broke (the next call reconnects): tells a lost database from a
  /// query that failed on a live connection.
  bool connected() const;

  /// A round trip to the server (readiness checks).
  Status ping();

  /// LISTEN on a channel ("kiln_jobs": new work; "kiln_cancel": cancels); kept across reconnects.
  Status listen(const std::string& channel);
  /// True if a notification arrived within `seconds`.
  Result<bool> wait_notification(double seconds);

  /// Leader election for periodic chores: true if this session holds (or now took) the lock.
  /// Session-level: a dead leader's lock goes with its connection.
  Result<bool> try_leader_lock(int64_t key);

  /// The connection and its transaction runner; defined in store/db_impl.hpp, for src/store/ only.
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Db(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::store
