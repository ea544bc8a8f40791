#pragma once
// The headers every console response carries: a strict Content-Security-Policy (scripts,
// styles and media only from the coordinator; no inline script, no eval, no framing),
// X-Content-Type-Options, Referrer-Policy and X-Frame-Options.

#include <httplib.h>

#include <string>

namespace kiln::console {

/// Origins (scheme://host[:port]) the page may also connect to: the endpoints of S3 upload
/// locations, which the browser PUTs parts to. Set once at start, before serving.
void set_extra_connect_sources(const std::string& sources);

/// The Content-Security-Policy value.
const std::string& content_security_policy();

void security_headers(httplib::Response& res);

}  // namespace kiln::console
