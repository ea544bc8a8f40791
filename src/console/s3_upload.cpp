#include "console/s3_upload.hpp"

#include <fmt/format.h>

#include "console/headers.hpp"
#include "console/tus.hpp"
#include "console/upload_finish.hpp"
#include "log.hpp"
#include "storage/s3/s3_client.hpp"
#include "store/store_pool.hpp"

namespace kiln::console {
namespace {

constexpr int kMaxParts = 10000;
constexpr auto kPartUrlLife = std::chrono::hours(24);

void begin(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  security_headers(res);
  if (!api.authorize(req, res, coordinator::Scope::kSubmit)) return;
  const auto& config = api.config();
  UploadPlace place = upload_place(config);
  if (!place.location) return coordinator::send_error(res, 503, "no_upload_location", place.why_not);
  if (!place.location->is_s3())
    return coordinator::send_error(res, 400, "use_tus", fmt::format("uploads go to the file location '{}': use tus at /v1/uploads",
                                                                    place.location->name));
  auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("filename") || !body["filename"].is_string() || !body.contains("size") ||
      !body["size"].is_number_integer())
    return coordinator::send_error(res, 400, "invalid_request", "send {\"filename\", \"filetype\", \"size\"}");
  int64_t size = body["size"].get<int64_t>();
  std::string filename = body["filename"], filetype = body.value("filetype", "");
  if (size < 1) return coordinator::send_error(res, 400, "invalid_length", "size must be positive");
  if (size > config.console.max_upload_bytes)
    return coordinator::send_error(res, 413, "upload_too_large", fmt::format("the file is {} bytes; uploads may be at most {} bytes",
                                                                             size, config.console.max_upload_bytes));
  if (auto why = refuse_type(filetype, filename); !why.empty()) return coordinator::send_error(res, 415, "not_a_video", why);
  const auto& s3 = *place.location->s3;
  int64_t part_size = static_cast<int64_t>(std::max<uint64_t>(s3.part_size, 5 << 20));
  int64_t parts = (size + part_size - 1) / part_size;
  if (parts > kMaxParts)
    return coordinator::send_error(res, 413, "upload_too_large", fmt::format("{} bytes need {} parts; a bucket takes {}", size, parts, kMaxParts));
  std::string output_location = body.value("output", "");
  if (output_location.empty())
    for (const auto& l : config.locations.list())
      if (!l.is_s3()) { output_location = l.name; break; }
  const storage::Location* out = config.locations.find(output_location);
  if (!out || out->is_s3())
    return coordinator::send_error(res, 400, "invalid_output", fmt::format("'{}' is not a file location to write outputs to", output_location));
  store::Upload u;
  u.location = place.location->name;
  u.filename = filename;
  u.filetype = filetype;
  u.length = size;
  u.key = config.console.upload_prefix + "{id}/" + safe_filename(filename);
  u.spec = {{"ladder", body.value("ladder", "")}, {"output", output_location + ":" + config.console.output_prefix + "{id}"}};
  if (body.contains("metadata")) {
    if (!body["metadata"].is_object()) return coordinator::send_error(res, 400, "invalid_metadata", "metadata must be an object");
    u.spec["metadata"] = body["metadata"];
  }
  auto client = api.s3_clients().client(*place.location);
  if (!client) return coordinator::send_error(res, 503, "storage_unavailable", client.status().message());
  auto db = api.pool().borrow();
  if (!db) return coordinator::send_store_error(res, db.status());
  auto made = store::UploadStore(**db).create(u, config.console.upload_expiry_hours * 3600);
  if (!made) return coordinator::send_store_error(res, made.status());
  if (auto job = job_for_upload(api, *made, "s3://" + s3.bucket + "/" + s3.key(made->key)); job.refusal) {
    (void)store::UploadStore(**db).remove(made->id);
    return coordinator::send_error(res, job.refusal->http, job.refusal->code, job.refusal->message);
  }
  auto upload_id = (*client)->create_multipart(s3.key(made->key), {filetype, ""});
  if (!upload_id) {
    (void)store::UploadStore(**db).remove(made->id);
    logger("console")->warn("bucket upload: starting a multipart upload in '{}': {}", place.location->name, upload_id.status().message());
    return coordinator::send_error(res, 503, "storage_unavailable", upload_id.status().message());
  }
  if (auto st = store::UploadStore(**db).set_s3_upload_id(made->id, *upload_id); !st.is_ok()) return coordinator::send_store_error(res, st);
  nlohmann::json urls = nlohmann::json::array();
  for (int n = 1; n <= parts; ++n)
    urls.push_back({{"partNumber", n}, {"url", (*client)->presign_part(s3.key(made->key), *upload_id, n, kPartUrlLife)}});
  nlohmann::json out_json = upload_json(*made, 0);
  out_json["partSize"] = part_size;
  out_json["parts"] = urls;
  coordinator::send_json(res, out_json, 201);
}

std::optional<store::Upload> load(coordinator::ApiServer& api, const std::string& id, httplib::Response& res) {
  auto db = api.pool().borrow();
  if (!db) {
    coordinator::send_store_error(res, db.status());
    return std::nullopt;
  }
  auto u = store::UploadStore(**db).get(id);
  if (!u) {
    coordinator::send_store_error(res, u.status());
    return std::nullopt;
  }
  const storage::Location* loc = *u ? api.config().locations.find((*u)->location) : nullptr;
  if (!*u || !loc || !loc->is_s3() || (*u)->s3_upload_id.empty()) {
    coordinator::send_error(res, 404, "not_found", "no such bucket upload");
    return std::nullopt;
  }
  return std::move(**u);
}

void complete(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  security_headers(res);
  if (!api.authorize(req, res, coordinator::Scope::kSubmit)) return;
  auto u = load(api, req.matches[1], res);
  if (!u) return;
  if (u->state == "done") return coordinator::send_json(res, upload_json(*u, u->length));
  if (u->state != "receiving")
    return coordinator::send_error(res, 409, "upload_" + u->state, u->error.empty() ? "this upload is being checked" : u->error);
  auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("etags") || !body["etags"].is_array() || body["etags"].empty())
    return coordinator::send_error(res, 400, "invalid_request", "send {\"etags\": [part 1's ETag, part 2's, ...]}");
  std::vector<std::string> etags;
  for (const auto& e : body["etags"]) {
    if (!e.is_string()) return coordinator::send_error(res, 400, "invalid_request", "every ETag is a string");
    etags.push_back(e.get<std::string>());
  }
  const storage::Location& loc = *api.config().locations.find(u->location);
  auto client = api.s3_clients().client(loc);
  if (!client) return coordinator::send_error(res, 503, "storage_unavailable", client.status().message());
  std::string key = loc.s3->key(u->key);
  auto done = (*client)->complete_multipart(key, u->s3_upload_id, etags);
  if (!done) return coordinator::send_error(res, 400, "incomplete", done.status().message());
  auto head = (*client)->head(key);
  if (!head || static_cast<int64_t>(head->size) != u->length) {
    std::string why = head ? fmt::format("'{}' arrived with {} bytes, not the {} announced; upload it again", u->filename, head->size, u->length)
                           : head.status().message();
    (void)(*client)->remove(key);
    if (auto db = api.pool().borrow()) (void)store::UploadStore(**db).refuse(u->id, why);
    return coordinator::send_error(res, 400, "size_mismatch", why);
  }
  {
    auto db = api.pool().borrow();
    if (!db) return coordinator::send_store_error(res, db.status());
    auto won = store::UploadStore(**db).begin_check(u->id);
    if (!won) return coordinator::send_store_error(res, won.status());
    if (!*won) return coordinator::send_error(res, 409, "upload_busy", "this upload is already being finished");
  }
  Finished f = submit_upload_job(api, *u, "s3://" + loc.s3->bucket + "/" + key);
  if (f.job_id) res.set_header("Kiln-Job-Id", std::to_string(f.job_id));
  coordinator::send_json(res, f.body, f.job_id ? 200 : f.http);
}

