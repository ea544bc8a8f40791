#include "coordinator/api.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "coordinator/ingest/event_intake.hpp"
#include "coordinator/job_json.hpp"
#include "coordinator/job_submission.hpp"
#include "http_socket.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/event_store.hpp"
#include "store/job_store.hpp"
#include "store/node_store.hpp"
#include "store/store_pool.hpp"
#include "store/token_store.hpp"
#include "storage/s3_clients.hpp"

namespace kiln::coordinator {
namespace {

// read < submit < admin; `ingest` (a store's webhook credential) is outside the ladder: it may
// only post event notifications (so may admin), and gets 403 everywhere else.
int scope_rank(const std::string& s) { return s == "admin" ? 2 : s == "submit" ? 1 : s == "read" ? 0 : -1; }

bool scope_allows(const std::string& have, Scope need) {
  if (need == Scope::kIngest) return have == "ingest" || have == "admin";
  return scope_rank(have) >= static_cast<int>(need);
}

const char* scope_name(Scope s) {
  switch (s) {
    case Scope::kRead: return "read";
    case Scope::kSubmit: return "submit";
    case Scope::kAdmin: return "admin";
    case Scope::kIngest: return "ingest (or admin)";
  }
  return "?";
}

/// Standard base64 decoding; nullopt for anything else.
std::optional<std::string> from_base64(std::string_view in) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    size_t v = kAlphabet.find(in[i]);
    if (v == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  for (; i < in.size(); ++i)
    if (in[i] != '=') return std::nullopt;
  return out;
}

/// The token a request carries: `Bearer TOKEN`, or where `basic` allows it `Basic` with the
/// token as the password (SNS HTTPS subscriptions and Ceph RGW push endpoints can only send
/// credentials written in the endpoint URL: https://kiln:TOKEN@host/...). "" when none.
std::string request_token(const httplib::Request& req, bool basic) {
  std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0) return auth.substr(7);
  if (basic && auth.rfind("Basic ", 0) == 0) {
    auto decoded = from_base64(auth.substr(6));
    if (!decoded) return "";
    size_t colon = decoded->find(':');
    return colon == std::string::npos ? "" : decoded->substr(colon + 1);
  }
  return "";
}

/// The route pattern a request matched, for metric labels: set by each handler's wrapper,
/// reset before routing, so unmatched paths all count as one label.
thread_local std::string t_route;

/// A per-token token bucket. Thread-safe.
class RateLimiter {
 public:
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
  /// 0 if a request may go now (and takes a token), else the seconds until one is due.
  double take(const std::string& key) {
    if (rate_ <= 0) return 0;
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
    Bucket& b = it->second;
    b.tokens = std::min(burst_, b.tokens + std::chrono::duration<double>(now - b.at).count() * rate_);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / rate_;
  }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  double rate_, burst_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // keyed by valid tokens only: bounded
};

}  // namespace

void send_error(httplib::Response& res, int http, const std::string& code, const std::string& message) {
  res.status = http;
  res.set_content(nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(), "application/json");
}

void send_json(httplib::Response& res, const nlohmann::json& body, int http) {
  res.status = http;
  res.set_content(body.dump(), "application/json");
}

/// Maps a store failure to 503: the database is the coordinator's only dependency. The
/// store's message (libpq's text, hosts, SQL) goes to the log, never to the client.
void send_store_error(httplib::Response& res, const Status& st) {
  logger("api")->warn("database error answered with 503: {}", st.message());
  res.set_header("Retry-After", "5");
  send_error(res, 503, "database_unavailable", "the database is unavailable; try again shortly");
}

std::optional<int64_t> parse_id(const std::string& text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoll(text);
}

struct ApiServer::Impl {
  Config config;
  store::StorePool& pool;
  const ingest::EventIntake* intake;
  storage::S3Clients s3_clients{config.locations};  // an s3 output is checked for objects at submit
  httplib::Server server;
  int port = 0;
  metrics::Family& requests = metrics::default_registry().counter(
      "kiln_api_requests_total", "HTTP API requests by route and status code.", {"route", "code"});
  metrics::Family& refused = metrics::default_registry().counter(
      "kiln_api_refused_total", "Requests refused to protect the API, by reason.", {"reason"});
  RateLimiter limiter;
  std::atomic<int> streams{0};

