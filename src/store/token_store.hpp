#pragma once
// API tokens: only a token's SHA-256 is stored. A view over a Db: not thread-safe, like the Db
// it uses.

#include <cstdint>
#include <string>

#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::store {

class TokenStore {
 public:
  explicit TokenStore(Db& db);

  /// A new token with `scope` (read, submit, admin, ingest); returned once, only its hash is kept.
  /// `expires_seconds` > 0: the token stops working that long from now. `id` gets its row id.
  Result<std::string> create_token(const std::string& scope, const std::string& note,
                                   double expires_seconds = 0, int64_t* id = nullptr);
  /// "submit", "read", "admin" or "ingest" for a valid token, "" for none (unknown, revoked or
  /// expired).
  Result<std::string> scope_of(const std::string& token);
  /// Revokes by row id (all digits) or by the token itself. False if no live token matched.
  Result<bool> revoke(const std::string& id_or_token);

 private:
  Db& db_;
};

}  // namespace kiln::store
