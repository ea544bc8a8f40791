#include "pipeline/staging_dir.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>

#include "pipeline/result_json.hpp"

namespace kiln::pipeline {
namespace fs = std::filesystem;

namespace {
std::string random_suffix() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}
fs::path normalized(const std::string& dir) {
  fs::path p = fs::absolute(fs::path(dir)).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  return p;
}

/// Every unpublished staging directory of this process (see remove_unpublished).
struct LiveDirs {
  std::mutex mu;
  std::set<std::string> paths;
};
LiveDirs& live_dirs() {
  static LiveDirs dirs;
  return dirs;
}
void track(const std::string& path, bool live) {
  LiveDirs& d = live_dirs();
  std::lock_guard lock(d.mu);
  if (live) d.paths.insert(path);
  else d.paths.erase(path);
}

std::string staging_prefix(const fs::path& final_path) {
  return fmt::format(".{}.kiln-staging-", final_path.filename().string());
}

Status sync_path(const fs::path& p, bool directory) {
  int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);  // owned here
  if (fd < 0) return {Code::kIo, fmt::format("cannot open '{}' to sync it: {}", p.string(), std::strerror(errno))};
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return {Code::kIo, fmt::format("cannot sync '{}' to disk: {}", p.string(), std::strerror(err))};
  return Status::ok();
}
}  // namespace

Status sync_tree(const std::string& root) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const bool dir = it->is_directory(ec);
    if (dir || it->is_regular_file(ec)) KILN_RETURN_IF_ERROR(sync_path(it->path(), dir));
  }
  if (ec) return {Code::kIo, fmt::format("cannot walk '{}' to sync it: {}", root, ec.message())};
  return sync_path(root, true);
}

Result<StagingDir> StagingDir::create(const std::string& final_dir, Owner owner, bool overwrite) {
  fs::path final_path = normalized(final_dir);
  std::error_code ec;
  StagingDir s;
  s.final_ = final_path.string();
  s.owner_ = owner;
  s.overwrite_ = overwrite;
  KILN_RETURN_IF_ERROR(s.may_replace());
  fs::create_directories(final_path.parent_path(), ec);
  if (ec)
    return Status(Code::kIo, fmt::format("cannot create '{}': {}",
                                         final_path.parent_path().string(), ec.message()));
  std::string suffix = owner.job_id > 0
                           ? fmt::format("j{}-a{}-{}", owner.job_id, owner.attempt, random_suffix())
                           : random_suffix();
  s.path_ = (final_path.parent_path() / (staging_prefix(final_path) + suffix)).string();
  if (!fs::create_directory(s.path_, ec) || ec) {
    std::string why = ec ? ec.message() : "already exists";
    s.path_.clear();
    return Status(Code::kIo, fmt::format("cannot create staging directory beside '{}': {}", s.final_, why));
  }
  track(s.path_, true);
  return s;
}

Status StagingDir::may_replace() const {
  std::error_code ec;
  if (!fs::exists(final_, ec)) return Status::ok();
  if (owner_.job_id > 0) {  // a job never overwrites: only its own earlier attempt's output goes
    auto existing = output_owner(final_);
    if (existing && existing->job_id == owner_.job_id) return Status::ok();  // an earlier attempt's
    return {Code::kOutputExists,
            fmt::format("output '{}' already exists and is not this job's (job {}); refusing to replace it",
                        final_, owner_.job_id)};
  }
  if (overwrite_) return Status::ok();
  return {Code::kOutputExists,
          fmt::format("output '{}' already exists; pass --overwrite to replace it", final_)};
}

int StagingDir::remove_stale(const std::string& final_dir, int64_t job_id, int attempt) {
  if (job_id <= 0) return 0;
  fs::path final_path = normalized(final_dir);
  std::string prefix = staging_prefix(final_path) + fmt::format("j{}-a", job_id);
  std::error_code ec;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(final_path.parent_path(), ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    int earlier = std::atoi(name.c_str() + prefix.size());  // "<attempt>-<random>"
    if (earlier <= 0 || earlier >= attempt) continue;
    std::error_code rm;
    fs::remove_all(e.path(), rm);
    if (!rm) ++removed;
  }
  return removed;
}

StagingDir::StagingDir(StagingDir&& other) noexcept
    : path_(std::move(other.path_)),
      final_(std::move(other.final_)),
      owner_(other.owner_),
      overwrite_(other.overwrite_),
      published_(other.published_) {
  other.path_.clear();
}

void StagingDir::remove_unpublished() {
  LiveDirs& d = live_dirs();
  std::lock_guard lock(d.mu);
  for (const auto& p : d.paths) {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
  d.paths.clear();
}

StagingDir::~StagingDir() {
  if (published_ || path_.empty()) return;
  track(path_, false);
  std::error_code ec;
  fs::remove_all(path_, ec);
  if (ec) spdlog::warn("could not remove staging directory '{}': {}", path_, ec.message());
}

Status StagingDir::publish() {
  // Data first: a rename that reaches the disk before the files would publish empty files
  // after a power cut.
  KILN_RETURN_IF_ERROR(sync_tree(path_));
  std::error_code ec;
  fs::path old;
  if (fs::exists(final_, ec)) {
    if (Status st = may_replace(); !st.is_ok())
      return {Code::kOutputExists, fmt::format("output '{}' appeared while the job ran and is not this job's", final_)};
    old = fs::path(final_).parent_path() /
          fmt::format(".{}.kiln-old-{}", fs::path(final_).filename().string(), random_suffix());
    fs::rename(final_, old, ec);
    if (ec) return {Code::kIo, fmt::format("cannot move old output '{}' aside: {}", final_, ec.message())};
  }
  fs::rename(path_, final_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, final_, ec);  // put the old output back
    return {Code::kIo, fmt::format("cannot publish '{}': {}", final_, ec.message())};
  }
  published_ = true;
  track(path_, false);
  if (!old.empty()) fs::remove_all(old, ec);
  return sync_path(fs::path(final_).parent_path(), true);  // the rename itself
}

}  // namespace kiln::pipeline
