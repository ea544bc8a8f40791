#include "storage/s3/s3_client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <random>
#include <thread>

#include "log.hpp"
#include "metrics/registry.hpp"

namespace kiln::storage::s3 {
namespace {

metrics::Counter& retries_counter(const std::string& reason) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_s3_retries_total", "S3 requests tried again, by what went wrong (connection, SlowDown, 503...).",
      {"reason"});
  return f.counter({reason});
}

std::string strip_quotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

bool is_md5_hex(const std::string& s) {
  if (s.size() != 32) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

/// Sleeps `d`, waking early when `cancel` is set; false when cancelled.
bool nap(std::chrono::milliseconds d, const std::atomic<bool>* cancel) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (cancel && cancel->load()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(50),
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now())));
  }
  return !(cancel && cancel->load());
}

double jitter() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

S3Client::S3Client(ClientOptions options) : options_(std::move(options)), transport_(options_.transport) {}

Result<std::unique_ptr<S3Client>> S3Client::create(const S3Config& config, const Env& env) {
  auto target = resolve_target(config, env);
  if (!target) return target.status();
  ClientOptions o;
  o.target = std::move(*target);
  o.part_size = config.part_size;
  o.concurrency = config.concurrency;
  return std::make_unique<S3Client>(std::move(o));
}

std::string S3Client::host() const {
  const S3Target& t = options_.target;
  return t.path_style ? t.endpoint.authority() : t.bucket + "." + t.endpoint.authority();
}

std::string S3Client::path_for(const std::string& key) const {
  const S3Target& t = options_.target;
  if (t.path_style) return key.empty() ? "/" + t.bucket : "/" + t.bucket + "/" + key;
  return "/" + key;
}

std::string S3Client::url_for(const std::string& key, const std::string& query) const {
  std::string url = options_.target.endpoint.scheme + "://" + host() + uri_encode(path_for(key), false);
  return query.empty() ? url : url + "?" + query;
}

ErrorContext S3Client::context(const std::string& what, const std::string& key) const {
  const S3Target& t = options_.target;
  ErrorContext c;
  c.op = key.empty() ? fmt::format("{} s3://{}", what, t.bucket) : fmt::format("{} s3://{}/{}", what, t.bucket, key);
  c.endpoint = t.endpoint.url();
  c.bucket = t.bucket;
  c.region = t.region;
  c.access_key_id = t.credentials.access_key_id;
  c.credentials_source = t.credentials.source;
  return c;
}

Status S3Client::redacted(Status s) const {
  if (s.is_ok()) return s;
  return Status(s.code(), redact(s.message(), options_.target.credentials));
}

std::string S3Client::describe() const {
  const S3Target& t = options_.target;
  return fmt::format("s3://{} at {} ({}, region {}, credentials from {})", t.bucket, t.endpoint.url(),
                     t.path_style ? "path-style" : "virtual-host", t.region, t.credentials.source);
}

Result<HttpResponse> S3Client::execute(const Call& call) const {
  const RetryPolicy& policy = call.policy ? *call.policy : options_.retry;
  const std::string payload_hash = call.payload_hash.empty() ? sha256_hex(call.body) : call.payload_hash;
  const std::string query = canonical_query(call.query);
  auto log = logger("s3");
  for (int attempt = 1;; ++attempt) {
    if (call.cancel && call.cancel->load())
      return Status(Code::kCancelled, context(call.what, call.key).op + ": cancelled");
    SignRequest sr;
    sr.method = call.method;
    sr.path = path_for(call.key);
    sr.query = call.query;
    sr.headers.emplace_back("host", host());
    for (const auto& h : call.headers) sr.headers.push_back(h);
    sr.payload_hash = payload_hash;
    sign_headers(sr, options_.target.credentials, SignScope{options_.target.region, "s3", options_.now()});

    HttpRequest req;
    req.method = call.method;
    req.url = url_for(call.key, query);
    req.headers = std::move(sr.headers);
    req.body = call.body;
    req.sink = call.sink;
    req.accept = call.accept;
    req.cancel = call.cancel;
    HttpResponse resp = transport_.perform(req);

    const bool last = attempt >= policy.max_attempts;
    std::string reason;
    if (resp.curl_code != CURLE_OK) {
      if (resp.curl_code == CURLE_ABORTED_BY_CALLBACK && call.cancel && call.cancel->load())
        return Status(Code::kCancelled, context(call.what, call.key).op + ": cancelled");
      if (resp.curl_code == CURLE_WRITE_ERROR && call.sink)
        return Status(Code::kIo, context(call.what, call.key).op + ": the local file could not take the bytes");
      // Bytes already went to the sink: a retry here would repeat them; the caller resumes.
      if (!retryable_transport(resp.curl_code) || last || resp.sink_bytes > 0)
        return redacted(map_transport_error(resp.curl_code, resp.curl_error, attempt, context(call.what, call.key)));
      reason = "connection";
    } else if (resp.status >= 200 && resp.status < 300) {
      return resp;
    } else {
      auto err = parse_error_xml(resp.body);
      if (!retryable_http(resp.status, err ? err->code : "") || last)
        return redacted(map_http_error(resp.status, err, context(call.what, call.key)));
      reason = err ? err->code : std::to_string(resp.status);
    }
    auto delay = backoff_delay(policy, attempt, jitter());
    log->warn("{}: {} (try {} of {}); trying again in {} ms", context(call.what, call.key).op,
              redact(resp.curl_code ? resp.curl_error : "HTTP " + std::to_string(resp.status) + " " + reason,
                     options_.target.credentials),
              attempt, policy.max_attempts, delay.count());
    retries_counter(reason).inc();
    if (!nap(delay, call.cancel)) return Status(Code::kCancelled, context(call.what, call.key).op + ": cancelled");
  }
}

