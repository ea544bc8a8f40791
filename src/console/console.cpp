#include "console/console.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "console/assets.hpp"
#include "console/headers.hpp"
#include "console/live.hpp"
#include "console/s3_upload.hpp"
#include "console/session.hpp"
#include "console/tus.hpp"
#include "console/upload_finish.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/session_store.hpp"
#include "store/store_pool.hpp"
#include "store/upload_store.hpp"

namespace kiln::console {
namespace {

metrics::Family& unavailable() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_console_unavailable_total", "Console pages answered 503 because its files are not installed.");
  return f;
}

/// The chore's thread; stops and joins when destroyed.
class Chore {
 public:
  Chore(coordinator::ApiServer& api, const std::atomic<bool>& stop) : api_(api), stop_(stop) {
    double expiry = api.config().console.upload_expiry_hours * 3600;
    interval_ = std::clamp(expiry / 4, 0.2, 60.0);
    thread_ = std::thread([this] { loop(); });
  }
  ~Chore() {
    done_ = true;
    thread_.join();
  }

 private:
  void loop() {
    while (!done_ && !stop_) {
      try {
        expire_uploads(api_);
      } catch (const std::exception& e) {
        logger("console")->error("expiring uploads: {}", e.what());
      }
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(interval_ * 1000));
      while (!done_ && !stop_ && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  coordinator::ApiServer& api_;
  const std::atomic<bool>& stop_;
  std::atomic<bool> done_{false};
  double interval_ = 60;
  std::thread thread_;
};

struct Console {
  std::shared_ptr<Assets> assets;
  std::string assets_error;
  std::unique_ptr<Chore> chore;
};

void add_pages(coordinator::ApiServer& api, std::shared_ptr<Console> console) {
  auto shell = [console](const httplib::Request& req, httplib::Response& res) {
    if (!console->assets) {
      security_headers(res);
      unavailable().counter().inc();
      return coordinator::send_error(res, 503, "console_unavailable", console->assets_error);
    }
    console->assets->serve("index.html", req, res);
    res.set_header("Cache-Control", "no-store");  // the shell says nothing cacheable about the session
  };
  auto page = [&api, shell](const httplib::Request& req, httplib::Response& res) {
    if (!has_session(api, req)) {
      security_headers(res);
      res.status = 303;
      res.set_header("Location", "/console/sign-in?next=" + httplib::detail::encode_query_param(req.path));
      res.set_header("Cache-Control", "no-store");
      return;
    }
    shell(req, res);
  };
  api.route("GET", "/", "/", [](const httplib::Request&, httplib::Response& res) {
    security_headers(res);
    res.status = 303;
    res.set_header("Location", "/console/");
  });
  api.route("GET", "/console/sign-in", "/console/sign-in", shell);
  api.route("GET", "/console/?", "/console/", page);
  api.route("GET", "/console/jobs", "/console/jobs", page);
  api.route("GET", R"(/console/jobs/\d+)", "/console/jobs/{id}", page);
  api.route("GET", "/console/upload", "/console/upload", page);
  api.route("GET", "/console/nodes", "/console/nodes", page);
  api.route("GET", "/console/assets/(.+)", "/console/assets/{path}", [console](const httplib::Request& req, httplib::Response& res) {
    if (!console->assets) {
      security_headers(res);
      unavailable().counter().inc();
      return coordinator::send_error(res, 503, "console_unavailable", console->assets_error);
    }
    console->assets->serve(req.matches[1], req, res);
  });
  api.route("GET", "/console/settings", "/console/settings", [&api, console](const httplib::Request& req, httplib::Response& res) {
    security_headers(res);
    std::string scope;
    if (!api.authorize(req, res, coordinator::Scope::kRead, &scope)) return;
    const auto& config = api.config();
    UploadPlace place = upload_place(config);
    nlohmann::json outputs = nlohmann::json::array();
    for (const auto& l : config.locations.list())
      if (!l.is_s3()) outputs.push_back(l.name);
    nlohmann::json players = nlohmann::json::object();
    if (console->assets)
      for (const char* f : {"vendor/hls.min.js", "vendor/dash.all.min.js"})
        if (console->assets->find(f)) players[f] = console->assets->versioned_url(f);
    coordinator::send_json(res, {{"scope", scope},
                                 {"ladders", config.console.ladders},
                                 {"outputLocations", outputs},
                                 {"uploadLocation", place.location ? nlohmann::json(place.location->name) : nlohmann::json()},
                                 {"uploadProtocol", place.location ? (place.location->is_s3() ? "s3" : "tus") : "none"},
                                 {"uploadProblem", place.why_not},
                                 {"maxUploadBytes", config.console.max_upload_bytes},
                                 {"uploadTypes", upload_types()},
                                 {"uploadExtensions", upload_extensions()},
                                 {"chunkBytes", config.console.chunk_bytes},
                                 {"players", players}});
  });
}

}  // namespace

int expire_uploads(coordinator::ApiServer& api) {
  auto db = api.pool().borrow();
  if (!db) return 0;
  (void)store::SessionStore(**db).prune(1000);
  auto expired = store::UploadStore(**db).take_expired(100);
  if (!expired) {
    logger("console")->warn("expiring uploads: {}", expired.status().message());
    return 0;
  }
  static metrics::Family& count = metrics::default_registry().counter(
      "kiln_console_uploads_expired_total", "Unfinished uploads deleted at their expiry (tus expiration).");
  for (const auto& u : *expired) {
    remove_upload_files(api.config(), u.location, u.key);
    abort_bucket_upload(api, u);
    count.counter().inc();
    logger("console")->warn("upload {} ({}, {} bytes announced) expired unfinished at {}; its bytes are deleted", u.id,
                            u.filename, u.length, u.expires_at);
  }
  return static_cast<int>(expired->size());
}

std::shared_ptr<void> install(coordinator::ApiServer& api, const std::atomic<bool>& stop) {
  const auto& config = api.config();
  if (!config.console.enabled) return nullptr;
  auto log = logger("console");
  auto console = std::make_shared<Console>();
  std::string dir = find_assets_dir(config.console.assets);
  auto assets = Assets::load(dir);
  if (assets) {
    console->assets = std::make_shared<Assets>(std::move(assets).value());
    if (!console->assets->find("vendor/hls.min.js") || !console->assets->find("vendor/dash.all.min.js"))
      log->warn("console: hls.js or dash.js is missing from {}/vendor: the preview player will not load "
                "(install the binary with its console files)", dir);
  } else {
    console->assets_error = assets.status().message();
    log->warn("console: {}; its pages answer 503 (the API works)", console->assets_error);
  }
  std::string connect;
  for (const auto& l : config.locations.list())
    if (l.is_s3()) connect += (connect.empty() ? "" : " ") + bucket_origin(api, l);
  set_extra_connect_sources(connect);
  api.set_cookie_auth(session_caller);
  add_session_routes(api);
  add_pages(api, console);
  add_live_routes(api);
  add_tus_routes(api);
  add_bucket_upload_routes(api);
  UploadPlace place = upload_place(config);
  if (place.location)
    log->info("console: /console/ (uploads into '{}' by {})", place.location->name, place.location->is_s3() ? "presigned multipart" : "tus");
  else
    log->warn("console: uploads are off: {}", place.why_not);
  console->chore = std::make_unique<Chore>(api, stop);
  return console;
}

}  // namespace kiln::console
