// S3Client's whole-file transfers: the resumable download and the multipart upload.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "storage/s3/s3_client.hpp"

namespace kiln::storage::s3 {
namespace {

/// Owns a file descriptor: closes it on destruction.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  /// Closes now, reporting the error (a full disk can show only here).
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

/// Removes a file on destruction unless kept.
struct RemoveUnlessKept {
  std::string path;
  bool keep = false;
  ~RemoveUnlessKept() {
    if (!keep) ::unlink(path.c_str());
  }
};

std::string strip_quotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::string errno_text(int e) {
  return e == ENOSPC ? "no space left on the device" : e == EDQUOT ? "over the disk quota" : std::strerror(e);
}

metrics::Counter& resumes_counter() {
  static metrics::Counter& c = metrics::default_registry()
                                   .counter("kiln_s3_download_resumes_total",
                                            "Downloads resumed with a Range request after a dropped connection.")
                                   .counter();
  return c;
}

metrics::Counter& aborts_counter(const std::string& result) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_s3_multipart_aborts_total", "Multipart uploads aborted after a failure, by whether the abort succeeded.",
      {"result"});
  return f.counter({result});
}

}  // namespace

Result<ObjectInfo> S3Client::download_to_file(const std::string& key, const std::string& path,
                                              const std::atomic<bool>* cancel) const {
  const std::string part = path + ".part";
  Fd fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status(Code::kIo, fmt::format("cannot write '{}': {}", part, errno_text(errno)));
  RemoveUnlessKept cleanup{part};

  ObjectInfo info;
  info.key = key;
  uint64_t written = 0;
  std::optional<uint64_t> total;
  Status refused;  // why the body of a response was not taken
  for (int resumes = 0;;) {
    const uint64_t start = written;
    Call c;
    c.method = "GET";
    c.key = key;
    c.what = "GET";
    c.cancel = cancel;
    if (start > 0) {
      c.headers.emplace_back("range", fmt::format("bytes={}-", start));
      if (!info.etag.empty()) c.headers.emplace_back("if-match", "\"" + info.etag + "\"");
    }
    c.accept = [&](const HttpResponse& r) {
      std::string etag = strip_quotes(r.header("etag"));
      if (start == 0) {
        info.etag = etag;
        total = std::strtoull(r.header("content-length").c_str(), nullptr, 10);
        info.content_type = r.header("content-type");
        return true;
      }
      std::string expect = fmt::format("bytes {}-", start);
      if (r.status != 206 || r.header("content-range").rfind(expect, 0) != 0) {
        refused = Status(Code::kStorage, fmt::format("{}: the server did not honour the Range of a resumed download",
                                                     context("GET", key).op));
        return false;
      }
      if (etag != info.etag) {
        refused = Status(Code::kStorage, fmt::format("{}: the object changed during the download (ETag {} -> {}): "
                                                     "download it again",
                                                     context("GET", key).op, info.etag, etag));
        return false;
      }
      return true;
    };
    c.sink = [&](std::string_view chunk) {
      while (!chunk.empty()) {
        ssize_t n = ::write(fd.get(), chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          refused = Status(Code::kIo, fmt::format("writing '{}' failed: {}", part, errno_text(errno)));
          return false;
        }
        written += static_cast<uint64_t>(n);
        chunk.remove_prefix(static_cast<size_t>(n));
      }
      return true;
    };
    auto r = execute(c);
    if (!refused.is_ok()) return refused;
    if (r) break;
    if (written > start && r.status().code() == Code::kStorageUnreachable && resumes < options_.max_resumes) {
      ++resumes;
      resumes_counter().inc();
      logger("s3")->warn("{}: the connection dropped after {} of {} bytes; resuming from there ({} of {})",
                         context("GET", key).op, written, total ? std::to_string(*total) : "?", resumes,
                         options_.max_resumes);
      continue;
    }
    return r.status();
  }
  if (total && written != *total)
    return Status(Code::kStorage, fmt::format("{}: got {} bytes of {}", context("GET", key).op, written, *total));
  if (fd.close() != 0) return Status(Code::kIo, fmt::format("writing '{}' failed: {}", part, errno_text(errno)));
  if (::rename(part.c_str(), path.c_str()) != 0)
    return Status(Code::kIo, fmt::format("cannot rename '{}' to '{}': {}", part, path, errno_text(errno)));
  cleanup.keep = true;
  info.size = written;
  return info;
}

