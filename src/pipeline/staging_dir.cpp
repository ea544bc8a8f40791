#include "pipeline/staging_dir.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>

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
}  // namespace

Result<StagingDir> StagingDir::create(const std::string& final_dir, bool overwrite) {
  fs::path final_path = normalized(final_dir);
  std::error_code ec;
  if (fs::exists(final_path, ec) && !overwrite)
    return Status(Code::kOutputExists,
                  fmt::format("output '{}' already exists; pass --overwrite to replace it",
                              final_path.string()));
  fs::create_directories(final_path.parent_path(), ec);
  if (ec)
    return Status(Code::kIo, fmt::format("cannot create '{}': {}",
                                         final_path.parent_path().string(), ec.message()));
  StagingDir s;
  s.final_ = final_path.string();
  s.overwrite_ = overwrite;
  s.path_ = (final_path.parent_path() /
             fmt::format(".{}.kiln-staging-{}", final_path.filename().string(), random_suffix()))
                .string();
  if (!fs::create_directory(s.path_, ec) || ec)
    return Status(Code::kIo, fmt::format("cannot create staging directory '{}': {}", s.path_,
                                         ec ? ec.message() : "already exists"));
  return s;
}

int StagingDir::remove_stale(const std::string& final_dir) {
  fs::path final_path = normalized(final_dir);
  std::string prefix = fmt::format(".{}.kiln-staging-", final_path.filename().string());
  std::error_code ec;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(final_path.parent_path(), ec)) {
    if (e.path().filename().string().rfind(prefix, 0) != 0) continue;
    fs::remove_all(e.path(), ec);
    if (!ec) ++removed;
  }
  return removed;
}

StagingDir::StagingDir(StagingDir&& other) noexcept
    : path_(std::move(other.path_)),
      final_(std::move(other.final_)),
      overwrite_(other.overwrite_),
      published_(other.published_) {
  other.path_.clear();
}

StagingDir::~StagingDir() {
  if (published_ || path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
  if (ec) spdlog::warn("could not remove staging directory '{}': {}", path_, ec.message());
}

Status StagingDir::publish() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(final_, ec)) {
    if (!overwrite_)
      return {Code::kOutputExists, fmt::format("output '{}' appeared while the job ran", final_)};
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
  if (!old.empty()) fs::remove_all(old, ec);
  return Status::ok();
}

}  // namespace kiln::pipeline
