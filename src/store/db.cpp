#include "store/db.hpp"

#include "kiln/migrations.hpp"
#include "store/db_impl.hpp"

namespace kiln::store {
namespace {
constexpr int64_t kMigrationLock = 0x6b696c6e;  // "kiln": pg_advisory_lock key for migrations
}  // namespace

Status Db::Impl::reconnect() {
  try {
    conn = std::make_unique<pqxx::connection>(url);
    for (const auto& ch : channels) {
      pqxx::nontransaction tx(*conn);
      tx.exec("LISTEN " + tx.quote_name(ch));
    }
    return Status::ok();
  } catch (const std::exception& e) {
    conn.reset();
    return {Code::kIo, fmt::format("cannot connect to the database: {}", e.what())};
  }
}

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

void add_tx_event(pqxx::work& tx, int64_t job_id, const std::string& kind, const nlohmann::json& payload) {
  tx.exec_params("INSERT INTO kiln_events (job_id, kind, payload) VALUES ($1, $2, $3::jsonb)",
                 job_id, kind, payload.dump());
}

std::string with_connection_defaults(const std::string& url) {
  // Bounded waits: a dead server or a half-open TCP connection must surface as an error in
  // seconds, not hang a thread. An option the operator wrote in the URL wins.
  static const std::pair<const char*, const char*> kDefaults[] = {
      {"connect_timeout", "10"}, {"keepalives", "1"}, {"keepalives_idle", "30"},
      {"keepalives_interval", "10"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "60000"},
      {"options", "-c statement_timeout=60000"}};
  bool uri = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
  std::string out = url;
  for (const auto& [key, value] : kDefaults) {
    if (url.find(std::string(key) + "=") != std::string::npos) continue;
    if (uri) {
      std::string enc;
      for (const char* c = value; *c; ++c) {
        if (*c == ' ') enc.append("%20");
        else if (*c == '=') enc.append("%3D");
        else enc.push_back(*c);
      }
      out += fmt::format("{}{}={}", out.find('?') == std::string::npos ? '?' : '&', key, enc);
    } else {
      out += fmt::format(" {}='{}'", key, value);
    }
  }
  return out;
}

Db::Db(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Db::~Db() = default;

Result<std::unique_ptr<Db>> Db::connect(const std::string& url) {
  auto impl = std::make_unique<Impl>();
  impl->url = with_connection_defaults(url);
  KILN_RETURN_IF_ERROR(impl->reconnect());
  return std::unique_ptr<Db>(new Db(std::move(impl)));
}

Result<std::unique_ptr<Db>> Db::open_migrated(const std::string& url, int* version) {
  auto db = connect(url);
  if (!db) return db.status();
  auto v = (*db)->migrate();
  if (!v) return v.status();
  if (version) *version = *v;
  return db;
}

Result<int> Db::migrate() {
  return impl_->run("migrate", [](pqxx::work& tx) {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    tx.exec("CREATE TABLE IF NOT EXISTS kiln_schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    int current = tx.exec("SELECT coalesce(max(version), 0) FROM kiln_schema_migrations")[0][0].as<int>();
    for (const auto& m : kMigrations) {
      if (m.version <= current) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO kiln_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name);
      logger("store")->info("applied migration {}", m.name);
      current = m.version;
    }
    return current;
  });
}

bool Db::connected() const { return impl_->conn && impl_->conn->is_open(); }

Status Db::ping() {
  return impl_->run("ping", [](pqxx::work& tx) {
    tx.exec("SELECT 1");
    return 0;
  }).status();
}

Status Db::listen(const std::string& channel) {
  impl_->channels.push_back(channel);
  return impl_->run("listen", [&](pqxx::work& tx) {
    tx.exec("LISTEN " + tx.quote_name(channel));
    return 0;
  }).status();
}

Result<bool> Db::wait_notification(double seconds) {
  try {
    if (!impl_->conn || !impl_->conn->is_open()) KILN_RETURN_IF_ERROR(impl_->reconnect());
    long s = static_cast<long>(seconds);
    long us = static_cast<long>((seconds - s) * 1e6);
    return impl_->conn->await_notification(s, us) > 0;
  } catch (const pqxx::broken_connection& e) {
    impl_->conn.reset();
    return Status(Code::kIo, fmt::format("database connection lost while waiting: {}", e.what()));
  } catch (const std::exception& e) {
    return Status(Code::kIo, fmt::format("database error while waiting: {}", e.what()));
  }
}

Result<bool> Db::try_leader_lock(int64_t key) {
  try {
    if (!impl_->conn || !impl_->conn->is_open()) KILN_RETURN_IF_ERROR(impl_->reconnect());
    pqxx::nontransaction tx(*impl_->conn);
    return tx.exec_params("SELECT pg_try_advisory_lock($1)", key)[0][0].as<bool>();
  } catch (const std::exception& e) {
    impl_->conn.reset();
    return Status(Code::kIo, fmt::format("database error taking the leader lock: {}", e.what()));
  }
}

}  // namespace kiln::store
