#pragma once
// The console's files (ES modules, CSS, the HTML shell, and the pinned hls.js and dash.js),
// read once from the assets directory and served with validators: every file has a strong
// ETag (a digest of its bytes) and answers If-None-Match with 304. The console's own modules
// are `Cache-Control: no-cache` (revalidated on each load, so an upgrade shows at once); a
// request that names the file's digest (?v=ETAG, as the page asks for the players) may keep
// it for a year (`immutable`). Thread-safe after load (read-only).

#include <httplib.h>

#include <map>
#include <string>

#include "kiln/status.hpp"

namespace kiln::console {

struct Asset {
  std::string body;
  std::string type;
  std::string etag;  // quoted, as sent
};

class Assets {
 public:
  /// Reads every regular file under `dir` (not following symlinks out of it). kIo naming the
  /// directory and what to do when it is missing or has no index.html.
  static Result<Assets> load(const std::string& dir);

  /// The asset at `rel` (e.g. "app.js", "vendor/hls.min.js"), or null.
  const Asset* find(const std::string& rel) const;
  /// Answers a GET for `rel` (404 if unknown): body or 304, with caching and security headers.
  void serve(const std::string& rel, const httplib::Request& req, httplib::Response& res) const;
  /// `/console/assets/REL?v=ETAG`: the URL that may be cached for good.
  std::string versioned_url(const std::string& rel) const;

 private:
  std::map<std::string, Asset> files_;
};

/// The assets directory: `configured` if set, else `console/` beside the running binary (a
/// build tree), else `../share/kiln/console` from it (an install, the .deb's /usr/share).
std::string find_assets_dir(const std::string& configured);

}  // namespace kiln::console
