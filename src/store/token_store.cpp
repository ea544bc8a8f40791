#include "store/token_store.hpp"

#include "store/db_impl.hpp"

namespace kiln::store {

TokenStore::TokenStore(Db& db) : db_(db) {}

Result<std::string> TokenStore::create_token(const std::string& scope, const std::string& note) {
  return db_.impl().run("create_token", [&](pqxx::work& tx) {
    // 32 random bytes from the server's CSPRNG (gen_random_uuid is built in since 13).
    auto r = tx.exec("SELECT 'kiln_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')");
    std::string token = r[0][0].c_str();
    tx.exec_params("INSERT INTO kiln_tokens (hash, scope, note) VALUES (sha256(convert_to($1, 'UTF8')), $2, $3)",
                   token, scope, note);
    return token;
  });
}

Result<std::string> TokenStore::scope_of(const std::string& token) {
  return db_.impl().run("scope_of", [&](pqxx::work& tx) {
    auto r = tx.exec_params("SELECT scope FROM kiln_tokens WHERE hash = sha256(convert_to($1, 'UTF8')) "
                            "AND revoked_at IS NULL", token);
    return r.empty() ? std::string() : std::string(r[0][0].c_str());
  });
}

}  // namespace kiln::store
