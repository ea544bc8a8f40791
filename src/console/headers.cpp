#include "console/headers.hpp"

namespace kiln::console {
namespace {
std::string g_policy;
std::string make_policy(const std::string& extra) {
  return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
         "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'" +
         (extra.empty() ? std::string() : " " + extra) +
         "; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
}
}  // namespace

void set_extra_connect_sources(const std::string& sources) { g_policy = make_policy(sources); }

const std::string& content_security_policy() {
  if (g_policy.empty()) g_policy = make_policy("");
  return g_policy;
}

void security_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy", content_security_policy());
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
}

}  // namespace kiln::console
