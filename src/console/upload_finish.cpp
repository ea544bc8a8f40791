#include "console/upload_finish.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "console/probe_child.hpp"
#include "coordinator/job_json.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/job_store.hpp"
#include "store/store_pool.hpp"

namespace kiln::console {
namespace fs = std::filesystem;
namespace {

metrics::Family& outcomes() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_console_uploads_total", "Finished console uploads by result (job, refused, check_failed).", {"result"});
  return f;
}

Finished error(int http, const std::string& code, const std::string& message) {
  Finished f;
  f.http = http;
  f.body = {{"error", {{"code", code}, {"message", message}}}};
  return f;
}

}  // namespace

nlohmann::json upload_json(const store::Upload& u, int64_t offset) {
  nlohmann::json j = {{"id", u.id},         {"filename", u.filename}, {"filetype", u.filetype},
                      {"length", u.length}, {"offset", offset},       {"state", u.state},
                      {"location", u.location}, {"key", u.key},       {"expiresAt", u.expires_at}};
  if (u.job_id) j["jobId"] = u.job_id;
  if (!u.error.empty()) j["error"] = u.error;
  return j;
}

std::string safe_filename(const std::string& name) {
  std::string base = fs::path(name).filename().string();
  std::string out;
  for (char c : base) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == ' ') ? c : '_';
  while (!out.empty() && (out.front() == '.' || out.front() == ' ')) out.erase(0, 1);
  if (out.size() > 120) out = out.substr(out.size() - 120);
  return out.empty() ? "upload" : out;
}

const std::vector<std::string>& upload_types() {
  // Any video or audio type; the image formats an image job reads (src/image/image_sniff.hpp).
  static const std::vector<std::string> types = {"video/*",    "audio/*",    "image/jpeg", "image/png", "image/gif",
                                                 "image/webp", "image/tiff", "image/heic", "image/heif", "image/avif"};
  return types;
}

const std::vector<std::string>& upload_extensions() {
  // Browsers give no type (or octet-stream) for containers they do not know (.mkv, .ts, .mxf)
  // and, on some systems, for .heic and .avif.
  static const std::vector<std::string> extensions = {
      ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".ts",   ".m2ts", ".mts",  ".mxf", ".avi", ".mpg", ".mpeg",
      ".flv", ".3gp", ".ogv", ".jpg", ".jpeg", ".png",  ".gif",  ".webp", ".tif", ".tiff", ".heic", ".heif", ".avif"};
  return extensions;
}

std::string refuse_type(const std::string& filetype, const std::string& filename) {
  for (const auto& t : upload_types())
    if (t.back() == '*' ? filetype.rfind(t.substr(0, t.size() - 1), 0) == 0 : filetype == t) return "";
  std::string ext = fs::path(filename).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto& known = upload_extensions();
  if ((filetype.empty() || filetype == "application/octet-stream" || filetype == "application/mxf") &&
      std::find(known.begin(), known.end(), ext) != known.end())
    return "";
  return fmt::format("'{}' is {}, not a video or an image: upload a video (MP4, MOV, MKV, WebM, MPEG-TS...) or an "
                     "image (JPEG, PNG, WebP, AVIF, HEIC, TIFF, GIF)",
                     filename, filetype.empty() ? "of no known type" : "of type " + filetype);
}

coordinator::Prepared job_for_upload(coordinator::ApiServer& api, const store::Upload& u, const std::string& input_ref) {
  nlohmann::json body = {{"input", input_ref}, {"output", u.spec.value("output", std::string())}};
  if (u.spec.contains("ladder") && !u.spec["ladder"].get<std::string>().empty()) body["ladder"] = u.spec["ladder"];
  nlohmann::json metadata = u.spec.value("metadata", nlohmann::json::object());
  metadata["upload"] = u.filename;
  metadata["uploadId"] = u.id;
  body["metadata"] = metadata;
  return coordinator::prepare_job(body, api.config().locations, api.s3_clients(), "upload:" + u.id);
}