Result<ObjectInfo> S3Client::head(const std::string& key) const {
  Call c;
  c.method = "HEAD";
  c.key = key;
  c.what = "HEAD";
  auto r = execute(c);
  if (!r && r.status().code() == Code::kStorageDenied) {
    // A HEAD's answer has no body, so a 403 cannot say whether the secret, the clock or a policy
    // is wrong: a one-byte GET of the same object gets the error document that says which.
    auto why = get(key, ByteRange{0, 0});
    if (!why && why.status().code() != Code::kStorageDenied) return why.status();
  }
  if (!r) return r.status();
  ObjectInfo info;
  info.key = key;
  info.size = std::strtoull(r->header("content-length").c_str(), nullptr, 10);
  info.etag = strip_quotes(r->header("etag"));
  info.content_type = r->header("content-type");
  info.cache_control = r->header("cache-control");
  info.last_modified = r->header("last-modified");
  return info;
}

Result<std::string> S3Client::get(const std::string& key, std::optional<ByteRange> range) const {
  Call c;
  c.method = "GET";
  c.key = key;
  c.what = "GET";
  if (range)
    c.headers.emplace_back("range", fmt::format("bytes={}-{}", range->first,
                                                range->last ? std::to_string(*range->last) : std::string()));
  auto r = execute(c);
  if (!r) return r.status();
  if (range && r->status != 206 && range->first > 0)
    return Status(Code::kStorage, context("GET", key).op + ": the server ignored the Range header");
  return std::move(r->body);
}

Result<ObjectInfo> S3Client::put(const std::string& key, std::string_view body, const PutOptions& options,
                                 const std::atomic<bool>* cancel) const {
  Call c;
  c.method = "PUT";
  c.key = key;
  c.what = "PUT";
  c.body = body;
  c.cancel = cancel;
  c.headers.emplace_back("content-type", options.content_type.empty() ? "application/octet-stream" : options.content_type);
  if (!options.cache_control.empty()) c.headers.emplace_back("cache-control", options.cache_control);
  auto r = execute(c);
  if (!r) return r.status();
  ObjectInfo info;
  info.key = key;
  info.size = body.size();
  info.etag = strip_quotes(r->header("etag"));
  // Without SSE-KMS an ETag of a single PUT is the body's MD5: a mismatch means changed bytes.
  if (is_md5_hex(info.etag) && info.etag != md5_hex(body))
    return Status(Code::kStorage, fmt::format("{}: the stored object's ETag {} is not the MD5 of what was sent ({}): "
                                              "the bytes changed on the way; upload again",
                                              context("PUT", key).op, info.etag, md5_hex(body)));
  return info;
}

Result<ListPage> S3Client::list_page(const std::string& prefix, const std::string& start_after,
                                     const std::string& token, int max_keys) const {
  Call c;
  c.method = "GET";
  c.what = "ListObjectsV2";
  c.query = {{"list-type", "2"}, {"prefix", prefix}, {"max-keys", std::to_string(max_keys)}};
  if (!token.empty()) c.query.push_back({"continuation-token", token});
  else if (!start_after.empty()) c.query.push_back({"start-after", start_after});
  auto r = execute(c);
  if (!r) return r.status();
  ListPage page;
  for (std::string_view item : xml_elements(r->body, "Contents")) {
    ObjectInfo o;
    o.key = xml_text(item, "Key");
    o.size = std::strtoull(xml_text(item, "Size").c_str(), nullptr, 10);
    o.etag = strip_quotes(xml_text(item, "ETag"));
    o.last_modified = xml_text(item, "LastModified");
    page.objects.push_back(std::move(o));
  }
  page.truncated = xml_text(r->body, "IsTruncated") == "true";
  if (page.truncated) {
    page.next_token = xml_text(r->body, "NextContinuationToken");
    if (page.next_token.empty() || page.next_token == token)
      return Status(Code::kStorage, context("ListObjectsV2", "").op + ": a truncated listing without a new continuation token");
  }
  return page;
}

