// kiln submit | jobs | cancel | retry: the HTTP API from the command line.
// The API address and token come from --api/--token or $KILN_API / $KILN_TOKEN.

#include <fmt/format.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "cli/commands.hpp"
#include "cli/progress_bar.hpp"
#include "kiln/job.hpp"
#include "log.hpp"

namespace kiln::cli {
namespace {

struct ClientOptions {
  std::string api, token;
  std::string input, output, ladder, backend, device, idempotency_key, queue;
  int priority = 0;
  int max_attempts = 0;
  bool wait = false;
  bool json = false;
  std::string state;
  int limit = 50;
  int64_t id = 0;
};

std::string env_or(const std::string& v, const char* name, const char* fallback) {
  if (!v.empty()) return v;
  const char* e = std::getenv(name);
  return e && *e ? e : fallback;
}

/// "cli-" + FNV-1a 64 of the spec's JSON text: the same spec gives the same key.
std::string spec_key(const nlohmann::json& body) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : body.dump()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("cli-{:016x}", h);
}

struct Api {
  std::unique_ptr<httplib::Client> client;
  httplib::Headers headers;

  explicit Api(const ClientOptions& o) {
    client = std::make_unique<httplib::Client>(env_or(o.api, "KILN_API", "http://127.0.0.1:8080"));
    client->set_connection_timeout(5);
    client->set_read_timeout(30);
    headers = {{"Authorization", "Bearer " + env_or(o.token, "KILN_TOKEN", "")}};
  }

