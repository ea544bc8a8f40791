#include "console/tus.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "console/headers.hpp"
#include "console/upload_finish.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/store_pool.hpp"
#include "store/upload_store.hpp"

namespace kiln::console {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTusVersion = "1.0.0";
constexpr const char* kUploadRoute = R"(/v1/uploads/([0-9a-f]{32}))";

metrics::Family& interruptions() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_console_upload_interruptions_total",
      "tus PATCH requests whose body stopped short (a dropped connection); the bytes that came are kept.");
  return f;
}

std::optional<std::string> base64_decode(const std::string& in) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) return std::nullopt;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

/// Upload-Metadata: "key base64,key base64,..." (a key may have no value).
std::optional<std::map<std::string, std::string>> parse_metadata(const std::string& header) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(',', pos);
    if (end == std::string::npos) end = header.size();
    std::string pair = header.substr(pos, end - pos);
    pair.erase(0, pair.find_first_not_of(' '));
    size_t space = pair.find(' ');
    std::string key = pair.substr(0, space);
    if (key.empty()) return std::nullopt;
    auto value = space == std::string::npos ? std::optional<std::string>("") : base64_decode(pair.substr(space + 1));
    if (!value) return std::nullopt;
    out[key] = *value;
    pos = end + 1;
  }
  return out;
}

