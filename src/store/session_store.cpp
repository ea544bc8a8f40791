#include "store/session_store.hpp"

#include "store/db_impl.hpp"

namespace kiln::store {

namespace {
// 32 random bytes from the server's CSPRNG, as the API tokens are made.
constexpr const char* kRandom = "replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')";
}  // namespace

SessionStore::SessionStore(Db& db) : db_(db) {}

Result<std::optional<Session>> SessionStore::create(const std::string& token, double seconds) {
  return db_.impl().run("create_session", [&](pqxx::work& tx) -> std::optional<Session> {
    auto t = tx.exec_params(
        "SELECT id, scope, least(now() + make_interval(secs => $2), coalesce(expires_at, 'infinity')) "
        "FROM kiln_tokens WHERE hash = sha256(convert_to($1, 'UTF8')) "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
        token, seconds);
    if (t.empty()) return std::nullopt;
    auto r = tx.exec_params(
        std::string("WITH v AS (SELECT 'ks_' || ") + kRandom + " AS cookie, " + kRandom + " AS csrf) "
        "INSERT INTO kiln_sessions (hash, token_id, csrf, expires_at) "
        "SELECT sha256(convert_to(v.cookie, 'UTF8')), $1, v.csrf, $2::timestamptz FROM v "
        "RETURNING (SELECT cookie FROM v), csrf, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        t[0][0].as<int64_t>(), t[0][2].c_str());
    Session s;
    s.cookie = r[0][0].c_str();
    s.csrf = r[0][1].c_str();
    s.expires_at = r[0][2].c_str();
    s.scope = t[0][1].c_str();
    s.token_id = t[0][0].as<int64_t>();
    return s;
  });
}

Result<std::optional<Session>> SessionStore::find(const std::string& cookie) {
  return db_.impl().run("find_session", [&](pqxx::work& tx) -> std::optional<Session> {
    auto r = tx.exec_params(
        "SELECT s.csrf, t.scope, t.id, to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "FROM kiln_sessions s JOIN kiln_tokens t ON t.id = s.token_id "
        "WHERE s.hash = sha256(convert_to($1, 'UTF8')) AND s.expires_at > now() "
        "AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
        cookie);
    if (r.empty()) return std::nullopt;
    Session s;
    s.csrf = r[0][0].c_str();
    s.scope = r[0][1].c_str();
    s.token_id = r[0][2].as<int64_t>();
    s.expires_at = r[0][3].c_str();
    return s;
  });
}

Result<bool> SessionStore::end(const std::string& cookie) {
  return db_.impl().run("end_session", [&](pqxx::work& tx) {
    return !tx.exec_params("DELETE FROM kiln_sessions WHERE hash = sha256(convert_to($1, 'UTF8')) RETURNING 1", cookie)
                .empty();
  });
}

Result<int> SessionStore::prune(int limit) {
  return db_.impl().run("prune_sessions", [&](pqxx::work& tx) {
    auto r = tx.exec_params(
        "DELETE FROM kiln_sessions WHERE hash IN (SELECT hash FROM kiln_sessions WHERE expires_at <= now() LIMIT $1)",
        limit);
    return static_cast<int>(r.affected_rows());
  });
}

}  // namespace kiln::store
