#include "pipeline/scratch.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>

#include "image/image_sniff.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"

namespace kiln::pipeline {
namespace fs = std::filesystem;

namespace {

/// Every scratch space of this process (see remove_all_live).
struct LiveSpaces {
  std::mutex mu;
  std::set<std::string> paths;
};
LiveSpaces& live_spaces() {
  static LiveSpaces spaces;
  return spaces;
}
void track(const std::string& path, bool live) {
  LiveSpaces& l = live_spaces();
  std::lock_guard lock(l.mu);
  if (live) l.paths.insert(path);
  else l.paths.erase(path);
}

std::string mib(int64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

/// "input.mp4" for ".../clip.MP4": the extension helps a demuxer that probes by name; anything
/// long or odd is dropped (the key is the submitter's, the file name is ours).
std::string staged_name(const std::string& key) {
  std::string base = key.substr(key.rfind('/') + 1);
  size_t dot = base.rfind('.');
  if (dot == std::string::npos || dot == 0 || base.size() - dot > 9) return "input";
  std::string ext = base.substr(dot);
  for (size_t i = 1; i < ext.size(); ++i)
    if (!std::isalnum(static_cast<unsigned char>(ext[i]))) return "input";
  return "input" + ext;
}

}  // namespace

std::string default_scratch_root() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

std::string ScratchSpace::name_for(int64_t job_id, int attempt) { return fmt::format("kiln-j{}-a{}", job_id, attempt); }

Result<ScratchSpace> ScratchSpace::create(const std::string& root, int64_t job_id, int attempt) {
  const std::string where = root.empty() ? default_scratch_root() : root;
  std::error_code ec;
  fs::create_directories(where, ec);
  if (ec)
    return Status(Code::kIo, fmt::format("cannot create the scratch directory '{}': {} (set [node] scratch_dir, or "
                                         "--scratch-dir / $TMPDIR for kiln transcode)",
                                         where, ec.message()));
  std::string name = job_id > 0 ? name_for(job_id, attempt) : fmt::format("kiln-{:08x}", std::random_device{}());
  ScratchSpace s;
  s.path_ = (fs::path(where) / name).string();
  if (job_id > 0) fs::remove_all(s.path_, ec);  // a killed worker's, of this very attempt
  if (!fs::create_directory(s.path_, ec) || ec) {
    std::string why = ec ? ec.message() : "it already exists";
    s.path_.clear();
    return Status(Code::kIo, fmt::format("cannot create a scratch directory in '{}': {}", where, why));
  }
  track(s.path_, true);
  return s;
}

bool ScratchSpace::remove_left_over(const std::string& root, int64_t job_id, int attempt) {
  if (root.empty() || job_id <= 0) return false;
  std::error_code ec;
  return fs::remove_all(fs::path(root) / name_for(job_id, attempt), ec) > 0 && !ec;
}

void ScratchSpace::remove_all_live() {
  LiveSpaces& l = live_spaces();
  std::lock_guard lock(l.mu);
  for (const auto& p : l.paths) {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
  l.paths.clear();
}

ScratchSpace::~ScratchSpace() {
  if (path_.empty()) return;
  track(path_, false);
  std::error_code ec;
  fs::remove_all(path_, ec);
  if (ec) logger("pipeline")->warn("could not remove scratch directory '{}': {}", path_, ec.message());
}

int64_t free_bytes(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

namespace {

/// The object's size from its HEAD: kInputMissing / kInputEmpty naming `url`, else the client's code.
Result<int64_t> input_size(const storage::s3::S3Client& client, const std::string& url, const std::string& key) {
  auto head = client.head(key);
  if (!head) {
    if (head.status().code() == Code::kInputMissing)
      return Status(Code::kInputMissing, fmt::format("input '{}' does not exist ({})", url, head.status().message()));
    return head.status();
  }
  const int64_t size = static_cast<int64_t>(head->size);
  if (size == 0) return Status(Code::kInputEmpty, fmt::format("input '{}' is an empty object", url));
  return size;
}

Result<std::string> stage_sized(const storage::s3::S3Client& client, const std::string& url, const std::string& key,
                                int64_t size, const std::string& dir, const std::atomic<bool>* cancel) {
  auto log = logger("pipeline");
  const int64_t free = free_bytes(dir);
  if (free >= 0 && free < size)
    return Status(Code::kIo, fmt::format("no room to stage input '{}' ({}) in scratch directory '{}': {} free. Free "
                                         "space there, or point [node] scratch_dir (kiln transcode: --scratch-dir or "
                                         "$TMPDIR) at a larger filesystem",
                                         url, mib(size), dir, mib(free)));
  const std::string path = (fs::path(dir) / staged_name(key)).string();
  log->info("staging input {} ({}) in {}", url, mib(size), dir);
  auto got = client.download_to_file(key, path, cancel);
  if (!got) {
    const Status& st = got.status();
    if (st.code() == Code::kIo)
      return Status(Code::kIo, fmt::format("staging input '{}' in scratch directory '{}' failed: {}; nothing of it is "
                                           "left there",
                                           url, dir, st.message()));
    return st;
  }
  return path;
}

/// Why an input is streamed ("" when it is staged), by the location's mode and the room left.
std::string stream_reason(storage::Location::StreamInput mode, int64_t size, int64_t free) {
  using M = storage::Location::StreamInput;
  if (mode == M::kAlways) return "always";
  if (mode == M::kAuto && free >= 0 && free < size) return "no_room";
  return "";
}

}  // namespace

Result<std::string> stage_input(const storage::s3::S3Client& client, const std::string& url, const std::string& key,
                                const std::string& dir, const std::atomic<bool>* cancel) {
  auto size = input_size(client, url, key);
  if (!size) return size.status();
  return stage_sized(client, url, key, *size, dir, cancel);
}

Result<InputSource> open_input_object(const storage::s3::S3Client& client, const std::string& url,
                                      const std::string& key, storage::Location::StreamInput mode,
                                      const std::string& dir, const std::function<void()>& on_staging,
                                      const std::atomic<bool>* cancel) {
  auto log = logger("pipeline");
  auto size = input_size(client, url, key);
  if (!size) return size.status();
  const int64_t free = free_bytes(dir);
  std::string reason = stream_reason(mode, *size, free);
  if (!reason.empty()) {
    // libvips reads images from files, and an image the scratch disk cannot hold is past any
    // pixel limit anyway: only what the probe will open is streamed.
    auto head = client.get(key, storage::s3::ByteRange{0, image::kSniffBytes - 1});
    if (!head || image::sniff_image_bytes(*head)) {
      log->info("input {} is {}: staged, not streamed", url, head ? "an image" : "unreadable at its start");
      reason.clear();
    }
  }
  if (reason.empty()) {
    if (on_staging) on_staging();
    auto staged = stage_sized(client, url, key, *size, dir, cancel);
    if (!staged) return staged.status();
    return InputSource{std::move(staged).value(), std::nullopt};
  }
  // Streaming for want of room is a degraded mode (the decode waits on the network): a warning.
  log->log(reason == "always" ? spdlog::level::info : spdlog::level::warn,
           "streaming input {} ({}) through a presigned URL, not staged: {}", url, mib(*size),
           reason == "always" ? "its location has stream_input = \"always\""
                              : fmt::format("the scratch directory '{}' has {} free", dir, mib(free)));
  metrics::default_registry()
      .counter("kiln_inputs_streamed_total",
               "Object-store inputs read through a presigned URL instead of staged, by why: the location "
               "always streams, or (stream_input = \"auto\") the scratch directory had no room.",
               {"reason"})
      .counter({reason})
      .inc();
  return InputSource{client.presign_get(key, std::chrono::seconds(kStreamUrlSeconds)),
                     media::RemoteInput{url, *size}};
}

}  // namespace kiln::pipeline
