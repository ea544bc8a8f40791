#include "pipeline/s3_publish.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "package/manifest.hpp"
#include "pipeline/result_json.hpp"

namespace kiln::pipeline {
namespace fs = std::filesystem;
using storage::s3::S3Client;

namespace {

constexpr const char* kResultJson = "result.json";
constexpr const char* kImmutable = "public, max-age=31536000, immutable";
constexpr const char* kRevalidate = "no-cache";

/// Content types by extension (the players' and CDNs' expectations; RFC 8216, ISO 23009-1,
/// RFC 6381's "video/iso.segment" for CMAF media segments).
struct TypeByExtension {
  const char* extension;
  const char* content_type;
};
constexpr TypeByExtension kTypes[] = {
    {".m4s", "video/iso.segment"},
    {".mp4", "video/mp4"},
    {".m3u8", "application/vnd.apple.mpegurl"},
    {".mpd", "application/dash+xml"},
    {".json", "application/json"},
    {".jpg", "image/jpeg"},
    {".webp", "image/webp"},
    {".avif", "image/avif"},
    {".vtt", "text/vtt"},
};

metrics::Counter& cleanup_failures(const std::string& when) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_s3_cleanup_failures_total",
      "Objects of a publish that could not be deleted: a failed publish's own (left for the next attempt), or "
      "earlier attempts' after a publish.",
      {"when"});
  return f.counter({when});
}

/// The first path component of `relative` ("a3" for "a3/720p/seg_00001.m4s").
std::string first_component(const std::string& relative) { return relative.substr(0, relative.find('/')); }

/// "a<N>" -> N, anything else -> -1.
int attempt_of(const std::string& folder) {
  if (folder.size() < 2 || folder[0] != 'a' || folder.size() > 11) return -1;
  int n = 0;
  for (size_t i = 1; i < folder.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(folder[i]))) return -1;
    n = n * 10 + (folder[i] - '0');
  }
  return n;
}

Result<std::string> read_local(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIo, fmt::format("cannot read '{}'", path));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Sets a flag at a deadline (or never, for a zero window). The flag is what the client's
/// requests watch, so a manifest upload still running at the deadline is stopped.
class Alarm {
 public:
  explicit Alarm(std::chrono::milliseconds window) {
    if (window.count() <= 0) return;
    const auto at = std::chrono::steady_clock::now() + window;
    thread_ = std::thread([this, at] {
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, at, [this] { return done_; })) rung_ = true;
    });
  }
  ~Alarm() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  const std::atomic<bool>* flag() const { return &rung_; }
  bool rung() const { return rung_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> rung_{false};
  std::thread thread_;
};

/// One publish: what it stored, so a failure can take exactly that back.
class Publisher {
 public:
  Publisher(const std::string& local_dir, const S3Output& out, const S3PublishOptions& options)
      : local_(local_dir), out_(out), opt_(options), prefix_(out.key + "/") {}

