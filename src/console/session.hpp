#pragma once
// Console sessions: POST /console/session exchanges an API token for an HttpOnly,
// SameSite=Strict cookie (Secure over TLS) and a CSRF value; GET reads the session back (the
// page asks after a reload, since it cannot read the cookie); DELETE signs out. The cookie
// hook lets every API route accept the cookie in place of a bearer token, and refuses a
// state-changing request (anything but GET/HEAD) whose X-Kiln-CSRF header is not the session's.

#include <optional>
#include <string>

#include "coordinator/api.hpp"

namespace kiln::console {

inline constexpr const char* kSessionCookie = "kiln_session";
inline constexpr const char* kCsrfHeader = "X-Kiln-CSRF";

/// The value of cookie `name` in the request's Cookie header(s); nullopt if absent.
std::optional<std::string> cookie_value(const httplib::Request& req, const std::string& name);

/// Whether the request reached us over TLS (directly, or through a proxy that says so with
/// X-Forwarded-Proto: https), as [console] secure_cookie = auto decides the Secure attribute.
bool secure_request(const httplib::Request& req, const std::string& secure_cookie);

/// The cookie hook for ApiServer::set_cookie_auth.
coordinator::Caller session_caller(const httplib::Request& req, store::Db& db);

/// Adds /console/session (POST sign in, GET, DELETE sign out) to `api`.
void add_session_routes(coordinator::ApiServer& api);

/// True if the request carries a live session cookie (pages use it to redirect to sign-in).
/// A database error counts as no session.
bool has_session(coordinator::ApiServer& api, const httplib::Request& req);

}  // namespace kiln::console