std::string http_date_in(double seconds) {
  auto t = std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  return fmt::format("{:%a, %d %b %Y %H:%M:%S} GMT", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

void tus_headers(httplib::Response& res) {
  security_headers(res);
  res.set_header("Tus-Resumable", kTusVersion);
  res.set_header("Cache-Control", "no-store");
}

/// The paths of a file upload: its finished file and the .part it grows in.
struct UploadFiles {
  std::string final_path, part_path;
};
std::optional<UploadFiles> files_of(const coordinator::Config& config, const store::Upload& u) {
  const storage::Location* loc = config.locations.find(u.location);
  if (!loc || loc->is_s3()) return std::nullopt;
  std::string final_path = (fs::path(loc->root) / u.key).string();
  return UploadFiles{final_path, final_path + ".part"};
}

int64_t offset_of(const store::Upload& u, const UploadFiles& f) {
  if (u.state == "done") return u.length;
  std::error_code ec;
  auto size = fs::file_size(f.part_path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

/// Checks Tus-Resumable on a request that must carry it; answers 412 when it is wrong.
bool tus_version_ok(const httplib::Request& req, httplib::Response& res) {
  if (req.get_header_value("Tus-Resumable") == kTusVersion) return true;
  res.set_header("Tus-Version", kTusVersion);
  coordinator::send_error(res, 412, "tus_version", "this server speaks tus 1.0.0 (Tus-Resumable: 1.0.0)");
  return false;
}

/// Reads the upload named by the route; answers 404/410/503 and returns nullopt when it cannot.
std::optional<store::Upload> load(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  auto db = api.pool().borrow();
  if (!db) {
    coordinator::send_store_error(res, db.status());
    return std::nullopt;
  }
  auto u = store::UploadStore(**db).get(req.matches[1]);
  if (!u) {
    coordinator::send_store_error(res, u.status());
    return std::nullopt;
  }
  if (!*u) {
    coordinator::send_error(res, 404, "not_found", "no such upload (finished long ago, terminated or expired)");
    return std::nullopt;
  }
  if ((*u)->state == "receiving" && (*u)->expires_in_seconds <= 0) {
    coordinator::send_error(res, 410, "expired", "this upload expired before it finished; start it again");
    return std::nullopt;
  }
  return std::move(**u);
}

void create(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  tus_headers(res);
  if (!api.authorize(req, res, coordinator::Scope::kSubmit)) return;
  if (!tus_version_ok(req, res)) return;
  const auto& console = api.config().console;
  UploadPlace place = upload_place(api.config());
  if (!place.location) return coordinator::send_error(res, 503, "no_upload_location", place.why_not);
  if (place.location->is_s3())
    return coordinator::send_error(res, 400, "use_presigned_upload",
                                   fmt::format("uploads go to the bucket location '{}': POST /v1/uploads/s3 for presigned part URLs",
                                               place.location->name));
  if (req.has_header("Upload-Defer-Length"))
    return coordinator::send_error(res, 400, "length_required", "Upload-Defer-Length is not supported: send Upload-Length");
  std::string length_text = req.get_header_value("Upload-Length");
  auto length = coordinator::parse_id(length_text);
  if (!length || *length < 1) return coordinator::send_error(res, 400, "invalid_length", "Upload-Length must be a positive integer");
  if (*length > console.max_upload_bytes) {
    res.set_header("Tus-Max-Size", std::to_string(console.max_upload_bytes));
    return coordinator::send_error(res, 413, "upload_too_large", fmt::format("the file is {} bytes; uploads may be at most {} bytes",
                                                                             *length, console.max_upload_bytes));
  }
  auto meta = parse_metadata(req.get_header_value("Upload-Metadata"));
  if (!meta) return coordinator::send_error(res, 400, "invalid_metadata", "Upload-Metadata must be 'key base64,...'");
  std::string filename = (*meta)["filename"].empty() ? (*meta)["name"] : (*meta)["filename"];
  std::string filetype = (*meta)["filetype"].empty() ? (*meta)["type"] : (*meta)["filetype"];
  if (filename.empty()) return coordinator::send_error(res, 400, "invalid_metadata", "Upload-Metadata needs a filename");
  if (auto why = refuse_type(filetype, filename); !why.empty())
    return coordinator::send_error(res, 415, "not_a_video", why);
  store::Upload u;
  u.location = place.location->name;
  u.filename = filename;
  u.filetype = filetype;
  u.length = *length;
  u.key = console.upload_prefix + "{id}/" + safe_filename(filename);
  std::string output_location = (*meta)["output"].empty() ? place.location->name : (*meta)["output"];
  const storage::Location* out = api.config().locations.find(output_location);
  if (!out || out->is_s3())
    return coordinator::send_error(res, 400, "invalid_output", fmt::format("'{}' is not a file location to write outputs to", output_location));
  u.spec = {{"ladder", (*meta)["ladder"]}, {"output", output_location + ":" + console.output_prefix + "{id}"}};
  if (!(*meta)["metadata"].empty()) {
    auto m = nlohmann::json::parse((*meta)["metadata"], nullptr, false);
    if (!m.is_object()) return coordinator::send_error(res, 400, "invalid_metadata", "metadata must be a JSON object");
    u.spec["metadata"] = m;
  }
  auto db = api.pool().borrow();
  if (!db) return coordinator::send_store_error(res, db.status());
  auto made = store::UploadStore(**db).create(u, console.upload_expiry_hours * 3600);
  if (!made) return coordinator::send_store_error(res, made.status());
  // The job's spec is checked now, so a bad ladder is refused before any byte is sent.
  if (auto job = job_for_upload(api, *made, place.location->name + ":" + made->key); job.refusal) {
    (void)store::UploadStore(**db).remove(made->id);
    return coordinator::send_error(res, job.refusal->http, job.refusal->code, job.refusal->message);
  }
  auto files = files_of(api.config(), *made);
  std::error_code ec;
  fs::create_directories(fs::path(files->part_path).parent_path(), ec);
  int fd = ec ? -1 : ::open(files->part_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) {
    (void)store::UploadStore(**db).remove(made->id);
    logger("console")->warn("upload: cannot create {}: {}", files->part_path, ec ? ec.message() : strerror(errno));
    return coordinator::send_error(res, 500, "io", fmt::format("cannot store uploads in location '{}'; the coordinator's log says why",
                                                               place.location->name));
  }
  ::close(fd);  // created empty; PATCH opens it again
  res.status = 201;
  res.set_header("Location", "/v1/uploads/" + made->id);
  res.set_header("Upload-Expires", http_date_in(made->expires_in_seconds));
  res.set_content(upload_json(*made, 0).dump(), "application/json");
}

void head_or_get(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  tus_headers(res);
  if (!api.authorize(req, res, coordinator::Scope::kSubmit)) return;
  auto u = load(api, req, res);
  if (!u) return;
  auto files = files_of(api.config(), *u);
  int64_t offset = files ? offset_of(*u, *files) : (u->state == "done" ? u->length : 0);
  res.set_header("Upload-Offset", std::to_string(offset));
  res.set_header("Upload-Length", std::to_string(u->length));
  if (u->state == "receiving") res.set_header("Upload-Expires", http_date_in(u->expires_in_seconds));
  if (u->job_id) res.set_header("Kiln-Job-Id", std::to_string(u->job_id));
  res.set_content(upload_json(*u, offset).dump(), "application/json");
}

void patch(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res,
           const httplib::ContentReader& reader) {
  tus_headers(res);
  // Until the body is read, an answer leaves it unread on the connection: the client must not
  // send another request on it.
  res.set_header("Connection", "close");
  if (auto length = coordinator::parse_id(req.get_header_value("Content-Length"));
      length && static_cast<size_t>(*length) > api.config().console.chunk_bytes)
    return coordinator::send_error(res, 413, "too_much", fmt::format("a PATCH may carry at most {} bytes",
                                                                     api.config().console.chunk_bytes));
  if (!api.authorize(req, res, coordinator::Scope::kSubmit)) return;
  if (!tus_version_ok(req, res)) return;
  if (req.get_header_value("Content-Type") != "application/offset+octet-stream")
    return coordinator::send_error(res, 415, "unsupported_media_type", "a PATCH body is Content-Type: application/offset+octet-stream");
  auto u = load(api, req, res);
  if (!u) return;
  if (u->state != "receiving") {
    res.status = u->state == "refused" ? 410 : 409;
    return coordinator::send_error(res, res.status, "upload_" + u->state,
                                   u->state == "refused" ? u->error : "this upload has all its bytes already");
  }
  auto files = files_of(api.config(), *u);
  if (!files) return coordinator::send_error(res, 500, "io", "the upload's location is no longer a file location");
  auto claimed = coordinator::parse_id(req.get_header_value("Upload-Offset"));
  if (!claimed && req.get_header_value("Upload-Offset") != "0")
    return coordinator::send_error(res, 400, "invalid_offset", "Upload-Offset must be a non-negative integer");
  int64_t want = claimed.value_or(0);
  // fd: owned here; closed on every path below (the flock goes with it).
  int fd = ::open(files->part_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return coordinator::send_error(res, 404, "not_found", "this upload's bytes are gone (expired or terminated)");
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return coordinator::send_error(res, 423, "locked", "another request is writing this upload; retry in a moment");
  }
  int64_t offset = offset_of(*u, *files);
  if (want != offset) {
    ::close(fd);
    res.set_header("Upload-Offset", std::to_string(offset));
    return coordinator::send_error(res, 409, "offset_mismatch",
                                   fmt::format("Upload-Offset {} is not the upload's offset {}; HEAD it and resume from there", want, offset));
  }
  const size_t chunk_limit = api.config().console.chunk_bytes;
  int64_t received = 0;
  bool too_much = false, write_failed = false;
  bool complete_body = reader([&](const char* data, size_t len) {
    if (offset + received + static_cast<int64_t>(len) > u->length || received + len > chunk_limit) {
      too_much = true;
      return false;
    }
    size_t done = 0;
    while (done < len) {
      ssize_t n = ::write(fd, data + done, len - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        write_failed = true;
        return false;
      }
      done += static_cast<size_t>(n);
    }
    received += static_cast<int64_t>(len);
    return true;
  });
  ::close(fd);
  if (complete_body) res.headers.erase("Connection");
  offset += received;
  res.set_header("Upload-Offset", std::to_string(offset));
  if (write_failed) {
    logger("console")->warn("upload {}: writing {} failed: {}", u->id, files->part_path, strerror(errno));
    return coordinator::send_error(res, 500, "io", "storing the upload failed; the coordinator's log says why");
  }
  if (too_much)
    return coordinator::send_error(res, 413, "too_much",
                                   fmt::format("a PATCH may carry at most {} bytes and never past Upload-Length {}",
                                               chunk_limit, u->length));
  if (!complete_body) {
    interruptions().counter().inc();
    logger("console")->warn("upload {} ({}): the PATCH body stopped after {} bytes (connection dropped); kept {} of {} bytes, "
                            "the client resumes from there", u->id, u->filename, received, offset, u->length);
    return coordinator::send_error(res, 400, "interrupted", "the body stopped short; HEAD the upload and resume");
  }
  if (offset < u->length) {
    res.status = 204;
    return;
  }
  Finished f = finish_file_upload(api, *u, files->part_path, files->final_path);
  if (f.job_id) {
    res.set_header("Kiln-Job-Id", std::to_string(f.job_id));
    res.status = 204;
    return;
  }
  res.status = f.http;
  res.set_content(f.body.dump(), "application/json");
}

void terminate(coordinator::ApiServer& api, const httplib::Request& req, httplib::Response& res) {
  tus_headers(res);
  if (!api.authorize(req, res, coordinator::Scope::kSubmit)) return;
  if (!tus_version_ok(req, res)) return;
  auto u = load(api, req, res);
  if (!u) return;
  if (u->state == "done" || u->state == "checking")
    return coordinator::send_error(res, 409, "upload_finished",
                                   u->job_id ? fmt::format("this upload became job {}; cancel the job instead", u->job_id)
                                             : "this upload is being checked; it cannot be terminated now");
  auto db = api.pool().borrow();
  if (!db) return coordinator::send_store_error(res, db.status());
  auto removed = store::UploadStore(**db).remove(u->id);
  if (!removed) return coordinator::send_store_error(res, removed.status());
  remove_upload_files(api.config(), u->location, u->key);
  logger("console")->info("upload {} ({}) terminated", u->id, u->filename);
  res.status = 204;
}

}  // namespace

UploadPlace upload_place(const coordinator::Config& config) {
  const auto& list = config.locations.list();
  if (list.empty()) return {nullptr, "no [[location]] is configured: uploads have nowhere to go"};
  const std::string& name = config.console.upload_location;
  const storage::Location* loc = name.empty() ? &list.front() : config.locations.find(name);
  if (!loc) return {nullptr, fmt::format("[console] upload_location = '{}' names no [[location]]", name)};
  return {loc, ""};
}

void remove_upload_files(const coordinator::Config& config, const std::string& location, const std::string& key) {
  const storage::Location* loc = config.locations.find(location);
  if (!loc || loc->is_s3() || key.empty()) return;
  std::error_code ec;
  fs::path final_path = fs::path(loc->root) / key;
  fs::remove(final_path.string() + ".part", ec);
  fs::remove(final_path, ec);
  fs::remove(final_path.parent_path(), ec);  // the upload's own directory, once empty
}

void add_tus_routes(coordinator::ApiServer& api) {
  auto options = [&api](const httplib::Request&, httplib::Response& res) {
    security_headers(res);
    res.set_header("Tus-Resumable", kTusVersion);
    res.set_header("Tus-Version", kTusVersion);
    res.set_header("Tus-Extension", "creation,termination,expiration");
    res.set_header("Tus-Max-Size", std::to_string(api.config().console.max_upload_bytes));
    res.status = 204;
  };
  api.route("OPTIONS", "/v1/uploads", "/v1/uploads", options);
  api.route("OPTIONS", kUploadRoute, "/v1/uploads/{id}", options);
  api.route("POST", "/v1/uploads", "/v1/uploads", [&api](const httplib::Request& req, httplib::Response& res) { create(api, req, res); });
  api.route("GET", kUploadRoute, "/v1/uploads/{id}",
            [&api](const httplib::Request& req, httplib::Response& res) { head_or_get(api, req, res); });
  api.route_patch_streamed(kUploadRoute, "/v1/uploads/{id}", api.config().console.chunk_bytes,
                           [&api](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                             patch(api, req, res, reader);
                           });
  api.route("DELETE", kUploadRoute, "/v1/uploads/{id}",
            [&api](const httplib::Request& req, httplib::Response& res) { terminate(api, req, res); });
}

}  // namespace kiln::console
