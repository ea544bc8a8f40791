#pragma once
// The coordinator's HTTP API (cpp-httplib): jobs, nodes, devices, events (SSE), health,
// metrics, and S3 event notifications for ingest. Bearer tokens on everything but /healthz and
// /readyz; a request with no bearer token may be authenticated by a cookie hook (the web
// console's sessions, src/console/).
//
// Other modules add routes through route() (counted in kiln_api_requests_total under their
// pattern) and use authorize(), so every route has the same scopes, rate limits and errors.

#include <httplib.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "coordinator/config.hpp"
#include "kiln/status.hpp"
#include "storage/s3_clients.hpp"

namespace kiln::store {
class Db;
class StorePool;
}  // namespace kiln::store

namespace kiln::coordinator {

namespace ingest {
class EventIntake;
}

/// read < submit < admin; ingest (a store's webhook credential) may only post event
/// notifications, which admin may too.
enum class Scope { kRead = 0, kSubmit = 1, kAdmin = 2, kIngest = 3 };

/// What a cookie hook says about a request that carried no bearer token.
struct Caller {
  bool ok = false;
  std::string scope;     // read, submit, admin (when ok)
  std::string rate_key;  // the key of its per-caller rate limit (when ok)
  int http = 401;        // otherwise: the answer
  std::string code = "unauthenticated";
  std::string message;
};
/// Called on a request thread with a borrowed connection; must not throw.
using CookieAuth = std::function<Caller(const httplib::Request&, store::Db&)>;

/// {"error": {"code", "message"}} with `http`.
void send_error(httplib::Response& res, int http, const std::string& code, const std::string& message);
void send_json(httplib::Response& res, const nlohmann::json& body, int http = 200);
/// 503 database_unavailable with Retry-After; the store's own message goes to the log only.
void send_store_error(httplib::Response& res, const Status& st);
/// A path parameter as an id: 1 to 18 digits (fits int64); nullopt otherwise.
std::optional<int64_t> parse_id(const std::string& text);

class ApiServer {
 public:
  /// `intake` (may be null: no [[watch]] rules) serves POST /v1/ingest/s3-events; it must
  /// outlive the server.
  ApiServer(const Config& config, store::StorePool& pool, const ingest::EventIntake* intake = nullptr);
  ~ApiServer();
  /// Binds the listening socket; returns the port (useful with port 0).
  Result<int> bind();
  /// Serves until stop(). Blocks.
  void serve();
  void stop();

  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  using ReaderHandler = httplib::Server::HandlerWithContentReader;
  /// Adds a route for GET (which also answers HEAD), POST, DELETE or OPTIONS. A POST body over
  /// [api] max_body_bytes is refused (413) before `h` runs. Register before serve().
  void route(const std::string& method, const std::string& regex, const std::string& pattern, Handler h);
  /// Adds a PATCH route whose body is streamed to `h` (httplib's ContentReader) rather than
  /// read into memory; bodies with a Content-Length past `max_bytes` get 413 first.
  void route_patch_streamed(const std::string& regex, const std::string& pattern, size_t max_bytes, ReaderHandler h);
  /// Checks the caller (bearer token, else the cookie hook), the rate limit and the scope; on
  /// failure answers 401/403/429/503 and returns false. `scope_out` gets the caller's scope.
  bool authorize(const httplib::Request& req, httplib::Response& res, Scope need, std::string* scope_out = nullptr);
  void set_cookie_auth(CookieAuth hook);
  /// Takes one of [api] max_streams for a long-lived response; answers 503 + Retry-After and
  /// returns false when none is left. Every true is paired with one end_stream().
  bool begin_stream(httplib::Response& res);
  void end_stream();

  const Config& config() const;
  store::StorePool& pool();
  /// The coordinator's S3 clients, one per location (the console's bucket uploads use them).
  storage::S3Clients& s3_clients();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::coordinator
