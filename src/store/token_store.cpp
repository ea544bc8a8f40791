#include "store/token_store.hpp"

#include "store/db_impl.hpp"

namespace kiln::store {

TokenStore::TokenStore(Db& db) : db_(db) {}

Result<std::string> TokenStore::create_token(const std::string& scope, const std::string& note,
                                             double expires_seconds, int64_t* id) {
  return db_.impl().run("create_token", [&](pqxx::work& tx) {
    // 32 random bytes from the server's CSPRNG (gen_random_uuid is built in since 13).
    auto r = tx.exec("SELECT 'kiln_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')");
    std::string token = r[0][0].c_str();
    auto row = tx.exec_params(
        "INSERT INTO kiln_tokens (hash, scope, note, expires_at) VALUES (sha256(convert_to($1, 'UTF8')), $2, $3, "
        "CASE WHEN $4 > 0 THEN now() + make_interval(secs => $4) END) RETURNING id",
        token, scope, note, expires_seconds);
    if (id) *id = row[0][0].as<int64_t>();
    return token;
  });
}

Result<std::string> TokenStore::scope_of(const std::string& token) {
  return db_.impl().run("scope_of", [&](pqxx::work& tx) {
    auto r = tx.exec_params("SELECT scope FROM kiln_tokens WHERE hash = sha256(convert_to($1, 'UTF8')) "
                            "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())", token);
    return r.empty() ? std::string() : std::string(r[0][0].c_str());
  });
}

Result<bool> TokenStore::revoke(const std::string& id_or_token) {
  bool by_id = !id_or_token.empty() && id_or_token.size() <= 18 &&
               id_or_token.find_first_not_of("0123456789") == std::string::npos;
  return db_.impl().run("revoke_token", [&](pqxx::work& tx) {
    auto r = by_id ? tx.exec_params("UPDATE kiln_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL "
                                    "RETURNING id", std::stoll(id_or_token))
                   : tx.exec_params("UPDATE kiln_tokens SET revoked_at = now() WHERE hash = sha256(convert_to($1, 'UTF8')) "
                                    "AND revoked_at IS NULL RETURNING id", id_or_token);
    return !r.empty();
  });
}

}  // namespace kiln::store
