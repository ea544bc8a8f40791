#include "console/session.hpp"

#include <fmt/format.h>

#include "console/headers.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/session_store.hpp"
#include "store/store_pool.hpp"

namespace kiln::console {
namespace {

metrics::Family& sign_ins() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_console_sign_ins_total", "Console sign-in attempts by result (ok, refused).", {"result"});
  return f;
}

std::string set_cookie(const std::string& value, double max_age_seconds, bool secure) {
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", kSessionCookie, value,
                     static_cast<int64_t>(max_age_seconds), secure ? "; Secure" : "");
}

nlohmann::json session_json(const store::Session& s) {
  return {{"scope", s.scope}, {"csrf", s.csrf}, {"expiresAt", s.expires_at}};
}

}  // namespace

std::optional<std::string> cookie_value(const httplib::Request& req, const std::string& name) {
  size_t n = req.get_header_value_count("Cookie");
  for (size_t i = 0; i < n; ++i) {
    std::string header = req.get_header_value("Cookie", i);
    size_t pos = 0;
    while (pos < header.size()) {
      size_t end = header.find(';', pos);
      if (end == std::string::npos) end = header.size();
      std::string pair = header.substr(pos, end - pos);
      size_t a = pair.find_first_not_of(' ');
      if (a != std::string::npos) pair = pair.substr(a);
      if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
      pos = end + 1;
    }
  }
  return std::nullopt;
}

bool secure_request(const httplib::Request& req, const std::string& secure_cookie) {
  if (secure_cookie == "always") return true;
  if (secure_cookie == "never") return false;
  return req.get_header_value("X-Forwarded-Proto") == "https";
}

coordinator::Caller session_caller(const httplib::Request& req, store::Db& db) {
  coordinator::Caller c;
  auto cookie = cookie_value(req, kSessionCookie);
  if (!cookie || cookie->empty()) {
    c.message = "sign in to the console, or send an Authorization: Bearer <token> header";
    return c;
  }
  auto s = store::SessionStore(db).find(*cookie);
  if (!s) {
    c.http = 503;
    c.message = s.status().message();
    return c;
  }
  if (!*s) {
    c.message = "the console session has ended (signed out, expired, or its token was revoked); sign in again";
    return c;
  }
  if (req.method != "GET" && req.method != "HEAD" && req.get_header_value(kCsrfHeader) != (*s)->csrf) {
    c.http = 403;
    c.code = "csrf_failed";
    c.message = fmt::format("a request that changes something needs the session's {} header; reload the console",
                            kCsrfHeader);
    static metrics::Family& refused = metrics::default_registry().counter(
        "kiln_console_csrf_refused_total", "Requests with a session cookie refused for a missing or wrong CSRF header.");
    refused.counter().inc();
    logger("console")->warn("{} {}: refused, the {} header is missing or wrong", req.method, req.path, kCsrfHeader);
    return c;
  }
  c.ok = true;
  c.scope = (*s)->scope;
  c.rate_key = fmt::format("token#{}", (*s)->token_id);
  return c;
}

bool has_session(coordinator::ApiServer& api, const httplib::Request& req) {
  auto cookie = cookie_value(req, kSessionCookie);
  if (!cookie || cookie->empty()) return false;
  auto db = api.pool().borrow();
  if (!db) return false;
  auto s = store::SessionStore(**db).find(*cookie);
  return s && *s;
}

void add_session_routes(coordinator::ApiServer& api) {
  api.route("POST", "/console/session", "/console/session", [&api](const httplib::Request& req, httplib::Response& res) {
    security_headers(res);
    // A cross-site form cannot send JSON: this keeps other sites from signing a browser in.
    if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
      return coordinator::send_error(res, 415, "unsupported_media_type", "sign in with a JSON body: {\"token\": \"kiln_...\"}");
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("token") || !body["token"].is_string() || body["token"].get<std::string>().empty())
      return coordinator::send_error(res, 400, "invalid_request", "sign in with a JSON body: {\"token\": \"kiln_...\"}");
    auto db = api.pool().borrow();
    if (!db) return coordinator::send_store_error(res, db.status());
    double seconds = api.config().console.session_hours * 3600;
    auto s = store::SessionStore(**db).create(body["token"].get<std::string>(), seconds);
    if (!s) return coordinator::send_store_error(res, s.status());
    if (!*s) {
      sign_ins().counter({"refused"}).inc();
      return coordinator::send_error(res, 401, "unauthenticated", "unknown, revoked or expired token");
    }
    sign_ins().counter({"ok"}).inc();
    (void)store::SessionStore(**db).prune(100);  // expired sessions go as new ones come
    res.set_header("Set-Cookie", set_cookie((*s)->cookie, seconds, secure_request(req, api.config().console.secure_cookie)));
    coordinator::send_json(res, session_json(**s), 201);
  });
  api.route("GET", "/console/session", "/console/session", [&api](const httplib::Request& req, httplib::Response& res) {
    security_headers(res);
    res.set_header("Cache-Control", "no-store");
    if (!api.authorize(req, res, coordinator::Scope::kRead)) return;
    auto db = api.pool().borrow();
    if (!db) return coordinator::send_store_error(res, db.status());
    auto s = store::SessionStore(**db).find(cookie_value(req, kSessionCookie).value_or(""));
    if (!s) return coordinator::send_store_error(res, s.status());
    if (!*s) return coordinator::send_error(res, 401, "unauthenticated", "no console session (a bearer token has none)");
    coordinator::send_json(res, session_json(**s));
  });
  api.route("DELETE", "/console/session", "/console/session", [&api](const httplib::Request& req, httplib::Response& res) {
    security_headers(res);
    if (!api.authorize(req, res, coordinator::Scope::kRead)) return;
    auto db = api.pool().borrow();
    if (!db) return coordinator::send_store_error(res, db.status());
    auto ended = store::SessionStore(**db).end(cookie_value(req, kSessionCookie).value_or(""));
    if (!ended) return coordinator::send_store_error(res, ended.status());
    res.set_header("Set-Cookie", set_cookie("", 0, secure_request(req, api.config().console.secure_cookie)));
    res.status = 204;
  });
}

}  // namespace kiln::console