  Impl(const Config& c, store::StorePool& p, const ingest::EventIntake* i)
      : config(c), pool(p), intake(i), limiter(c.rate_per_second, c.rate_burst) {}

  CookieAuth cookie_auth;

  /// Checks the bearer token (or, for event notifications, a Basic password; or, without a
  /// token, the console's cookie hook); on failure answers 401/403/429/503 and returns false.
  bool authorize(const httplib::Request& req, httplib::Response& res, Scope need, std::string* scope_out = nullptr) {
    const std::string token = request_token(req, need == Scope::kIngest);
    const bool cookie = token.empty() && cookie_auth && req.has_header("Cookie");
    if (token.empty() && !cookie) {
      res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, 401, "unauthenticated", "an Authorization: Bearer <token> header is required");
      return false;
    }
    auto store = pool.borrow();
    if (!store) {
      send_store_error(res, store.status());
      return false;
    }
    std::string scope, rate_key;
    if (!cookie) {
      auto found = store::TokenStore(**store).scope_of(token);
      if (!found) {
        send_store_error(res, found.status());
        return false;
      }
      if (found->empty()) {
        send_error(res, 401, "unauthenticated", "unknown or revoked token");
        return false;
      }
      scope = *found;
      rate_key = token;
    } else {
      Caller c = cookie_auth(req, **store);
      if (!c.ok) {
        if (c.http == 503) send_store_error(res, Status(Code::kIo, c.message));
        else send_error(res, c.http, c.code, c.message);
        return false;
      }
      scope = c.scope;
      rate_key = c.rate_key;
    }
    if (double wait = limiter.take(rate_key); wait > 0) {
      refused.counter({"rate_limited"}).inc();
      res.set_header("Retry-After", std::to_string(static_cast<int>(std::ceil(wait))));
      send_error(res, 429, "rate_limited", "too many requests for this token; slow down");
      return false;
    }
    if (!scope_allows(scope, need)) {
      send_error(res, 403, "forbidden", fmt::format("this needs a {} token; yours is {}", scope_name(need), scope));
      return false;
    }
    if (scope_out) *scope_out = scope;
    return true;
  }

  template <class F>
  void with_store(httplib::Response& res, F&& fn) {
    auto store = pool.borrow();
    if (!store) return send_store_error(res, store.status());
    fn(**store);
  }

  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  /// Registers a handler whose requests are counted under `pattern` (bounded label values).
  void get(const std::string& regex, const std::string& pattern, Handler h) {
    server.Get(regex, [pattern, h](const httplib::Request& req, httplib::Response& res) {
      t_route = req.method + " " + pattern;  // GET handlers answer HEAD too
      h(req, res);
    });
  }
  void post(const std::string& regex, const std::string& pattern, Handler h) {
    server.Post(regex, [this, pattern, h](const httplib::Request& req, httplib::Response& res) {
      t_route = "POST " + pattern;
      // The server's own limit may be raised for streamed uploads (route_patch_streamed); an
      // ordinary body stays within max_body_bytes.
      if (req.body.size() > config.max_body_bytes)
        return send_error(res, 413, "body_too_large", "the request body is too large");
      h(req, res);
    });
  }

  /// Runs `fn(id)` if the first path match is a valid job id, else answers 400.
  template <class F>
  void with_id(const httplib::Request& req, httplib::Response& res, F&& fn) {
    auto id = parse_id(req.matches[1]);
    if (!id) return send_error(res, 400, "invalid_id", "a job id is 1 to 18 digits");
    fn(*id);
  }

  void routes() {
    server.set_payload_max_length(config.max_body_bytes);
    // Streams hold a thread each for their whole life; they are capped at max_streams, so
    // the pool always keeps api_threads for everything else.
    int threads = config.api_threads + config.max_streams;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    server.set_keep_alive_timeout(2);  // an idle keep-alive connection holds a thread too
    server.set_read_timeout(10);
    server.set_socket_options(exclusive_listen_socket);  // a second coordinator on this port fails
    // Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    // client's delayed ACK (up to 40 ms) on a keep-alive connection: 10,000 requests took 267 s.
    server.set_tcp_nodelay(true);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      t_route = "unmatched";
      // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112
      // 6.3), but cpp-httplib 0.11 reads a POST's body to EOF: `curl -X POST .../cancel` hung
      // for the whole read timeout (10 s) before its answer. The body is read after this hook,
      // so saying "Content-Length: 0" here makes it read none. (The Request is not const in
      // the server; only this hook's view of it is.)
      if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
        const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
      // The server-wide limit is raised for streamed uploads (route_patch_streamed); any other
      // body past max_body_bytes is refused before it is read. Its bytes are still on the
      // connection, so the client is told to close it.
      if (req.method != "PATCH" &&
          std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > config.max_body_bytes) {
        res.set_header("Connection", "close");
        send_error(res, 413, "body_too_large", "the request body is too large");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.set_logger([this](const httplib::Request&, const httplib::Response& res) {
      std::string route = t_route.empty() ? "unmatched" : t_route;
      requests.counter({route, std::to_string(res.status)}).inc();
    });
    server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      logger("api")->error("{} {}: unhandled exception: {}", req.method, req.path, what);
      send_error(res, 500, "internal", "internal error; the coordinator's log has the details");
    });
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413) return send_error(res, 413, "body_too_large", "the request body is too large");
      if (res.status == 404) return send_error(res, 404, "not_found", "no such endpoint");
      if (res.status == 400) return send_error(res, 400, "bad_request", "the request could not be read (a POST needs Content-Length)");
      send_error(res, res.status, "error", fmt::format("the request failed (HTTP {})", res.status));
    });
    get("/healthz", "/healthz", [](const httplib::Request&, httplib::Response& res) { send_json(res, {{"ok", true}}); });
    get("/readyz", "/readyz", [this](const httplib::Request&, httplib::Response& res) {
      with_store(res, [&](store::Db& db) {
        auto st = db.ping();
        if (!st.is_ok()) return send_store_error(res, st);
        send_json(res, {{"ok", true}});
      });
    });
    get("/metrics", "/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      if (config.metrics_need_token && !authorize(req, res, Scope::kRead)) return;
      res.set_content(metrics::default_registry().exposition(), "text/plain; version=0.0.4");
    });
    post("/v1/jobs", "/v1/jobs", [this](const httplib::Request& req, httplib::Response& res) { submit(req, res); });
    post("/v1/ingest/s3-events", "/v1/ingest/s3-events", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kIngest)) return;
      if (!intake)
        return send_error(res, 404, "no_watch_rules", "this coordinator has no [[watch]] rules to take S3 events");
      with_store(res, [&](store::Db& db) {
        auto answer = intake->handle(req.body, db);
        if (!answer) return send_store_error(res, answer.status());
        if (answer->http != 200) return send_error(res, answer->http, answer->code, answer->message);
        send_json(res, answer->body);
      });
    });
    get("/v1/jobs", "/v1/jobs", [this](const httplib::Request& req, httplib::Response& res) { list(req, res); });
    get(R"(/v1/jobs/(\d+))", "/v1/jobs/{id}", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kRead)) return;
      with_id(req, res, [&](int64_t id) {
        with_store(res, [&](store::Db& db) {
          auto job = store::JobStore(db).get(id);
          if (!job) return send_store_error(res, job.status());
          if (!*job) return send_error(res, 404, "not_found", "no such job");
          send_json(res, job_json(**job));
        });
      });
    });
    post(R"(/v1/jobs/(\d+)/cancel)", "/v1/jobs/{id}/cancel", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kSubmit)) return;
      with_id(req, res, [&](int64_t id) { with_store(res, [&](store::Db& db) { change(db, res, id, true); }); });
    });
    post(R"(/v1/jobs/(\d+)/retry)", "/v1/jobs/{id}/retry", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kAdmin)) return;
      with_id(req, res, [&](int64_t id) { with_store(res, [&](store::Db& db) { change(db, res, id, false); }); });
    });
    get(R"(/v1/jobs/(\d+)/events)", "/v1/jobs/{id}/events", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kRead)) return;
      with_id(req, res, [&](int64_t id) { stream_events(id, res); });
    });
    get("/v1/nodes", "/v1/nodes", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorize(req, res, Scope::kRead)) return;
      with_store(res, [&](store::Db& db) {
        auto nodes = store::NodeStore(db).nodes();
        if (!nodes) return send_store_error(res, nodes.status());
        send_json(res, {{"nodes", *nodes}});
      });
    });
    get("/v1/devices", "/v1/devices", [this](const httplib::Request& req, httplib::Response& res) {
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

  void submit(const httplib::Request& req, httplib::Response& res) {
    if (!authorize(req, res, Scope::kSubmit)) return;
    if (req.body.empty()) return send_error(res, 400, "empty_body", "POST /v1/jobs needs a JSON job spec as its body");
    if (json_depth(req.body) > kMaxJsonDepth)
      return send_error(res, 400, "too_deep", fmt::format("the body nests deeper than {} levels", kMaxJsonDepth));
    nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return send_error(res, 400, "malformed_json", "the body is not valid JSON");
    auto prepared = prepare_job(body, config.locations, s3_clients, req.get_header_value("Idempotency-Key"));
    if (prepared.refusal) {
      if (prepared.refusal->http == 503) res.set_header("Retry-After", "5");
      return send_error(res, prepared.refusal->http, prepared.refusal->code, prepared.refusal->message);
    }
    with_store(res, [&](store::Db& db) {
      auto r = store::JobStore(db).submit(prepared.job);
      if (!r) return send_store_error(res, r.status());
      if (auto refusal = refusal_of(*r, prepared.job)) return send_error(res, refusal->http, refusal->code, refusal->message);
      send_json(res, job_json(r->job), r->created ? 201 : 200);
    });
  }

  void list(const httplib::Request& req, httplib::Response& res) {
    if (!authorize(req, res, Scope::kRead)) return;
    JobFilter filter;
    if (req.has_param("state")) {
      filter.state = parse_state(req.get_param_value("state"));
      if (!filter.state) return send_error(res, 400, "invalid_state", "unknown state '" + req.get_param_value("state") + "'");
    }
    filter.input_location = req.get_param_value("inputLocation");
    filter.input_key = req.get_param_value("inputKey");
    filter.metadata_key = req.get_param_value("metadataKey");
    filter.metadata_value = req.get_param_value("metadataValue");
    if (!filter.input_key.empty() && filter.input_location.empty())
      return send_error(res, 400, "invalid_filter", "inputKey needs inputLocation (the [[location]] the key is in)");
    if (req.has_param("metadataValue") != req.has_param("metadataKey") ||
        (req.has_param("metadataKey") && filter.metadata_key.empty()))
      return send_error(res, 400, "invalid_filter", "metadataKey and metadataValue go together (a non-empty key)");
    for (const auto* v : {&filter.input_location, &filter.input_key, &filter.metadata_key, &filter.metadata_value})
      if (v->size() > 4096) return send_error(res, 400, "invalid_filter", "a filter value is longer than 4096 bytes");
    int limit = 50;
    if (req.has_param("limit")) {
      auto l = parse_id(req.get_param_value("limit"));
      if (!l || *l < 1 || *l > 500) return send_error(res, 400, "invalid_limit", "limit must be 1..500");
      limit = static_cast<int>(*l);
    }
    int64_t cursor = 0;
    if (req.has_param("cursor")) {
      auto c = parse_id(req.get_param_value("cursor"));
      if (!c) return send_error(res, 400, "invalid_cursor", "cursor is a job id: 1 to 18 digits");
      cursor = *c;
    }
    with_store(res, [&](store::Db& db) {
      auto jobs = store::JobStore(db).list(filter, limit, cursor);
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
  /// Each stream LISTENs on its own connection for 'kiln_events' (a trigger NOTIFYs per event
  /// row) and writes a comment line when idle, so a dead client is noticed. Capped at
  /// max_streams: past it 503 with Retry-After, so streams never take the API's threads.
  bool begin_stream(httplib::Response& res) {
    if (streams.fetch_add(1) >= config.max_streams) {
      streams.fetch_sub(1);
      refused.counter({"streams_full"}).inc();
      res.set_header("Retry-After", "10");
      send_error(res, 503, "too_many_streams", "too many event streams are open; try again later");
      return false;
    }
    return true;
  }

  void stream_events(int64_t id, httplib::Response& res) {
    if (!begin_stream(res)) return;
    auto db = store::Db::connect(pool.url());
    if (!db || !(*db)->listen("kiln_events").is_ok()) {
      streams.fetch_sub(1);
      return send_store_error(res, db ? Status(Code::kIo, "LISTEN kiln_events failed") : db.status());
    }
    auto conn = std::shared_ptr<store::Db>(std::move(db).value());
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, id, conn, last = int64_t{0}, final_seen = false,
         until = std::chrono::steady_clock::now() + std::chrono::hours(1)](size_t, httplib::DataSink& sink) mutable {
          while (std::chrono::steady_clock::now() < until) {
            auto events = store::EventStore(*conn).events(id, last);
            if (!events) return false;
            for (const auto& e : *events) {
              std::string msg = fmt::format("id: {}\nevent: {}\ndata: {}\n\n", e.id, e.kind,
                                            nlohmann::json{{"jobId", e.job_id}, {"kind", e.kind}, {"at", e.created_at},
                                                           {"detail", e.payload}}.dump());
              if (!sink.write(msg.data(), msg.size())) return false;
              last = e.id;
            }
            // This read began after the job read final: it had every event.
            if (final_seen) break;
            auto job = store::JobStore(*conn).get(id);
            if (!job || !*job) return false;
            // A final state is written in the transaction that adds its event, so once the job
            // reads final, one more read (begun after that) has every event. The read above
            // may have run before that transaction committed: it does not count.
            if (is_final((*job)->state)) {
              final_seen = true;
              continue;
            }
            auto woke = conn->wait_notification(config.stream_keepalive_seconds);
            if (!woke) return false;
            if (!*woke && !sink.write(": keep-alive\n\n", 14)) return false;
          }
          sink.done();
          return true;
        },
        [this](bool) { streams.fetch_sub(1); });
  }
};

ApiServer::ApiServer(const Config& config, store::StorePool& pool, const ingest::EventIntake* intake)
    : impl_(std::make_unique<Impl>(config, pool, intake)) {
  impl_->routes();
}
ApiServer::~ApiServer() = default;

Result<int> ApiServer::bind() {
  int port = impl_->config.listen_port == 0 ? impl_->server.bind_to_any_port(impl_->config.listen_host)
                                            : (impl_->server.bind_to_port(impl_->config.listen_host, impl_->config.listen_port)
                                                   ? impl_->config.listen_port : -1);
  if (port <= 0)
    return Status(Code::kIo, fmt::format("cannot listen on {}:{} (is another process using it?)", impl_->config.listen_host, impl_->config.listen_port));
  impl_->port = port;
  return port;
}

void ApiServer::serve() { impl_->server.listen_after_bind(); }

void ApiServer::route(const std::string& method, const std::string& regex, const std::string& pattern, Handler h) {
  if (method == "GET") return impl_->get(regex, pattern, std::move(h));
  if (method == "POST") return impl_->post(regex, pattern, std::move(h));
  auto counted = [method, pattern, h](const httplib::Request& req, httplib::Response& res) {
    t_route = method + " " + pattern;
    h(req, res);
  };
  if (method == "DELETE") impl_->server.Delete(regex, counted);
  else if (method == "OPTIONS") impl_->server.Options(regex, counted);
  else throw std::invalid_argument("ApiServer::route: unsupported method " + method);
}

void ApiServer::route_patch_streamed(const std::string& regex, const std::string& pattern, size_t max_bytes, ReaderHandler h) {
  impl_->server.set_payload_max_length(std::max(max_bytes, impl_->config.max_body_bytes));
  impl_->server.Patch(regex, [pattern, h](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    t_route = "PATCH " + pattern;
    h(req, res, reader);
  });
}

bool ApiServer::authorize(const httplib::Request& req, httplib::Response& res, Scope need, std::string* scope_out) {
  return impl_->authorize(req, res, need, scope_out);
}
void ApiServer::set_cookie_auth(CookieAuth hook) { impl_->cookie_auth = std::move(hook); }
bool ApiServer::begin_stream(httplib::Response& res) { return impl_->begin_stream(res); }
void ApiServer::end_stream() { impl_->streams.fetch_sub(1); }
const Config& ApiServer::config() const { return impl_->config; }
store::StorePool& ApiServer::pool() { return impl_->pool; }
storage::S3Clients& ApiServer::s3_clients() { return impl_->s3_clients; }
void ApiServer::stop() { impl_->server.stop(); }

}  // namespace kiln::coordinator
