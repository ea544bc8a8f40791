#pragma once
// Console sessions: an API token exchanged for a cookie. Only the cookie's SHA-256 is stored;
// a session lives no longer than its token (a revoked or expired token ends every session made
// from it). A view over a Db: not thread-safe, like the Db it uses.

#include <optional>
#include <string>

#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::store {

struct Session {
  std::string cookie;      // only when just created: the value for Set-Cookie
  std::string csrf;        // the value every state-changing request carries in X-Kiln-CSRF
  std::string scope;       // the token's: read, submit or admin
  int64_t token_id = 0;
  std::string expires_at;  // ISO 8601
};

class SessionStore {
 public:
  explicit SessionStore(Db& db);

  /// A session for a valid token, `seconds` long (never past the token's own expiry);
  /// nullopt for an unknown, revoked or expired token.
  Result<std::optional<Session>> create(const std::string& token, double seconds);
  /// The live session a cookie names (cookie left empty); nullopt if none.
  Result<std::optional<Session>> find(const std::string& cookie);
  /// Ends the session (sign out). False if there was none.
  Result<bool> end(const std::string& cookie);
  /// Deletes up to `limit` expired sessions; returns how many.
  Result<int> prune(int limit);

 private:
  Db& db_;
};

}  // namespace kiln::store
