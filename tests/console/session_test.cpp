// Console sessions, CSRF, pages and assets against a real coordinator and PostgreSQL.

#include <fmt/format.h>

#include "console/console_cluster.hpp"

namespace kiln::test {
namespace {

using namespace std::chrono_literals;

using ConsoleSession = ConsoleCluster;

TEST_F(ConsoleSession, WithoutASessionEveryPageAndApiCallIsRefused) {
  start_coordinator();
  auto c = client();
  for (const char* page : {"/console/", "/console/jobs", "/console/jobs/1", "/console/upload", "/console/nodes"}) {
    auto r = c.Get(page);
    ASSERT_TRUE(r) << page;
    EXPECT_EQ(r->status, 303) << page;
    EXPECT_EQ(r->get_header_value("Location").rfind("/console/sign-in?next=", 0), 0u) << page;
    EXPECT_TRUE(r->body.empty()) << page << ": a refused page shows nothing";
  }
  for (const char* path : {"/v1/jobs", "/v1/jobs/live", "/v1/queue", "/v1/nodes", "/console/settings", "/console/session",
                           "/v1/jobs/1/files/master.m3u8", "/v1/uploads/0123456789abcdef0123456789abcdef"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path << " " << r->body;
  }
  EXPECT_EQ(c.Post("/v1/uploads", "", "text/plain")->status, 401);
  EXPECT_EQ(c.Post("/v1/jobs/1/cancel", "", "text/plain")->status, 401);
  // A cookie that names no session is refused like no cookie.
  EXPECT_EQ(c.Get("/v1/jobs", {{"Cookie", "kiln_session=ks_forged"}})->status, 401);
  EXPECT_EQ(c.Get("/console/jobs", {{"Cookie", "kiln_session=ks_forged"}})->status, 303);
  // The sign-in page and the console's files need no session (they hold no data).
  auto sign_in_page = c.Get("/console/sign-in");
  EXPECT_EQ(sign_in_page->status, 200);
  EXPECT_NE(sign_in_page->body.find("/console/assets/app.js"), std::string::npos);
  EXPECT_EQ(c.Get("/console/assets/app.js")->status, 200);
}

TEST_F(ConsoleSession, ATokenBecomesAnHttpOnlyStrictCookieAndWritesNeedTheCsrfHeader) {
  start_coordinator();
  auto c = client();
  auto bad = c.Post("/console/session", nlohmann::json{{"token", "kiln_not_a_token"}}.dump(), "application/json");
  EXPECT_EQ(bad->status, 401);
  EXPECT_FALSE(bad->has_header("Set-Cookie"));
  // A form post from another site cannot sign a browser in: JSON only.
  EXPECT_EQ(c.Post("/console/session", "token=" + admin_token_, "application/x-www-form-urlencoded")->status, 415);

  Session s = sign_in(admin_token_);
  EXPECT_NE(s.set_cookie.find("HttpOnly"), std::string::npos) << s.set_cookie;
  EXPECT_NE(s.set_cookie.find("SameSite=Strict"), std::string::npos) << s.set_cookie;
  EXPECT_NE(s.set_cookie.find("Path=/"), std::string::npos) << s.set_cookie;
  EXPECT_EQ(s.set_cookie.find("Secure"), std::string::npos) << "plain HTTP: a Secure cookie would never come back";
  EXPECT_EQ(s.cookie.find(admin_token_), std::string::npos) << "the cookie is not the token";
  ASSERT_FALSE(s.csrf.empty());
  // Behind a TLS proxy the cookie is Secure.
  Session tls = sign_in(admin_token_, {{"X-Forwarded-Proto", "https"}});
  EXPECT_NE(tls.set_cookie.find("; Secure"), std::string::npos) << tls.set_cookie;

  auto who = c.Get("/console/session", with(s, false));
  ASSERT_EQ(who->status, 200) << who->body;
  EXPECT_EQ(nlohmann::json::parse(who->body)["scope"], "admin");
  EXPECT_EQ(nlohmann::json::parse(who->body)["csrf"], s.csrf);
  EXPECT_EQ(c.Get("/v1/jobs", with(s, false))->status, 200);
  EXPECT_EQ(c.Get("/console/jobs", with(s, false))->status, 200);

  // A job to cancel, submitted with the cookie: refused without the CSRF header, or a wrong one.
  std::string spec = nlohmann::json{{"input", "queued-in:a.mp4"}, {"output", "queued-out:a"}}.dump();
  auto no_csrf = c.Post("/v1/jobs", with(s, false), spec, "application/json");
  EXPECT_EQ(no_csrf->status, 403) << no_csrf->body;
  EXPECT_NE(no_csrf->body.find("csrf_failed"), std::string::npos);
  auto wrong = c.Post("/v1/jobs", {{"Cookie", s.cookie}, {"X-Kiln-CSRF", tls.csrf}}, spec, "application/json");
  EXPECT_EQ(wrong->status, 403) << "another session's CSRF value";
  auto made = c.Post("/v1/jobs", with(s, true), spec, "application/json");
  ASSERT_EQ(made->status, 201) << made->body;
  int64_t id = nlohmann::json::parse(made->body)["id"];
  std::string cancel = fmt::format("/v1/jobs/{}/cancel", id);
  EXPECT_EQ(c.Post(cancel.c_str(), with(s, false), "", "text/plain")->status, 403);
  EXPECT_EQ(job(id)["state"], "available") << "the refused cancel changed nothing";
  EXPECT_EQ(c.Post(cancel.c_str(), with(s, true), "", "text/plain")->status, 202);
  EXPECT_EQ(job(id)["status"], "CANCELED");
  EXPECT_EQ(metric("kiln_console_csrf_refused_total"), 3) << "each refusal is counted";

  // Sign out: the cookie stops working, and the browser is told to drop it.
  EXPECT_EQ(c.Delete("/console/session", with(s, false))->status, 403) << "signing out is a write: CSRF too";
  auto out = c.Delete("/console/session", with(s, true));
  EXPECT_EQ(out->status, 204);
  EXPECT_NE(out->get_header_value("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(c.Get("/v1/jobs", with(s, false))->status, 401);
  EXPECT_EQ(c.Get("/console/jobs", with(s, false))->status, 303);
}

TEST_F(ConsoleSession, RevokingTheTokenEndsItsSessions) {
  start_coordinator();
  std::string token = make_token("submit");
  Session s = sign_in(token);
  EXPECT_EQ(client().Get("/v1/jobs", with(s, false))->status, 200);
  RunResult r = run_kiln({"token", "revoke", token, "--database", url_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(client().Get("/v1/jobs", with(s, false))->status, 401);
}

TEST_F(ConsoleSession, AReadOnlySessionMayWatchButNotUploadOrCancel) {
  start_coordinator();
  Session s = sign_in(make_token("read"));
  auto c = client();
  auto settings = c.Get("/console/settings", with(s, false));
  ASSERT_EQ(settings->status, 200);
  EXPECT_EQ(nlohmann::json::parse(settings->body)["scope"], "read");
  auto upload = c.Post("/v1/uploads", {{"Cookie", s.cookie}, {"X-Kiln-CSRF", s.csrf}, {"Tus-Resumable", "1.0.0"},
                                       {"Upload-Length", "100"}, {"Upload-Metadata", "filename YS5tcDQ="}}, "", "text/plain");
  EXPECT_EQ(upload->status, 403) << upload->body;
  auto made = c.Post("/v1/jobs", bearer(admin_token_),
                     nlohmann::json{{"input", "queued-in:b.mp4"}, {"output", "queued-out:b"}}.dump(), "application/json");
  int64_t id = nlohmann::json::parse(made->body)["id"];
  auto cancel = c.Post(fmt::format("/v1/jobs/{}/cancel", id).c_str(), with(s, true), "", "text/plain");
  EXPECT_EQ(cancel->status, 403) << cancel->body;
  EXPECT_EQ(job(id)["state"], "available");
}

TEST_F(ConsoleSession, PagesAndFilesCarryAStrictPolicyAndValidators) {
  start_coordinator();
  auto c = client();
  auto page = c.Get("/console/sign-in");
  std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->get_header_value("Referrer-Policy"), "no-referrer");
  // No inline script in the shell: every <script> has a src.
  for (size_t at = page->body.find("<script"); at != std::string::npos; at = page->body.find("<script", at + 1))
    EXPECT_NE(page->body.substr(at, page->body.find('>', at) - at).find("src="), std::string::npos);

  auto js = c.Get("/console/assets/app.js");
  ASSERT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type").rfind("text/javascript", 0), 0u);
  EXPECT_EQ(js->get_header_value("Cache-Control"), "no-cache");
  std::string etag = js->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  auto again = c.Get("/console/assets/app.js", {{"If-None-Match", etag}});
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  EXPECT_EQ(c.Get("/console/assets/nothing.js")->status, 404);
  EXPECT_EQ(c.Get("/console/assets/../../etc/passwd")->status, 404);

  Session s = sign_in(admin_token_);
  auto settings = nlohmann::json::parse(c.Get("/console/settings", with(s, false))->body);
  for (const char* player : {"vendor/hls.min.js", "vendor/dash.all.min.js"}) {
    ASSERT_TRUE(settings["players"].contains(player)) << settings.dump() << ": the pinned players are installed";
    std::string url = settings["players"][player];
    auto lib = c.Get(url.c_str());
    ASSERT_EQ(lib->status, 200) << url;
    EXPECT_EQ(lib->get_header_value("Cache-Control"), "public, max-age=31536000, immutable") << url;
    EXPECT_GT(lib->body.size(), 100000u) << url;
  }
  EXPECT_EQ(settings["uploadProtocol"], "tus");
  EXPECT_EQ(settings["ladders"][0], "360p,240p");
}

TEST_F(ConsoleSession, MissingConsoleFilesAnswer503AndTheApiStillWorks) {
  start_coordinator("[console]\nassets = \"" + (tmp_ / "no-such-dir").string() + "\"\n");
  Session s = sign_in(admin_token_);
  auto page = client().Get("/console/jobs", with(s, false));
  EXPECT_EQ(page->status, 503);
  EXPECT_NE(page->body.find("console assets not found"), std::string::npos) << page->body;
  EXPECT_EQ(client().Get("/v1/jobs", with(s, false))->status, 200);
  EXPECT_GE(metric("kiln_console_unavailable_total"), 1);
  EXPECT_NE(read_file(tmp_ / "coordinator" / "stderr").find("console assets not found"), std::string::npos);
}

}  // namespace
}  // namespace kiln::test