Result<std::vector<ObjectInfo>> S3Client::list(const std::string& prefix, size_t limit, int page_size) const {
  std::vector<ObjectInfo> out;
  std::string token;
  while (out.size() < limit) {
    page_size = static_cast<int>(std::min<size_t>(static_cast<size_t>(page_size), limit - out.size()));
    auto page = list_page(prefix, "", token, page_size);
    if (!page) return page.status();
    for (auto& o : page->objects) out.push_back(std::move(o));
    if (out.size() > limit) out.resize(limit);
    if (!page->truncated) return out;
    token = page->next_token;
  }
  return out;
}

Result<ObjectInfo> S3Client::copy(const std::string& from_key, const std::string& to_key, const std::string& if_match) const {
  Call c;
  c.method = "PUT";
  c.key = to_key;
  c.what = "CopyObject";
  c.headers.emplace_back("x-amz-copy-source", uri_encode("/" + options_.target.bucket + "/" + from_key, false));
  if (!if_match.empty()) c.headers.emplace_back("x-amz-copy-source-if-match", "\"" + if_match + "\"");
  auto r = execute(c);
  if (!r) return r.status();
  // A copy can fail after its 200 was sent: the error is then in the body.
  if (auto err = parse_error_xml(r->body))
    return redacted(map_http_error(500, err, context("CopyObject", to_key)));
  ObjectInfo info;
  info.key = to_key;
  info.etag = strip_quotes(xml_text(r->body, "ETag"));
  info.last_modified = xml_text(r->body, "LastModified");
  return info;
}

Result<Tags> S3Client::get_tags(const std::string& key) const {
  Call c;
  c.method = "GET";
  c.key = key;
  c.what = "GetObjectTagging";
  c.query = {{"tagging", ""}};
  auto r = execute(c);
  if (!r) return r.status();
  Tags tags;
  for (std::string_view tag : xml_elements(r->body, "Tag")) tags.emplace_back(xml_text(tag, "Key"), xml_text(tag, "Value"));
  return tags;
}

Status S3Client::put_tags(const std::string& key, const Tags& tags) const {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Tagging><TagSet>";
  for (const auto& [k, v] : tags) body += "<Tag><Key>" + xml_escape(k) + "</Key><Value>" + xml_escape(v) + "</Value></Tag>";
  body += "</TagSet></Tagging>";
  Digest md5(Digest::Kind::kMd5);
  md5.update(body);
  Call c;
  c.method = "PUT";
  c.key = key;
  c.what = "PutObjectTagging";
  c.query = {{"tagging", ""}};
  c.body = body;
  c.headers = {{"content-type", "application/xml"}, {"content-md5", to_base64(md5.finish())}};
  auto r = execute(c);
  return r ? Status::ok() : r.status();
}

Status S3Client::remove(const std::string& key) const {
  Call c;
  c.method = "DELETE";
  c.key = key;
  c.what = "DELETE";
  auto r = execute(c);
  return r ? Status::ok() : r.status();
}

Status S3Client::remove_many(const std::vector<std::string>& keys) const {
  for (size_t at = 0; at < keys.size(); at += 1000) {
    std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>";
    for (size_t i = at; i < std::min(keys.size(), at + 1000); ++i)
      body += "<Object><Key>" + xml_escape(keys[i]) + "</Key></Object>";
    body += "</Delete>";
    Digest md5(Digest::Kind::kMd5);
    md5.update(body);
    Call c;
    c.method = "POST";
    c.what = "DeleteObjects";
    c.query = {{"delete", ""}};
    c.body = body;
    c.headers = {{"content-type", "application/xml"}, {"content-md5", to_base64(md5.finish())}};
    auto r = execute(c);
    if (!r) return r.status();
    auto errors = xml_elements(r->body, "Error");
    if (!errors.empty())
      return Status(Code::kStorage, redact(fmt::format("{}: {} of {} keys not deleted; the first, '{}': {} {}",
                                                       context("DeleteObjects", "").op, errors.size(), keys.size(),
                                                       xml_text(errors.front(), "Key"), xml_text(errors.front(), "Code"),
                                                       xml_text(errors.front(), "Message")),
                                           options_.target.credentials));
  }
  return Status::ok();
}

std::string S3Client::presign(const std::string& method, const std::string& key, std::chrono::seconds expires) const {
  SignRequest sr;
  sr.method = method;
  sr.path = path_for(key);
  sr.headers.emplace_back("host", host());
  std::string query = presign_query(sr, options_.target.credentials,
                                    SignScope{options_.target.region, "s3", options_.now()}, expires);
  return options_.target.endpoint.scheme + "://" + host() + uri_encode(sr.path, false) + "?" + query;
}

std::string S3Client::presign_part(const std::string& key, const std::string& upload_id, int part_number,
                                   std::chrono::seconds expires) const {
  SignRequest sr;
  sr.method = "PUT";
  sr.path = path_for(key);
  sr.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
  sr.headers.emplace_back("host", host());
  std::string query = presign_query(sr, options_.target.credentials,
                                    SignScope{options_.target.region, "s3", options_.now()}, expires);
  return options_.target.endpoint.scheme + "://" + host() + uri_encode(sr.path, false) + "?" + query;
}

}  // namespace kiln::storage::s3