  /// The body as JSON on 2xx; otherwise a Status with the API's own message.
  Result<nlohmann::json> call(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr,
                              const httplib::Headers& extra = {}) {
    httplib::Headers h = headers;
    h.insert(extra.begin(), extra.end());
    httplib::Result r = method == "GET" ? client->Get(path.c_str(), h)
                                        : client->Post(path.c_str(), h, body.is_null() ? "" : body.dump(), "application/json");
    if (!r) return Status(Code::kIo, fmt::format("cannot reach the Kiln API: {}", httplib::to_string(r.error())));
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (r->status >= 200 && r->status < 300 && !j.is_discarded()) return j;
    std::string msg = !j.is_discarded() && j.contains("error") ? j["error"].value("message", r->body) : r->body;
    Code code = r->status == 400 ? Code::kUsage : r->status == 404 ? Code::kInputMissing : Code::kIo;
    return Status(code, fmt::format("HTTP {}: {}", r->status, msg));
  }
};

void print_job(const nlohmann::json& j) {
  std::printf("%-8s %-11s %-10s attempt %d/%d  %s -> %s", std::to_string(j["id"].get<int64_t>()).c_str(),
              j["status"].get<std::string>().c_str(), j["state"].get<std::string>().c_str(),
              j["attempt"].get<int>(), j["maxAttempts"].get<int>(), j["spec"].value("input", "").c_str(),
              j["spec"].value("output", "").c_str());
  if (j["state"] == "running" && j["progress"].contains("percent"))
    std::printf("  %.0f%% %.1f fps", j["progress"].value("percent", 0.0), j["progress"].value("fps", 0.0));
  std::printf("\n");
}

int fail(const Status& st) {
  logger("cli")->error("{}", st.message());
  return exit_code(st.code());
}

int wait_for(Api& api, int64_t id, bool json) {
  ProgressDisplay bar(!json && isatty(STDERR_FILENO) != 0);
  for (;;) {
    auto j = api.call("GET", fmt::format("/v1/jobs/{}", id));
    if (!j) return fail(j.status());
    auto state = parse_state((*j)["state"].get<std::string>());
    if (state && is_final(*state)) {
      bar.finish();
      if (json) std::puts(j->dump(2).c_str());
      else print_job(*j);
      return *state == JobState::kCompleted ? 0 : 1;
    }
    Progress p;
    const auto& pr = (*j)["progress"];
    p.phase = pr.value("phase", std::string((*j)["state"]));
    p.percent = pr.value("percent", 0.0);
    p.fps = pr.value("fps", 0.0);
    p.speed = pr.value("speed", 0.0);
    p.eta_seconds = pr.value("etaSeconds", -1.0);
    p.frames = pr.value("frames", int64_t{0});
    bar.update(p);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

std::function<int()> add_client(CLI::App& app) {
  auto o = std::make_shared<ClientOptions>();
  auto common = [o](CLI::App* c) {
    c->add_option("--api", o->api, "coordinator URL (default $KILN_API or http://127.0.0.1:8080)");
    c->add_option("--token", o->token, "API token (default $KILN_TOKEN)");
    c->add_flag("--json", o->json, "print JSON");
  };
  CLI::App* submit = app.add_subcommand("submit", "Submit a transcode job to the coordinator.");
  submit->add_option("input", o->input, "source video: a path inside a storage location, or LOCATION:relative/path")->required();
  submit->add_option("-o,--output", o->output, "output directory (a path the nodes can write)")->required();
  submit->add_option("--ladder", o->ladder, "renditions, e.g. 720p,480p");
  submit->add_option("--backend", o->backend, "auto or a backend name");
  submit->add_option("--device", o->device, "device selector");
  submit->add_option("--priority", o->priority, "-50..50, higher first");
  submit->add_option("--max-attempts", o->max_attempts, "attempts before the job is discarded");
  submit->add_option("--queue", o->queue, "queue name");
  submit->add_option("--idempotency-key", o->idempotency_key, "resubmitting with the same key returns the same live job (default: a digest of the spec)");
  submit->add_flag("--wait", o->wait, "wait for the job to finish, with a progress bar");
  common(submit);
  CLI::App* jobs = app.add_subcommand("jobs", "List jobs, or show one: kiln jobs [ID]");
  jobs->add_option("id", o->id, "a job id");
  jobs->add_option("--state", o->state, "only jobs in this state");
  jobs->add_option("--limit", o->limit, "at most this many");
  common(jobs);
  CLI::App* cancel = app.add_subcommand("cancel", "Cancel a job (a running one stops within seconds).");
  cancel->add_option("id", o->id, "job id")->required();
  common(cancel);
  CLI::App* retry = app.add_subcommand("retry", "Retry a discarded or cancelled job.");
  retry->add_option("id", o->id, "job id")->required();
  common(retry);
  return [o, submit, jobs, cancel, retry]() -> int {
    Api api(*o);
    if (submit->parsed()) {
      namespace fs = std::filesystem;
      // LOCATION:relative and file:// pass through as written; a local path is made absolute.
      auto path_ref = [](const std::string& p) {
        bool named = p.find(':') != std::string::npos && p.find('/') > p.find(':');
        return named || p.rfind("file://", 0) == 0 ? p : fs::absolute(p).string();
      };
      nlohmann::json body = {{"input", path_ref(o->input)}, {"output", path_ref(o->output)}};
      if (!o->ladder.empty()) body["ladder"] = o->ladder;
      if (!o->backend.empty()) body["backend"] = o->backend;
      if (!o->device.empty()) body["device"] = o->device;
      if (o->priority) body["priority"] = o->priority;
      if (o->max_attempts) body["maxAttempts"] = o->max_attempts;
      if (!o->queue.empty()) body["queue"] = o->queue;
      httplib::Headers extra;
      // By default the key is the spec's own digest: re-running the same command while its
      // job is live returns that job instead of making a second one.
      extra.emplace("Idempotency-Key", o->idempotency_key.empty() ? spec_key(body) : o->idempotency_key);
      auto j = api.call("POST", "/v1/jobs", body, extra);
      if (!j) return fail(j.status());
      int64_t id = (*j)["id"].get<int64_t>();
      if (o->wait) return wait_for(api, id, o->json);
      if (o->json) std::puts(j->dump(2).c_str());
      else std::printf("%lld\n", static_cast<long long>(id));
      return 0;
    }
    if (jobs->parsed()) {
      if (o->id) {
        auto j = api.call("GET", fmt::format("/v1/jobs/{}", o->id));
        if (!j) return fail(j.status());
        if (o->json) std::puts(j->dump(2).c_str());
        else print_job(*j);
        return 0;
      }
      std::string path = fmt::format("/v1/jobs?limit={}", o->limit);
      if (!o->state.empty()) path += "&state=" + o->state;
      auto j = api.call("GET", path);
      if (!j) return fail(j.status());
      if (o->json) std::puts(j->dump(2).c_str());
      else for (const auto& job : (*j)["jobs"]) print_job(job);
      return 0;
    }
    auto j = api.call("POST", fmt::format("/v1/jobs/{}/{}", o->id, cancel->parsed() ? "cancel" : "retry"));
    if (!j) return fail(j.status());
    if (o->json) std::puts(j->dump(2).c_str());
    else print_job(*j);
    return 0;
  };
}

}  // namespace kiln::cli
