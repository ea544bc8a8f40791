#pragma once
// Credentials for an S3-compatible store, and where they come from. The secret access key and
// the session token are Secrets: they print as "[redacted]", and only the signer reads them.
//
// Order (the first that has a key wins):
//   1. the location's `credential`: a file named so in $CREDENTIALS_DIRECTORY (systemd
//      LoadCredential=), in the shared credentials file format;
//   2. the location's `profile`: that profile of the shared credentials file;
//   3. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) in the environment;
//   4. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials),
//      profile AWS_PROFILE or "default".
// An operator who names a credential or profile for a location means it, so those come before
// the environment; with neither, the AWS SDKs' order applies.

#include <fmt/format.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "kiln/status.hpp"

namespace kiln::storage::s3 {

/// A secret string. Never formatted, logged or serialised: fmt prints "[redacted]".
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  bool empty() const { return value_.empty(); }
  /// The value itself: for the signer, and for redact() to find it in text.
  const std::string& reveal() const { return value_; }

 private:
  std::string value_;
};

struct Credentials {
  std::string access_key_id;  // an identifier, not a secret: it appears in messages
  Secret secret_access_key;
  Secret session_token;       // empty unless temporary credentials
  std::string source;         // where they came from, for messages: "environment", "profile 'x' of /p"
};

/// Where a location's credentials come from (its `credential` and `profile` keys).
struct CredentialSource {
  std::string systemd_credential;  // a file name in $CREDENTIALS_DIRECTORY
  std::string profile;             // a profile of the shared credentials file
};

/// The environment as a lookup, so tests need not change the process's own.
using Env = std::function<const char*(const char*)>;
/// The process environment (std::getenv).
Env process_env();

/// One profile of a credentials file (INI: `[name]`, `key = value`, `#`/`;` comments). Keys
/// are lower-cased. A file with no section header at all is read as the profile "default".
/// Errors (kUsage) name `origin` and the line, never a value.
Result<std::map<std::string, std::string>> parse_profile(std::string_view text, std::string_view profile,
                                                         std::string_view origin);

/// Credentials in the order above. kUsage when none is found (saying what was tried) or a named
/// file or profile is missing or lacks a key; never a secret in the message.
Result<Credentials> resolve_credentials(const CredentialSource& source, const Env& env);

/// `text` with every occurrence of the credentials' secret and session token replaced by
/// "[redacted]". Applied to every message the client builds from a server's or curl's words.
std::string redact(std::string text, const Credentials& credentials);

}  // namespace kiln::storage::s3

template <>
struct fmt::formatter<kiln::storage::s3::Secret> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const kiln::storage::s3::Secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("[redacted]", ctx);
  }
};
