#include "coordinator/api.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <thread>

#include "coordinator/job_json.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/event_store.hpp"
#include "store/job_store.hpp"
#include "store/node_store.hpp"
#include "store/store_pool.hpp"
#include "store/token_store.hpp"

namespace kiln::coordinator {
namespace {

enum class Scope { kRead = 0, kSubmit = 1, kAdmin = 2 };

int scope_rank(const std::string& s) { return s == "admin" ? 2 : s == "submit" ? 1 : s == "read" ? 0 : -1; }

void send_error(httplib::Response& res, int http, const std::string& code, const std::string& message) {
  res.status = http;
  res.set_content(nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(), "application/json");
}

void send_json(httplib::Response& res, const nlohmann::json& body, int http = 200) {
  res.status = http;
  res.set_content(body.dump(), "application/json");
}

/// Maps a store failure to 503: the database is the coordinator's only dependency.
void send_store_error(httplib::Response& res, const Status& st) {
  send_error(res, 503, "database_unavailable", st.message());
}

}  // namespace

struct ApiServer::Impl {
  Config config;
  store::StorePool& pool;
  httplib::Server server;
  int port = 0;
  metrics::Family& requests = metrics::default_registry().counter(
      "kiln_api_requests_total", "HTTP API requests by route and status code.", {"route", "code"});

  Impl(const Config& c, store::StorePool& p) : config(c), pool(p) {}

