#include "console/live.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "console/headers.hpp"
#include "coordinator/job_json.hpp"
#include "log.hpp"
#include "store/job_changes.hpp"
#include "store/job_store.hpp"
#include "store/store_pool.hpp"

namespace kiln::console {
namespace fs = std::filesystem;
namespace {

constexpr int kSnapshotJobs = 200;

std::string sse(const std::string& event, const nlohmann::json& data) {
  return fmt::format("event: {}\ndata: {}\n\n", event, data.dump());
}

void live(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  if (!api.authorize(req, res, coordinator::Scope::kRead)) return;
  if (!api.begin_stream(res)) return;
  auto changes = store::JobChanges::open(api.pool().url());
  auto db = changes ? store::Db::connect(api.pool().url()) : Result<std::unique_ptr<store::Db>>(changes.status());
  if (!db) {
    api.end_stream();
    return coordinator::send_store_error(res, db.status());
  }
  auto conn = std::shared_ptr<store::Db>(std::move(db).value());
  auto feed = std::shared_ptr<store::JobChanges>(std::move(changes).value());
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  double keepalive = api.config().stream_keepalive_seconds;
  res.set_chunked_content_provider(
      "text/event-stream",
      [conn, feed, keepalive, snapshot_sent = false,
       until = std::chrono::steady_clock::now() + std::chrono::hours(1)](size_t, httplib::DataSink& sink) mutable {
        if (!snapshot_sent) {
          // LISTEN came first, so a change committed after this read is still announced.
          auto jobs = store::JobStore(*conn).recent(kSnapshotJobs);
          if (!jobs) return false;
          nlohmann::json list = nlohmann::json::array();
          for (const auto& j : *jobs) list.push_back(coordinator::job_json(j));
          std::string msg = "retry: 2000\n" + sse("snapshot", {{"jobs", list}});
          if (!sink.write(msg.data(), msg.size())) return false;
          snapshot_sent = true;
        }
        while (std::chrono::steady_clock::now() < until) {
          auto ids = feed->wait(keepalive);
          if (!ids) return false;
          if (ids->empty()) {
            if (!sink.write(": keep-alive\n\n", 14)) return false;
            continue;
          }
          for (int64_t id : *ids) {
            auto job = store::JobStore(*conn).get(id);
            if (!job) return false;
            if (!*job) continue;  // deleted since (retention)
            std::string msg = sse("job", coordinator::job_json(**job));
            if (!sink.write(msg.data(), msg.size())) return false;
          }
        }
        sink.done();  // an hour: the browser reconnects and gets a fresh snapshot
        return true;
      },
      [&api](bool) { api.end_stream(); });
}

void queue(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  if (!api.authorize(req, res, coordinator::Scope::kRead)) return;
  auto db = api.pool().borrow();
  if (!db) return coordinator::send_store_error(res, db.status());
  auto counts = store::JobStore(**db).count_by_state();
  if (!counts) return coordinator::send_store_error(res, counts.status());
  nlohmann::json states = nlohmann::json::object();
  for (const auto& [state, n] : *counts) states[state] = n;
  coordinator::send_json(res, {{"states", states}});
}

const char* media_type(const fs::path& p) {
  std::string ext = p.extension().string();
  if (ext == ".m3u8") return "application/vnd.apple.mpegurl";
  if (ext == ".mpd") return "application/dash+xml";
  if (ext == ".m4s") return "video/iso.segment";
  if (ext == ".mp4") return "video/mp4";
  if (ext == ".m4a") return "audio/mp4";
  if (ext == ".json") return "application/json";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".png") return "image/png";
  if (ext == ".webp") return "image/webp";
  if (ext == ".avif") return "image/avif";
  if (ext == ".vtt") return "text/vtt";
  return "application/octet-stream";
}

void output_file(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  security_headers(res);
  if (!api.authorize(req, res, coordinator::Scope::kRead)) return;
  auto id = coordinator::parse_id(req.matches[1]);
  if (!id) return coordinator::send_error(res, 400, "invalid_id", "a job id is 1 to 18 digits");
  std::string rel = req.matches[2];
  if (rel.empty() || rel.find("..") != std::string::npos || rel.front() == '/' || rel.find('\0') != std::string::npos)
    return coordinator::send_error(res, 400, "invalid_path", "a file of the output is named by a relative path without '..'");
  auto db = api.pool().borrow();
  if (!db) return coordinator::send_store_error(res, db.status());
  auto job = store::JobStore(**db).get(*id);
  if (!job) return coordinator::send_store_error(res, job.status());
  if (!*job) return coordinator::send_error(res, 404, "not_found", "no such job");
  if ((*job)->state != JobState::kCompleted)
    return coordinator::send_error(res, 404, "not_published", "the job has published no output yet");
  // The row's output path was resolved inside a location at submit; check it again now (a
  // row written by other means, or a location since removed).
  auto out = api.config().locations.resolve((*job)->spec.value("output", ""), "output");
  if (!out) return coordinator::send_error(res, 404, "not_found", out.status().message());
  std::error_code ec;
  fs::path root = fs::canonical(*out, ec);
  fs::path file = ec ? fs::path() : fs::weakly_canonical(root / rel, ec);
  auto [a, b] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (ec || a != root.end() || !fs::is_regular_file(file, ec))
    return coordinator::send_error(res, 404, "not_found", "no such file in the job's output");
  auto size = fs::file_size(file, ec);
  if (ec) return coordinator::send_error(res, 404, "not_found", "no such file in the job's output");
  // Published outputs never change in place (a new publish is a new directory by rename).
  res.set_header("Cache-Control", "private, max-age=60");
  auto in = std::make_shared<std::ifstream>(file, std::ios::binary);
  res.set_content_provider(size, media_type(file), [in](size_t offset, size_t length, httplib::DataSink& sink) {
    char buf[65536];
    in->seekg(static_cast<std::streamoff>(offset));
    size_t n = std::min(length, sizeof buf);
    in->read(buf, static_cast<std::streamsize>(n));
    auto got = in->gcount();
    return got > 0 && sink.write(buf, static_cast<size_t>(got));
  });
}

}  // namespace

void add_live_routes(coordinator::ApiServer& api) {
  api.route("GET", "/v1/jobs/live", "/v1/jobs/live", [&api](const httplib::Request& req, httplib::Response& res) { live(api, req, res); });
  api.route("GET", "/v1/queue", "/v1/queue", [&api](const httplib::Request& req, httplib::Response& res) { queue(api, req, res); });
  api.route("GET", R"(/v1/jobs/(\d+)/files/(.+))", "/v1/jobs/{id}/files/{path}",
            [&api](const httplib::Request& req, httplib::Response& res) { output_file(api, req, res); });
}

}  // namespace kiln::console
