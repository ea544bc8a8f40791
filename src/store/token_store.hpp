#pragma once
// API tokens: only a token's SHA-256 is stored. A view over a Db: not thread-safe, like the Db
// it uses.

#include <string>

#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::store {

class TokenStore {
 public:
  explicit TokenStore(Db& db);

  /// A new token with `scope` (read, submit, admin); returned once, only its hash is kept.
  Result<std::string> create_token(const std::string& scope, const std::string& note);
  /// "submit", "read" or "admin" for a valid token, "" for none.
  Result<std::string> scope_of(const std::string& token);

 private:
  Db& db_;
};

}  // namespace kiln::store
