#pragma once
// An S3 client for one bucket, on libcurl and our SigV4: HEAD, GET (ranged, and to a file with
// resume), PUT, multipart upload with parallel parts, ListObjectsV2, DELETE, DeleteObjects and
// presigned URLs. Every request is retried with backoff and full jitter on 5xx, 429, SlowDown
// and connection errors, never on another 4xx; every failure is a Status whose message says
// what to check and never holds a secret.
//
//   auto client = S3Client::create(config);            // config: from a [[location]] or a URL
//   client->upload_file("/tmp/a.mp4", config.key("in/a.mp4"), {.content_type = "video/mp4"});
//   client->download_to_file(config.key("in/a.mp4"), "/scratch/a.mp4");
//   std::string url = client->presign_get(config.key("out/master.m3u8"), std::chrono::hours(1));
//
// Thread-safe: every method may be called from many threads at once.

#include <atomic>
#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.hpp"
#include "storage/s3/http_transport.hpp"
#include "storage/s3/s3_config.hpp"
#include "storage/s3/s3_errors.hpp"
#include "storage/s3/sigv4.hpp"

namespace kiln::storage::s3 {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;           // without quotes
  std::string content_type;   // HEAD and downloads
  std::string cache_control;  // HEAD only
  std::string last_modified;  // as the server wrote it
};

struct PutOptions {
  std::string content_type;   // "" -> application/octet-stream
  std::string cache_control;  // "" -> none
};

/// One page of a listing.
struct ListPage {
  std::vector<ObjectInfo> objects;  // in key order
  bool truncated = false;           // more after these
  std::string next_token;           // the continuation token for them
};

using Tags = std::vector<std::pair<std::string, std::string>>;

/// Bytes first..last inclusive; no last: to the end.
struct ByteRange {
  uint64_t first = 0;
  std::optional<uint64_t> last;
};

struct ClientOptions {
  S3Target target;
  RetryPolicy retry;
  /// The abort of a failed multipart upload tries longer than other requests: parts left
  /// behind are stored (and billed) until a lifecycle rule removes them.
  RetryPolicy abort_retry{12, std::chrono::milliseconds(500), std::chrono::milliseconds(10000)};
  TransportOptions transport;
  uint64_t part_size = 8 * kMiB;  // any size >= 1 here; AWS wants >= 5 MiB but the last
  int concurrency = 4;
  int max_resumes = 10;           // a download's resumes after dropped connections
  /// The signing clock; tests move it to provoke RequestTimeTooSkewed.
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

class S3Client {
 public:
  explicit S3Client(ClientOptions options);

  /// A client for `config`'s bucket, its endpoint, region and credentials resolved against
  /// `env` (resolve_target). kUsage when no credentials are found or a setting is invalid.
  static Result<std::unique_ptr<S3Client>> create(const S3Config& config, const Env& env = process_env());

  /// Size, ETag, type of an object. kInputMissing when there is none. A 403 (which a HEAD
  /// cannot explain) is asked again as a one-byte GET, so a wrong secret or a skewed clock gets
  /// its own code and message rather than kStorageDenied.
  Result<ObjectInfo> head(const std::string& key) const;

  /// An object's bytes (or a range of them) in memory.
  Result<std::string> get(const std::string& key, std::optional<ByteRange> range = std::nullopt) const;

  /// Downloads to `path` (written as `path.part`, renamed when complete and of the right
  /// size). A connection dropped mid-body resumes with a Range request from the last byte
  /// written, with If-Match on the first response's ETag: an object replaced meanwhile is an
  /// error (kStorage), never a file spliced from two objects. On failure `path` is untouched
  /// and no `.part` remains.
  Result<ObjectInfo> download_to_file(const std::string& key, const std::string& path,
                                      const std::atomic<bool>* cancel = nullptr) const;

  /// One PUT of `body`. The returned ETag is checked against the body's MD5 (kStorage if they
  /// differ: the bytes were changed in transit); an ETag that is not an MD5 (SSE-KMS) is not.
  /// `cancel` set stops it (kCancelled), even mid-transfer.
  Result<ObjectInfo> put(const std::string& key, std::string_view body, const PutOptions& options = {},
                         const std::atomic<bool>* cancel = nullptr) const;

  /// Uploads a file: one PUT up to part_size, a multipart upload above it.
  Result<ObjectInfo> upload_file(const std::string& path, const std::string& key, const PutOptions& options = {},
                                 const std::atomic<bool>* cancel = nullptr) const;