Result<ObjectInfo> S3Client::upload_file(const std::string& path, const std::string& key, const PutOptions& options,
                                         const std::atomic<bool>* cancel) const {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status(Code::kInputMissing, fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  if (static_cast<uint64_t>(st.st_size) > options_.part_size) return multipart_upload(path, key, options, cancel);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status(Code::kInputMissing, fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  std::string body(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < body.size()) {
    ssize_t n = ::read(fd.get(), body.data() + got, body.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Code::kIo, fmt::format("reading '{}' failed: {}", path, std::strerror(errno)));
    got += static_cast<size_t>(n);
  }
  return put(key, body, options, cancel);
}

Result<std::string> S3Client::create_multipart(const std::string& key, const PutOptions& options) const {
  Call c;
  c.method = "POST";
  c.key = key;
  c.what = "CreateMultipartUpload";
  c.query = {{"uploads", ""}};
  c.headers.emplace_back("content-type", options.content_type.empty() ? "application/octet-stream" : options.content_type);
  if (!options.cache_control.empty()) c.headers.emplace_back("cache-control", options.cache_control);
  auto r = execute(c);
  if (!r) return r.status();
  std::string id = xml_text(r->body, "UploadId");
  if (id.empty()) return Status(Code::kStorage, context("CreateMultipartUpload", key).op + ": no UploadId in the answer");
  return id;
}

Status S3Client::abort_multipart(const std::string& key, const std::string& upload_id) const {
  Call c;
  c.method = "DELETE";
  c.key = key;
  c.what = "AbortMultipartUpload";
  c.query = {{"uploadId", upload_id}};
  c.policy = &options_.abort_retry;
  auto r = execute(c);
  return r ? Status::ok() : r.status();
}

Result<ObjectInfo> S3Client::complete_multipart(const std::string& key, const std::string& upload_id,
                                                const std::vector<std::string>& etags) const {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUpload>";
  for (size_t n = 1; n <= etags.size(); ++n)
    body += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>", n,
                        xml_escape(strip_quotes(etags[n - 1])));
  body += "</CompleteMultipartUpload>";
  Call c;
  c.method = "POST";
  c.key = key;
  c.what = "CompleteMultipartUpload";
  c.query = {{"uploadId", upload_id}};
  c.body = body;
  c.headers = {{"content-type", "application/xml"}};
  auto r = execute(c);
  if (!r) return r.status();
  // S3 may answer 200 and then report the failure in the body.
  if (auto err = parse_error_xml(r->body))
    return redacted(map_http_error(r->status, err, context("CompleteMultipartUpload", key)));
  ObjectInfo info;
  info.key = key;
  info.etag = strip_quotes(xml_text(r->body, "ETag"));
  return info;
}

Result<ObjectInfo> S3Client::multipart_upload(const std::string& path, const std::string& key,
                                              const PutOptions& options, const std::atomic<bool>* cancel) const {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status(Code::kInputMissing, fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  struct stat st {};
  ::fstat(fd.get(), &st);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t part_size = std::max<uint64_t>(1, options_.part_size);
  const int parts = static_cast<int>(std::max<uint64_t>(1, (size + part_size - 1) / part_size));
  if (parts > kMaxParts)
    return Status(Code::kUsage, fmt::format("'{}' ({} bytes) needs {} parts of {} bytes; S3 allows {}: raise part_size",
                                            path, size, parts, part_size, kMaxParts));
  auto upload_id = create_multipart(key, options);
  if (!upload_id) return upload_id.status();

  std::atomic<bool> stop{false};
  std::atomic<int> next{1};
  std::vector<std::string> etags(static_cast<size_t>(parts));
  std::mutex mu;
  std::condition_variable cv;
  int running = std::max(1, std::min(options_.concurrency, parts));
  Status first_error;
  auto fail = [&](Status s) {
    std::lock_guard lock(mu);
    if (first_error.is_ok()) first_error = std::move(s);
    stop = true;
  };
  auto worker = [&] {
    std::string buf;
    while (!stop) {
      int n = next++;
      if (n > parts) break;
      uint64_t offset = static_cast<uint64_t>(n - 1) * part_size;
      buf.resize(static_cast<size_t>(std::min(part_size, size - std::min(size, offset))));
      size_t got = 0;
      while (got < buf.size()) {
        ssize_t r = ::pread(fd.get(), buf.data() + got, buf.size() - got, static_cast<off_t>(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += static_cast<size_t>(r);
      }
      if (got != buf.size()) {
        fail(Status(Code::kIo, fmt::format("reading '{}' at byte {} failed", path, offset + got)));
        break;
      }
      Call c;
      c.method = "PUT";
      c.key = key;
      c.what = fmt::format("UploadPart {} of {}", n, parts);
      c.query = {{"partNumber", std::to_string(n)}, {"uploadId", *upload_id}};
      c.body = buf;
      c.cancel = &stop;
      auto r = execute(c);
      if (!r) {
        fail(r.status());
        break;
      }
      etags[static_cast<size_t>(n - 1)] = strip_quotes(r->header("etag"));
    }
    std::lock_guard lock(mu);
    --running;
    cv.notify_all();
  };
  std::vector<std::thread> threads;
  const int workers = running;
  for (int i = 0; i < workers; ++i) threads.emplace_back(worker);
  {
    std::unique_lock lock(mu);
    while (running > 0) {
      cv.wait_for(lock, std::chrono::milliseconds(100));
      if (cancel && cancel->load() && !stop) {
        if (first_error.is_ok()) first_error = Status(Code::kCancelled, context("multipart upload", key).op + ": cancelled");
        stop = true;
      }
    }
  }
  for (auto& t : threads) t.join();

  Status failed = first_error;
  ObjectInfo info;
  if (failed.is_ok()) {
    auto done = complete_multipart(key, *upload_id, etags);
    if (!done) {
      failed = done.status();
    } else {
      info = *done;
      info.size = size;
      return info;
    }
  }

  logger("s3")->warn("{}: aborting multipart upload {} after: {}", context("multipart upload", key).op, *upload_id,
                     failed.message());
  Status aborted = abort_multipart(key, *upload_id);
  aborts_counter(aborted.is_ok() ? "ok" : "failed").inc();
  if (aborted.is_ok())
    return Status(failed.code(), failed.message() + "; the multipart upload was aborted, no parts are left");
  logger("s3")->error("{}: aborting multipart upload {} failed too: {}", context("multipart upload", key).op,
                      *upload_id, aborted.message());
  return Status(failed.code(),
                fmt::format("{}; aborting the multipart upload failed too ({}): its parts stay stored until it is "
                            "aborted (upload id {}) or a lifecycle rule removes them",
                            failed.message(), aborted.message(), *upload_id));
}

}  // namespace kiln::storage::s3