  /// Checks the bearer token; on failure answers 401/403 and returns false.
  bool authorize(const httplib::Request& req, httplib::Response& res, Scope need) {
    std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) != 0) {
      res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, 401, "unauthenticated", "an Authorization: Bearer <token> header is required");
      return false;
    }
    auto store = pool.borrow();
    if (!store) {
      send_store_error(res, store.status());
      return false;
    }
    auto scope = store::TokenStore(**store).scope_of(auth.substr(7));
    if (!scope) {
      send_store_error(res, scope.status());
      return false;
    }
    if (scope->empty()) {
      send_error(res, 401, "unauthenticated", "unknown or revoked token");
      return false;
    }
    if (scope_rank(*scope) < static_cast<int>(need)) {
      send_error(res, 403, "forbidden", fmt::format("this needs a {} token; yours is {}",
                                                   need == Scope::kAdmin ? "admin" : need == Scope::kSubmit ? "submit" : "read",
                                                   *scope));
      return false;
    }
    return true;
  }

  template <class F>
  void with_store(httplib::Response& res, F&& fn) {
    auto store = pool.borrow();
    if (!store) return send_store_error(res, store.status());
    fn(**store);
  }

  void routes() {
    server.set_payload_max_length(config.max_body_bytes);
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      requests.counter({req.method + " " + route_label(req.path), std::to_string(res.status)}).inc();
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413) return send_error(res, 413, "body_too_large", "the request body is too large");
      if (res.status == 404) return send_error(res, 404, "not_found", "no such endpoint");
    });
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { send_json(res, {{"ok", true}}); });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      with_store(res, [&](store::Db& db) {
        auto st = db.ping();
        if (!st.is_ok()) return send_store_error(res, st);
        send_json(res, {{"ok", true}});
      });
    });
    server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics::default_registry().exposition(), "text/plain; version=0.0.4");
    });
    server.Post("/v1/jobs", [this](const httplib::Request& req, httplib::Response& res) { submit(req, res); });
    server.Get("/v1/jobs", [this](const httplib::Request& req, httplib::Response& res) { list(req, res); });
    server.Get(R"(/v1/jobs/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kRead)) return;
      with_store(res, [&](store::Db& db) {
        auto job = store::JobStore(db).get(std::stoll(req.matches[1]));
        if (!job) return send_store_error(res, job.status());
        if (!*job) return send_error(res, 404, "not_found", "no such job");
        send_json(res, job_json(**job));
      });
    });
    server.Post(R"(/v1/jobs/(\d+)/cancel)", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kSubmit)) return;
      with_store(res, [&](store::Db& db) { change(db, res, std::stoll(req.matches[1]), true); });
    });
    server.Post(R"(/v1/jobs/(\d+)/retry)", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kAdmin)) return;
      with_store(res, [&](store::Db& db) { change(db, res, std::stoll(req.matches[1]), false); });
    });
    server.Get(R"(/v1/jobs/(\d+)/events)", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kRead)) return;
      stream_events(std::stoll(req.matches[1]), res);
    });
    server.Get("/v1/nodes", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kRead)) return;
      with_store(res, [&](store::Db& db) {
        auto nodes = store::NodeStore(db).nodes();
        if (!nodes) return send_store_error(res, nodes.status());
        send_json(res, {{"nodes", *nodes}});
      });
    });
    server.Get("/v1/devices", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kRead)) return;
      with_store(res, [&](store::Db& db) {
        auto nodes = store::NodeStore(db).nodes();
        if (!nodes) return send_store_error(res, nodes.status());
        nlohmann::json devices = nlohmann::json::array();
        for (const auto& n : *nodes)
          for (auto d : n["devices"]) {
            d["node"] = n["name"];
            devices.push_back(d);
          }
        send_json(res, {{"devices", devices}});
      });
    });
  }

  static std::string route_label(const std::string& path) {
    // /v1/jobs/123/cancel -> /v1/jobs/{id}/cancel: bounded label values.
    std::string out;
    size_t i = 0;
    while (i < path.size()) {
      if (std::isdigit(static_cast<unsigned char>(path[i])) && i > 0 && path[i - 1] == '/') {
        out += "{id}";
        while (i < path.size() && std::isdigit(static_cast<unsigned char>(path[i]))) ++i;
      } else {
        out += path[i++];
      }
    }
    return out;
  }

  void submit(const httplib::Request& req, httplib::Response& res) {
    if (!authorize(req, res, Scope::kSubmit)) return;
    nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return send_error(res, 400, "malformed_json", "the body is not valid JSON");
    auto job = parse_job_request(body);
    if (!job) return send_error(res, 400, "invalid_spec", job.status().message());
    job->idempotency_key = req.get_header_value("Idempotency-Key");
    with_store(res, [&](store::Db& db) {
      auto r = store::JobStore(db).submit(*job);
      if (!r) return send_store_error(res, r.status());
      send_json(res, job_json(r->job), r->created ? 201 : 200);
    });
  }

  void list(const httplib::Request& req, httplib::Response& res) {
    if (!authorize(req, res, Scope::kRead)) return;
    std::optional<JobState> state;
    if (req.has_param("state")) {
      state = parse_state(req.get_param_value("state"));
      if (!state) return send_error(res, 400, "invalid_state", "unknown state '" + req.get_param_value("state") + "'");
    }
    int limit = req.has_param("limit") ? std::atoi(req.get_param_value("limit").c_str()) : 50;
    if (limit < 1 || limit > 500) return send_error(res, 400, "invalid_limit", "limit must be 1..500");
    int64_t cursor = req.has_param("cursor") ? std::atoll(req.get_param_value("cursor").c_str()) : 0;
    with_store(res, [&](store::Db& db) {
      auto jobs = store::JobStore(db).list(state, limit, cursor);
      if (!jobs) return send_store_error(res, jobs.status());
      nlohmann::json out = {{"jobs", nlohmann::json::array()}};
      for (const auto& j : *jobs) out["jobs"].push_back(job_json(j));
      if (static_cast<int>(jobs->size()) == limit) out["nextCursor"] = std::to_string(jobs->back().id);
      send_json(res, out);
    });
  }

  void change(store::Db& db, httplib::Response& res, int64_t id, bool cancel) {
    store::JobStore s(db);
    auto job = s.get(id);
    if (!job) return send_store_error(res, job.status());
    if (!*job) return send_error(res, 404, "not_found", "no such job");
    auto done = cancel ? s.cancel(id) : s.retry(id);
    if (!done) return send_store_error(res, done.status());
    if (!*done)
      return send_error(res, 409, "conflict", fmt::format("job {} is {}: it cannot be {}", id,
                                                         state_name((*job)->state), cancel ? "cancelled" : "retried"));
    auto now = s.get(id);
    if (!now || !*now) return send_store_error(res, now.status());
    send_json(res, job_json(**now), 202);
  }

  /// Server-Sent Events: every event of the job, then live ones, until the job is final.
  void stream_events(int64_t id, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, id, last = int64_t{0}](size_t, httplib::DataSink& sink) mutable {
      auto store = pool.borrow();
      if (!store) return false;
      for (int polls = 0; polls < 600; ++polls) {
        auto events = store::EventStore(**store).events(id, last);
        if (!events) return false;
        for (const auto& e : *events) {
          std::string msg = fmt::format("id: {}\nevent: {}\ndata: {}\n\n", e.id, e.kind,
                                        nlohmann::json{{"jobId", e.job_id}, {"kind", e.kind}, {"at", e.created_at},
                                                       {"detail", e.payload}}.dump());
          if (!sink.write(msg.data(), msg.size())) return false;
          last = e.id;
        }
        auto job = store::JobStore(**store).get(id);
        if (!job || !*job) return false;
        if (is_final((*job)->state) && events->empty()) {
          sink.done();
          return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling: one query per tick
      }
      sink.done();
      return true;
    });
  }
};

ApiServer::ApiServer(const Config& config, store::StorePool& pool) : impl_(std::make_unique<Impl>(config, pool)) {
  impl_->routes();
}
ApiServer::~ApiServer() = default;

Result<int> ApiServer::bind() {
  int port = impl_->config.listen_port == 0 ? impl_->server.bind_to_any_port(impl_->config.listen_host)
                                            : (impl_->server.bind_to_port(impl_->config.listen_host, impl_->config.listen_port)
                                                   ? impl_->config.listen_port : -1);
  if (port <= 0)
    return Status(Code::kIo, fmt::format("cannot listen on {}:{}", impl_->config.listen_host, impl_->config.listen_port));
  impl_->port = port;
  return port;
}

void ApiServer::serve() { impl_->server.listen_after_bind(); }
void ApiServer::stop() { impl_->server.stop(); }

}  // namespace kiln::coordinator