  /// A multipart upload of `path` whatever its size: create, `concurrency` parts of
  /// `part_size` in flight, complete. On any failure (or `cancel`) the other parts stop, then
  /// the upload is aborted (retried per abort_retry) so no parts are left; the Status says
  /// whether the abort succeeded.
  Result<ObjectInfo> multipart_upload(const std::string& path, const std::string& key, const PutOptions& options = {},
                                      const std::atomic<bool>* cancel = nullptr) const;

  /// The objects under `prefix` in key order (ListObjectsV2, pages of up to `page_size`), at
  /// most `limit` of them.
  Result<std::vector<ObjectInfo>> list(const std::string& prefix, size_t limit = SIZE_MAX, int page_size = 1000) const;

  /// One page of ListObjectsV2 under `prefix`, continuing from `token` when given, else from
  /// the first key after `start_after` ("" = the first key): a listing can resume after a
  /// restart from the last key it handled, where a continuation token may have expired.
  Result<ListPage> list_page(const std::string& prefix, const std::string& start_after, const std::string& token,
                             int max_keys = 1000) const;

  /// CopyObject within the bucket (a source up to 5 GiB, S3's limit for one copy). With
  /// `if_match`, only while the source has that ETag (kStorage, PreconditionFailed, if not).
  Result<ObjectInfo> copy(const std::string& from_key, const std::string& to_key, const std::string& if_match = "") const;

  /// An object's tags (GetObjectTagging), and replacing them (PutObjectTagging: the whole set).
  Result<Tags> get_tags(const std::string& key) const;
  Status put_tags(const std::string& key, const Tags& tags) const;

  /// Deletes one object (S3 answers 204 whether or not it existed).
  Status remove(const std::string& key) const;

  /// Deletes many (DeleteObjects, 1000 a request). A key the server could not delete fails the
  /// call, naming the first such key and why.
  Status remove_many(const std::vector<std::string>& keys) const;

  /// A presigned URL for `method` (GET, PUT, HEAD...) on `key`, valid for `expires` (1 s to
  /// 7 days). Whoever holds it can use it: hand it out only for what it is meant for.
  std::string presign(const std::string& method, const std::string& key, std::chrono::seconds expires) const;
  std::string presign_get(const std::string& key, std::chrono::seconds expires) const {
    return presign("GET", key, expires);
  }

  /// A multipart upload whose parts someone else sends (a browser, with presign_part URLs):
  /// start it, hand out one URL per part, then complete it with the parts' ETags, or abort it.
  Result<std::string> create_multipart(const std::string& key, const PutOptions& options) const;
  /// A presigned PUT for part `part_number` (1-based) of multipart upload `upload_id`.
  std::string presign_part(const std::string& key, const std::string& upload_id, int part_number,
                           std::chrono::seconds expires) const;
  /// CompleteMultipartUpload with `etags[i]` as part i+1's ETag (quotes optional). kStorage
  /// naming S3's own message when it refuses (a missing or wrong part).
  Result<ObjectInfo> complete_multipart(const std::string& key, const std::string& upload_id,
                                        const std::vector<std::string>& etags) const;
  Status abort_multipart(const std::string& key, const std::string& upload_id) const;

  /// "s3://bucket at http://127.0.0.1:9000 (path-style, region us-east-1, credentials from ...)".
  std::string describe() const;

  const ClientOptions& options() const { return options_; }

 private:
  struct Call {
    std::string method;
    std::string key;  // "" for the bucket itself
    std::vector<QueryParam> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view body;
    std::string payload_hash;  // "" -> SHA-256 of body
    std::function<bool(std::string_view)> sink;
    std::function<bool(const HttpResponse&)> accept;
    const std::atomic<bool>* cancel = nullptr;
    const RetryPolicy* policy = nullptr;  // null -> options_.retry
    std::string what;                     // the operation in messages: "GET", "UploadPart 3"
  };

  /// Signs and performs `call`, retrying per policy. A 2xx answer is returned; anything else
  /// is the mapped Status. A transport error after the sink got bytes is not retried here
  /// (download_to_file resumes instead).
  Result<HttpResponse> execute(const Call& call) const;

  std::string url_for(const std::string& key, const std::string& query) const;
  std::string path_for(const std::string& key) const;
  std::string host() const;
  ErrorContext context(const std::string& what, const std::string& key) const;
  Status redacted(Status s) const;

  ClientOptions options_;
  mutable HttpTransport transport_;
};

}  // namespace kiln::storage::s3
