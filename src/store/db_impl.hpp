#pragma once
// For src/store/*.cpp only: the connection behind a Db, the transaction runner that turns
// libpqxx exceptions into Status, and row helpers shared by the stores.

#include <fmt/format.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "log.hpp"
#include "store/db.hpp"

namespace kiln::store {

struct Db::Impl {
  std::string url;
  std::unique_ptr<pqxx::connection> conn;
  std::vector<std::string> channels;

  // Runs `fn` in a transaction. A dropped connection is re-established once and the work
  // retried (every operation here is one transaction, so a retry is safe).
  template <class F>
  auto run(const char* what, F&& fn) -> Result<decltype(fn(std::declval<pqxx::work&>()))> {
    for (int attempt = 0;; ++attempt) {
      try {
        if (!conn || !conn->is_open()) KILN_RETURN_IF_ERROR(reconnect());
        pqxx::work tx(*conn);
        auto out = fn(tx);
        tx.commit();
        return out;
      } catch (const pqxx::broken_connection& e) {
        // debug: the node's connection state logs an outage once, at warn, for all its threads
        logger("store")->debug("database connection lost during {}: {}", what, e.what());
        conn.reset();
        if (attempt >= 1) return Status(Code::kIo, fmt::format("database unavailable ({}): {}", what, e.what()));
      } catch (const std::exception& e) {
        return Status(Code::kIo, fmt::format("database error in {}: {}", what, e.what()));
      }
    }
  }

  Status reconnect();
};

/// `url` plus connect_timeout, TCP keepalives, tcp_user_timeout and a statement_timeout,
/// each unless the URL sets it already (URI or key=value form).
std::string with_connection_defaults(const std::string& url);

/// A PostgreSQL text[] literal: {"a","b"} with quotes and backslashes escaped.
std::string text_array(const std::vector<std::string>& items);

/// The outbox row for a state change, in the caller's transaction.
void add_tx_event(pqxx::work& tx, int64_t job_id, const std::string& kind, const nlohmann::json& payload);

}  // namespace kiln::store