  Status run() {
    auto log = logger("pipeline");
    std::vector<std::string> media, playlists, manifests;
    bool has_result = false;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(local_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const std::string rel = fs::relative(it->path(), local_).generic_string();
      if (first_component(rel) == opt_.folder && rel.find('/') != std::string::npos)
        (rel.size() > 5 && rel.compare(rel.size() - 5, 5, ".m3u8") == 0 ? playlists : media).push_back(rel);
      else if (rel == kResultJson)
        has_result = true;
      else
        manifests.push_back(rel);
    }
    if (ec) return Status(Code::kIo, fmt::format("cannot list '{}' to publish it: {}", local_, ec.message()));
    std::sort(media.begin(), media.end());
    std::sort(playlists.begin(), playlists.end());
    // The multivariant playlist, then the MPD (each names only objects already stored).
    auto rank = [](const std::string& rel) {
      return rel == package::kHlsMaster ? 0 : rel == package::kDashManifest ? 1 : 2;
    };
    std::sort(manifests.begin(), manifests.end(), [&](const std::string& a, const std::string& b) {
      return rank(a) != rank(b) ? rank(a) < rank(b) : a < b;
    });
    const auto start = std::chrono::steady_clock::now();
    log->info("publishing {}: {} media objects and {} media playlists under {}/, then {} manifests and {}",
              out_.url, media.size(), playlists.size(), opt_.folder, manifests.size(), kResultJson);

    if (Status st = upload_parallel(media); !st.is_ok()) return failed(st);
    if (Status st = upload_parallel(playlists); !st.is_ok()) return failed(st);
    if (cancelled()) return failed(Status(Code::kCancelled, "cancelled; nothing was published"));
    // Something of another job's may have landed while this one ran.
    if (Status st = check_s3_output(out_, opt_.job_id, opt_.overwrite, opt_.folder); !st.is_ok()) return failed(st);
    // The window starts before the lease check: the lease it renews runs from later than this.
    const auto deadline = opt_.now() + opt_.manifest_window;
    Alarm alarm(opt_.manifest_window);
    auto too_late = [&] { return opt_.manifest_window.count() > 0 && (alarm.rung() || opt_.now() >= deadline); };
    if (opt_.before_manifests && !opt_.before_manifests())
      return failed(Status(Code::kCancelled,
                           fmt::format("the job is no longer ours (lease lost or cancelled) before the manifests of "
                                       "'{}': nothing was published",
                                       out_.url)));
    if (has_result) manifests.push_back(kResultJson);  // last: its presence means complete
    for (const auto& rel : manifests) {
      if (cancelled()) return failed(Status(Code::kCancelled, "cancelled; nothing was published"));
      if (too_late()) return failed(window_passed());
      auto body = read_local((fs::path(local_) / rel).string());
      if (!body) return failed(body.status());
      manifests_sent_.emplace_back(prefix_ + rel, *body);  // before the PUT: its answer may be lost
      auto put = out_.client->put(prefix_ + rel, *body, put_options(rel), alarm.flag());
      if (!put) return failed(too_late() ? window_passed() : put.status());
      stored(prefix_ + rel);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log->info("published {} ({} objects) in {:.1f} s", out_.url, stored_count_, seconds);
    remove_earlier();
    return Status::ok();
  }

 private:
  static storage::s3::PutOptions put_options(const std::string& rel) {
    ObjectHeaders h = headers_for(rel);
    return {h.content_type, h.cache_control};
  }

  bool cancelled() const { return opt_.cancel && opt_.cancel->load(); }

  Status window_passed() const {
    return Status(Code::kCancelled,
                  fmt::format("the manifests of '{}' could not be stored within {} ms of the lease check (the lease "
                              "may have passed to another attempt): nothing was published",
                              out_.url, opt_.manifest_window.count()));
  }

  void stored(const std::string& key) {
    ++stored_count_;
    if (opt_.on_stored) opt_.on_stored(key);
  }

  /// Uploads every file of one step, `concurrency` at a time; the first failure stops the rest.
  Status upload_parallel(const std::vector<std::string>& files) {
    if (files.empty()) return Status::ok();
    std::mutex mu;
    Status first;
    size_t next = 0;
    auto worker = [&] {
      for (;;) {
        std::string rel;
        {
          std::lock_guard lock(mu);
          if (!first.is_ok() || next >= files.size()) return;
          if (cancelled()) {
            first = Status(Code::kCancelled, "cancelled; nothing was published");
            return;
          }
          rel = files[next++];
        }
        auto r = out_.client->upload_file((fs::path(local_) / rel).string(), prefix_ + rel, put_options(rel),
                                          opt_.cancel);
        std::lock_guard lock(mu);
        if (!r) {
          if (first.is_ok()) first = r.status();
          return;
        }
        stored(prefix_ + rel);
      }
    };
    const int threads = std::max(1, std::min<int>(out_.client->options().concurrency, static_cast<int>(files.size())));
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    return first;
  }

  /// Takes back everything this publish stored: its manifests first (they name its folder;
  /// each only if it is still the one this attempt wrote), then its folder.
  Status failed(const Status& why) {
    auto log = logger("pipeline");
    std::vector<std::string> problems;
    for (auto it = manifests_sent_.rbegin(); it != manifests_sent_.rend(); ++it) {
      auto now = out_.client->get(it->first);
      if (!now) {
        if (now.status().code() != Code::kInputMissing) problems.push_back(now.status().message());
        continue;
      }
      if (*now != it->second) continue;  // replaced meanwhile: not ours to delete
      if (Status st = out_.client->remove(it->first); !st.is_ok()) problems.push_back(st.message());
    }
    size_t removed = 0;
    if (problems.empty()) {  // never the folder while one of our manifests may still name it
      auto listed = out_.client->list(prefix_ + opt_.folder + "/");
      if (!listed) {
        problems.push_back(listed.status().message());
      } else {
        std::vector<std::string> keys;
        for (const auto& o : *listed) keys.push_back(o.key);
        if (Status st = out_.client->remove_many(keys); !st.is_ok()) problems.push_back(st.message());
        else removed = keys.size();
      }
    }
    if (problems.empty()) {
      if (removed > 0 || !manifests_sent_.empty())
        log->info("publish of {} failed; removed the {} object(s) it had stored", out_.url, removed + manifests_sent_.size());
      return why;
    }
    cleanup_failures("failed_publish").inc();
    log->warn("publish of {} failed ({}), and what it stored under {}{}/ could not be deleted: {}; the next attempt's "
              "publish deletes it",
              out_.url, why.message(), prefix_, opt_.folder, problems.front());
    return Status(why.code(), fmt::format("{}; the objects it had stored under {}/{}/ could not be deleted ({}) and are "
                                          "left for the next attempt's publish to delete",
                                          why.message(), out_.url, opt_.folder, problems.front()));
  }

  /// After a publish: earlier attempts' folders (nothing names them now) or, for kiln transcode
  /// --overwrite, everything that is not this publish's.
  void remove_earlier() {
    auto log = logger("pipeline");
    auto listed = out_.client->list(prefix_);
    std::vector<std::string> keys;
    if (listed) {
      for (const auto& o : *listed) {
        const std::string rel = o.key.substr(prefix_.size());
        const std::string first = first_component(rel);
        if (first == opt_.folder) continue;
        const int earlier = attempt_of(first);
        const bool older_attempt = opt_.job_id > 0 && rel.find('/') != std::string::npos && earlier >= 0 &&
                                   earlier < opt_.attempt;
        const bool replaced = opt_.job_id == 0 && opt_.overwrite && !published(rel);
        if (older_attempt || replaced) keys.push_back(o.key);
      }
    }
    Status st = listed ? out_.client->remove_many(keys) : listed.status();
    if (st.is_ok()) {
      if (!keys.empty()) log->info("removed {} object(s) of earlier publishes of {}", keys.size(), out_.url);
      return;
    }
    cleanup_failures("earlier_attempts").inc();
    log->warn("published {}, but earlier attempts' objects under it could not be deleted: {}; they are named by no "
              "manifest and stay until removed by hand or by the next publish there",
              out_.url, st.message());
  }

  bool published(const std::string& rel) const {
    return rel == kResultJson || first_component(rel) == opt_.folder ||
           std::any_of(manifests_sent_.begin(), manifests_sent_.end(),
                       [&](const auto& m) { return m.first == prefix_ + rel; });
  }

  const std::string local_;
  const S3Output& out_;
  const S3PublishOptions& opt_;
  const std::string prefix_;
  std::vector<std::pair<std::string, std::string>> manifests_sent_;  // key, bytes
  size_t stored_count_ = 0;
};

}  // namespace