Finished submit_upload_job(coordinator::ApiServer& api, const store::Upload& u, const std::string& input_ref) {
  auto log = logger("console");
  auto db = api.pool().borrow();
  if (!db) return error(503, "database_unavailable", "the database is unavailable; try again shortly");
  auto prepared = job_for_upload(api, u, input_ref);
  if (const auto& refusal = prepared.refusal) {
    if (refusal->http == 503) return error(503, refusal->code, refusal->message);  // try again later
    (void)store::UploadStore(**db).refuse(u.id, refusal->text());
    outcomes().counter({"refused"}).inc();
    return error(refusal->http, refusal->code, refusal->message);
  }
  const NewJob& job = prepared.job;
  auto r = store::JobStore(**db).submit(job);
  if (!r) {
    log->warn("upload {}: submitting its job: {}", u.id, r.status().message());
    return error(503, "database_unavailable", "the database is unavailable; try again shortly");
  }
  if (auto refusal = coordinator::refusal_of(*r, job)) {
    (void)store::UploadStore(**db).refuse(u.id, refusal->text());
    outcomes().counter({"refused"}).inc();
    return error(refusal->http, refusal->code, refusal->message);
  }
  if (auto st = store::UploadStore(**db).finish(u.id, r->job.id); !st.is_ok())
    log->warn("upload {}: recording job {}: {}", u.id, r->job.id, st.message());
  outcomes().counter({"job"}).inc();
  log->info("upload {} ({}, {} bytes) became job {}", u.id, u.filename, u.length, r->job.id);
  store::Upload done = u;
  done.state = "done";
  done.job_id = r->job.id;
  Finished f;
  f.http = 200;
  f.job_id = r->job.id;
  f.body = upload_json(done, u.length);
  return f;
}

Finished finish_file_upload(coordinator::ApiServer& api, const store::Upload& u, const std::string& part_path,
                            const std::string& final_path) {
  auto log = logger("console");
  {
    auto db = api.pool().borrow();
    if (!db) return error(503, "database_unavailable", "the database is unavailable; try again shortly");
    auto won = store::UploadStore(**db).begin_check(u.id);
    if (!won) return error(503, "database_unavailable", "the database is unavailable; try again shortly");
    if (!*won) return error(409, "upload_busy", "this upload is already being checked; ask again in a moment");
  }
  auto refuse = [&](int http, const std::string& code, const std::string& message) {
    std::error_code ec;
    fs::remove(part_path, ec);
    fs::remove(final_path, ec);
    fs::remove(fs::path(final_path).parent_path(), ec);  // only if empty
    if (auto db = api.pool().borrow()) (void)store::UploadStore(**db).refuse(u.id, message);
    return error(http, code, message);
  };
  std::error_code ec;
  auto size = fs::file_size(part_path, ec);
  if (ec || static_cast<int64_t>(size) != u.length) {
    outcomes().counter({"refused"}).inc();
    return refuse(400, "size_mismatch", fmt::format("'{}' arrived with {} bytes, not the {} announced; upload it again",
                                                    u.filename, ec ? 0 : size, u.length));
  }
  fs::rename(part_path, final_path, ec);
  if (ec) {
    log->warn("upload {}: moving {} into place: {}", u.id, part_path, ec.message());
    return refuse(500, "io", fmt::format("storing '{}' failed: {}", u.filename, ec.message()));
  }
  auto probed = probe_in_child(final_path, api.config().console.probe_timeout_seconds);
  if (!probed) {
    const Status& st = probed.status();
    if (st.code() == Code::kInternal) {
      // The check itself failed (a crash or a timeout in the probe): the file may be fine.
      static metrics::Family& failures = metrics::default_registry().counter(
          "kiln_console_probe_failures_total", "Finished uploads that could not be checked (the probe crashed or timed out).");
      failures.counter().inc();
      log->warn("upload {} ({}): {}; the upload is refused", u.id, u.filename, st.message());
      outcomes().counter({"check_failed"}).inc();
      return refuse(422, "check_failed", fmt::format("'{}' could not be checked: {}", u.filename, st.message()));
    }
    outcomes().counter({"refused"}).inc();
    log->info("upload {} ({}) refused: {}", u.id, u.filename, st.message());
    // The uploader sees their file's name, not where the coordinator keeps it.
    std::string message = st.message();
    for (size_t at; (at = message.find(final_path)) != std::string::npos;) message.replace(at, final_path.size(), u.filename);
    return refuse(415, code_name(st.code()), message);
  }
  return submit_upload_job(api, u, final_path);
}

}  // namespace kiln::console