void abort(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  security_headers(res);
  if (!api.authorize(req, res, coordinator::Scope::kSubmit)) return;
  auto u = load(api, req.matches[1], res);
  if (!u) return;
  if (u->state == "done" || u->state == "checking")
    return coordinator::send_error(res, 409, "upload_finished", "this upload is finished; cancel its job instead");
  abort_bucket_upload(api, *u);
  auto db = api.pool().borrow();
  if (!db) return coordinator::send_store_error(res, db.status());
  (void)store::UploadStore(**db).remove(u->id);
  res.status = 204;
}

}  // namespace

std::string bucket_origin(coordinator::ApiServer& api, const storage::Location& location) {
  auto client = api.s3_clients().client(location);
  if (!client) return "";
  std::string url = (*client)->presign_get("x", std::chrono::seconds(60));
  auto scheme_end = url.find("://");
  auto path = scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  return path == std::string::npos ? "" : url.substr(0, path);
}

void abort_bucket_upload(coordinator::ApiServer& api, const store::Upload& u) {
  const storage::Location* loc = api.config().locations.find(u.location);
  if (!loc || !loc->is_s3() || u.s3_upload_id.empty()) return;
  auto client = api.s3_clients().client(*loc);
  if (!client) return;
  if (auto st = (*client)->abort_multipart(loc->s3->key(u.key), u.s3_upload_id); !st.is_ok())
    logger("console")->warn("upload {}: aborting its multipart upload: {}", u.id, st.message());
}

void add_bucket_upload_routes(coordinator::ApiServer& api) {
  api.route("POST", "/v1/uploads/s3", "/v1/uploads/s3", [&api](const httplib::Request& req, httplib::Response& res) { begin(api, req, res); });
  api.route("POST", "/v1/uploads/s3/([0-9a-f]{32})/complete", "/v1/uploads/s3/{id}/complete",
            [&api](const httplib::Request& req, httplib::Response& res) { complete(api, req, res); });
  api.route("DELETE", "/v1/uploads/s3/([0-9a-f]{32})", "/v1/uploads/s3/{id}",
            [&api](const httplib::Request& req, httplib::Response& res) { abort(api, req, res); });
}

}  // namespace kiln::console