std::string attempt_folder(int64_t job_id, int attempt) {
  if (job_id > 0) return fmt::format("a{}", attempt);
  return fmt::format("run-{:08x}", std::random_device{}());
}

ObjectHeaders headers_for(const std::string& relative) {
  ObjectHeaders h{"application/octet-stream", kRevalidate};
  for (const auto& t : kTypes) {
    std::string_view ext = t.extension;
    if (relative.size() >= ext.size() && relative.compare(relative.size() - ext.size(), ext.size(), ext) == 0)
      h.content_type = t.content_type;
  }
  if (relative.find('/') != std::string::npos) h.cache_control = kImmutable;
  return h;
}

Status check_s3_output(const S3Output& out, int64_t job_id, bool overwrite, const std::string& own_folder) {
  const std::string prefix = out.key + "/";
  auto listed = out.client->list(prefix, 1000);
  if (!listed) return listed.status();
  std::vector<std::string> there;
  bool has_result = false;
  for (const auto& o : *listed) {
    std::string rel = o.key.substr(prefix.size());
    if (!own_folder.empty() && first_component(rel) == own_folder && rel.find('/') != std::string::npos) continue;
    has_result = has_result || rel == kResultJson;
    there.push_back(std::move(rel));
  }
  if (there.empty()) return Status::ok();
  if (job_id == 0) {
    if (overwrite) return Status::ok();
    return Status(Code::kOutputExists, fmt::format("output '{}' already holds objects ('{}'...); pass --overwrite to "
                                                   "replace them",
                                                   out.url, there.front()));
  }
  if (has_result) {
    auto text = out.client->get(prefix + kResultJson);
    if (!text) return text.status();
    auto owner = parse_output_owner(*text);
    if (owner && owner->job_id == job_id) return Status::ok();
    return Status(Code::kOutputExists,
                  owner ? fmt::format("output '{}' holds job {}'s published output; refusing to replace it", out.url,
                                      owner->job_id)
                        : fmt::format("output '{}' holds a result.json that is not a Kiln job's; refusing to replace it",
                                      out.url));
  }
  for (const auto& rel : there) {
    const bool attempt_object = attempt_of(first_component(rel)) >= 0 && rel.find('/') != std::string::npos;
    if (!attempt_object && rel != package::kHlsMaster && rel != package::kDashManifest)
      return Status(Code::kOutputExists, fmt::format("output '{}' holds objects that are not this job's ('{}'); "
                                                     "refusing to replace them: remove them or name another output",
                                                     out.url, rel));
  }
  return Status::ok();
}

Status publish_to_s3(const std::string& local_dir, const S3Output& out, const S3PublishOptions& options) {
  if (!out.client || options.folder.empty() || out.key.empty())
    return Status(Code::kInternal, "publish_to_s3: no client, folder or output key");
  return Publisher(local_dir, out, options).run();
}

}  // namespace kiln::pipeline
